import type { ProvisionerBackend } from '../config.js';
import type { WorkspaceRow } from '../workspaces/read.js';
import type { WorkspaceFiles } from './files.js';
import type { WorkspaceTerminal } from './terminal.js';

/**
 * Whether a workspace's instance runs, with three outcomes (C098, C099): `running`, `stopped`
 * (definitively not running), or `unknown` (the backend could not tell, e.g. a transient daemon
 * error). Callers choose the policy for `unknown`; the health sweep keeps the workspace as it is.
 */
export type RunningState = { state: 'running' } | { state: 'stopped' } | { state: 'unknown'; error: unknown };

/** Everything a backend needs to start one workspace, prepared by the shared pipeline. */
export interface StartSpec {
  workspace: WorkspaceRow;
  /** Environment for the agent: WORKSPACE_ID, PLATFORM_URL, MODEL, PARENT_ID (only when set)... */
  env: Record<string, string>;
  /** Credentials for the agent's configs dir (`/configs` in a container), written on every start. */
  secretFiles: Record<string, string>;
  /**
   * The template's files (relative paths -> contents). Written on a first start, when the configs
   * hold no config.yaml (an emptied volume, C129), or when `applyTemplate` asks for it (C130);
   * otherwise the agent keeps the configs it has, edits included.
   */
  templateFiles: Record<string, string>;
  applyTemplate: boolean;
}

/**
 * How a backend wants the stop that precedes a reprovision (restart, auto-restart) retried, for
 * backends whose stops fail transiently (a remote API). Absent: one attempt.
 */
export interface StopRetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** The wait after the n-th failed attempt (n from 1), before the next one. */
  backoffMs(n: number): number;
}

/**
 * A backend that runs workspaces (local process, Docker, a control plane). Every call takes an
 * AbortSignal that bounds it. `stop` treats "already gone" as success so stops are safe to retry
 * (C103, C157).
 */
export interface Provisioner {
  readonly backend: Exclude<ProvisionerBackend, 'none'>;
  /** Retry policy for the stop before a reprovision (C146); see `StopRetryPolicy`. */
  readonly stopRetry?: StopRetryPolicy;
  /**
   * Whether its agents get the server's own LLM provider settings (AGENT_ENV_PASSTHROUGH, so a
   * template works from `npm start` with the key exported): the pipeline then puts them in
   * `StartSpec.env` under the secrets and counts them as present for a template's required keys.
   * A remote control plane does not: the operator's local keys stay on this machine.
   */
  readonly passesProviderEnv?: boolean;
  /** `imageDigest`: the image digest the instance runs, recorded as workspaces.runtime_image_digest (C135). */
  start(spec: StartSpec, signal: AbortSignal): Promise<{ instanceId: string; url?: string; imageDigest?: string }>;
  stop(ws: WorkspaceRow, signal: AbortSignal): Promise<void>;
  isRunning(ws: WorkspaceRow, signal: AbortSignal): Promise<RunningState>;
  /** Removes the workspace's persistent data; only called after a successful stop (C156). */
  removeVolumes?(ws: WorkspaceRow, signal: AbortSignal): Promise<void>;
  /** The tail of the workspace's logs, for diagnostics. */
  logs?(ws: WorkspaceRow, maxBytes: number): Promise<string>;
  /** Workspace ids of every instance or volume this backend manages, for the orphan sweeper. */
  listManaged?(): Promise<string[]>;
  /** The workspace's files (the Files API); a backend without it answers 501. */
  readonly files?: WorkspaceFiles;
  /** An interactive shell in the workspace (the terminal); a backend without it answers 501. */
  readonly terminal?: WorkspaceTerminal;
}
