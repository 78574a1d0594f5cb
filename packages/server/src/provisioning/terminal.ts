import type { TerminalDiagnoseStep } from '@molecule/contracts';
import type { TerminalSession, TerminalSize } from '@molecule/runtime/terminal-socket';
import type { WorkspaceRow } from '../workspaces/read.js';

// The session, its size and the safe-message error are the shared frame protocol's (one copy, in packages/runtime).
export { TerminalError, type TerminalSession, type TerminalSize } from '@molecule/runtime/terminal-socket';

/**
 * The workspace terminal of a backend (#13 part 5), the port beside `WorkspaceFiles`. `open` is only
 * called for an agent `agentState` says runs.
 */
export interface WorkspaceTerminal {
  /** A shell in the workspace (its working dir or container); a refusal is a `TerminalError`. */
  open(ws: WorkspaceRow, size: TerminalSize, signal: AbortSignal): Promise<TerminalSession>;
  /**
   * The terminal pipeline run non-interactively, one step per stage (C228); never throws, a broken
   * stage is a step with `ok: false`. `agentState` is the one "does it run" answer (`agentState` of
   * running.ts, passed in: this port cannot import it without a cycle through the deps).
   */
  diagnose(ws: WorkspaceRow, agentState: () => Promise<{ state: string }>, signal: AbortSignal): Promise<TerminalDiagnoseStep[]>;
}

/** Runs one diagnose stage and times it; a throw is the stage's error (`detail` from `DiagnoseFailure`). */
export async function diagnoseStep(name: string, run: () => Promise<string | void>): Promise<TerminalDiagnoseStep> {
  const t0 = performance.now();
  const took = () => Math.max(0, Math.round(performance.now() - t0));
  try {
    const detail = await run();
    return { name, ok: true, duration_ms: took(), ...(detail ? { detail } : {}) };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    return { name, ok: false, duration_ms: took(), error, ...(err instanceof DiagnoseFailure && err.detail ? { detail: err.detail } : {}) };
  }
}

/** A failed diagnose stage with more to say than its message (the output the probe saw). */
export class DiagnoseFailure extends Error {
  constructor(
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'DiagnoseFailure';
  }
}

/** Steps after the first failed one are not run: each is listed as skipped, so the shape stays the same. */
export async function runSteps(stages: [string, () => Promise<string | void>][]): Promise<TerminalDiagnoseStep[]> {
  const out: TerminalDiagnoseStep[] = [];
  for (const [name, run] of stages) {
    if (out.some((s) => !s.ok)) {
      out.push({ name, ok: false, duration_ms: 0, error: 'skipped: an earlier step failed' });
      continue;
    }
    out.push(await diagnoseStep(name, run));
  }
  return out;
}

/** A marker the probes echo, so the output proves the shell ran (not an echo of the command line). */
export function probeMarker(): { command: string; expect: string } {
  const n = Math.floor(Math.random() * 1e9);
  // The shell joins the two words; the command line itself never holds the joined marker.
  return { command: `echo molecule-probe-"${n}"`, expect: `molecule-probe-${n}` };
}
