import { EXTERNAL_RUNTIME, type TerminalDiagnosis } from '@molecule/contracts';
import type { AppDeps } from '../deps.js';
import { conflict, DomainError, unprocessable } from '../errors.js';
import { agentState } from '../provisioning/running.js';
import type { WorkspaceTerminal } from '../provisioning/terminal.js';
import type { WorkspaceRow } from '../workspaces/read.js';

export type TerminalDeps = Pick<AppDeps, 'provisioner' | 'log'>;

/** How long the whole diagnose may take. */
const DIAGNOSE_TIMEOUT_MS = 60_000;

export const NOT_SUPPORTED = 'terminal not supported on this backend';
export const EXTERNAL_REFUSED = "an external workspace runs where its operator runs it: the platform has no shell there";
export const NO_BACKEND = 'no backend runs workspaces on this platform (MOLECULE_PROVISIONER=none): there is no shell to open';
export const NOT_RUNNING = 'workspace not running';
export const UNKNOWN_STATE = "could not tell whether the workspace's agent runs (its backend did not answer); retry";

/**
 * The terminal of a workspace, checked before the WebSocket upgrade so every refusal is plain HTTP:
 * external 422, no backend 503, a backend without a terminal port 501 (every built-in backend has
 * one: process, Docker, and the control plane through the agent), an agent that is not running 503
 * `workspace not running`, one whose state cannot be told 503 (a different message, logged).
 */
export async function terminalFor(deps: TerminalDeps, ws: WorkspaceRow): Promise<WorkspaceTerminal> {
  const state = await agentState(deps, ws);
  if (state.state === 'external') throw unprocessable(EXTERNAL_REFUSED);
  if (state.state === 'no_backend') throw new DomainError('agent_unavailable', NO_BACKEND);
  const terminal = deps.provisioner?.terminal;
  if (!terminal) throw new DomainError('not_supported', NOT_SUPPORTED);
  if (state.state === 'stopped') throw new DomainError('agent_unavailable', NOT_RUNNING);
  if (state.state === 'unknown') {
    // Fail-closed: a shell is opened only in an agent the backend says runs.
    deps.log.warn({ workspace_id: ws.id, err: state.error }, 'terminal: could not tell whether the agent runs; refused');
    throw new DomainError('agent_unavailable', UNKNOWN_STATE);
  }
  return terminal;
}

/** `GET /workspaces/:id/terminal/diagnose` (C228, C230): every stage's outcome; never a non-200 for a broken stage. */
export async function diagnoseTerminal(deps: TerminalDeps, ws: WorkspaceRow): Promise<TerminalDiagnosis> {
  const backend = ws.runtime === EXTERNAL_RUNTIME ? 'external' : (deps.provisioner?.backend ?? 'none');
  const refused = (error: string) => [{ name: 'backend', ok: false, duration_ms: 0, error }];
  const terminal = deps.provisioner?.terminal;
  const steps =
    backend === 'external'
      ? refused(EXTERNAL_REFUSED)
      : !deps.provisioner
        ? refused(NO_BACKEND)
        : !terminal
          ? refused(NOT_SUPPORTED)
          : await terminal.diagnose(ws, () => agentState(deps, ws), AbortSignal.timeout(DIAGNOSE_TIMEOUT_MS));
  const failed = steps.find((s) => !s.ok);
  if (failed) deps.log.info({ workspace_id: ws.id, step: failed.name, error: failed.error }, 'terminal diagnose: a step failed');
  return { workspace_id: ws.id, backend, steps, ...(failed ? { first_failure: failed.name } : {}) };
}

/**
 * Open terminals by credential: one at a time each (a second gets 409 before the upgrade). In
 * memory, per server process: behind a load balancer each replica counts its own.
 */
export class TerminalSessions {
  private readonly held = new Map<string, symbol>();

  /** Takes the credential's slot; the returned release is idempotent and frees only this claim. */
  claim(credential: string): () => void {
    if (this.held.has(credential)) throw conflict('a terminal is already open with this credential: close it first (one terminal per credential)');
    const mine = Symbol(credential);
    this.held.set(credential, mine);
    return () => {
      if (this.held.get(credential) === mine) this.held.delete(credential);
    };
  }

  get size(): number {
    return this.held.size;
  }
}
