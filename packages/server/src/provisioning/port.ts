import type { ProvisionerBackend } from '../config.js';
import type { WorkspaceRow } from '../workspaces/repo.js';

/**
 * A backend that runs workspaces (local process, Docker, a control plane). Every call takes an
 * AbortSignal that bounds it; implementations must treat "already stopped" as success so stops are
 * safe to retry (C157).
 */
export interface Provisioner {
  readonly backend: Exclude<ProvisionerBackend, 'none'>;
  start(ws: WorkspaceRow, signal: AbortSignal): Promise<{ instanceId: string; url?: string }>;
  stop(ws: WorkspaceRow, signal: AbortSignal): Promise<void>;
  /** Removes the workspace's persistent volumes; only called after a successful stop (C156). */
  removeVolumes?(ws: WorkspaceRow, signal: AbortSignal): Promise<void>;
}
