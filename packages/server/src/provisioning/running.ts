import { EXTERNAL_RUNTIME } from '@molecule/contracts';
import type { AppDeps } from '../deps.js';
import type { WorkspaceRow } from '../workspaces/read.js';

/** How long one "is it running" question may take before the answer is "could not tell". */
export const RUNNING_CHECK_TIMEOUT_MS = 10_000;

/**
 * Whether a workspace's agent runs, as every caller must see it (C184, C187):
 * - `running`: the backend that runs it says so;
 * - `stopped`: definitively not running (no instance, exited, killed);
 * - `unknown`: the backend could not tell (engine or control plane unreachable, a timeout): transient;
 *   each caller writes down in one line what it does then;
 * - `external`: no backend runs it, its operator does (runtime `external`);
 * - `no_backend`: MOLECULE_PROVISIONER=none, so nothing here runs agents.
 */
export type AgentState =
  | { state: 'running' }
  | { state: 'stopped' }
  | { state: 'unknown'; error: unknown }
  | { state: 'external' }
  | { state: 'no_backend' };

/**
 * The one answer to "is this workspace's agent running?": the health sweep, the stale-token sweep,
 * the dead-agent check after a failed call, and (#13) files, plugins and the terminal all ask here,
 * so the status they act on cannot split. No other module asks a backend itself.
 */
export async function agentState(deps: Pick<AppDeps, 'provisioner'>, ws: WorkspaceRow, signal: AbortSignal = AbortSignal.timeout(RUNNING_CHECK_TIMEOUT_MS)): Promise<AgentState> {
  if (ws.runtime === EXTERNAL_RUNTIME) return { state: 'external' };
  const prov = deps.provisioner;
  if (!prov) return { state: 'no_backend' };
  try {
    return await prov.isRunning(ws, signal);
  } catch (error) {
    // A backend that throws instead of answering `unknown` is still "could not tell", never "stopped".
    return { state: 'unknown', error };
  }
}
