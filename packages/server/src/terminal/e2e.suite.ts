import { expect } from 'vitest';
import type { TerminalDiagnosis } from '@molecule/contracts';
import type { RunningServer } from '../main.js';
import { openTerminal, terminalRefusal, terminalRoundTrip } from '../test-support/terminal.js';

/** The admin's bearer (the e2e client's headers minus the JSON content type). */
const authOnly = (admin: Record<string, string>) => ({ authorization: admin.authorization! });

/**
 * What every backend's terminal must do for a running echo agent, end to end: a shell whose typed
 * `echo hi` answers `hi`, Ctrl-C, a resize `stty size` sees (when the image has stty), the exit
 * frame; and a diagnose whose steps all pass.
 */
export async function terminalEndToEnd(server: RunningServer, admin: Record<string, string>, id: string, steps: string[]): Promise<void> {
  const term = await openTerminal(server.url, id, authOnly(admin));
  await terminalRoundTrip(term, { stty: true });
  const d = await fetch(`${server.url}/workspaces/${id}/terminal/diagnose`, { headers: authOnly(admin) });
  expect(d.status).toBe(200);
  const body = (await d.json()) as TerminalDiagnosis;
  expect(body.steps.map((s) => [s.name, s.ok, s.error])).toEqual(steps.map((s) => [s, true, undefined]));
  expect(body.first_failure).toBeUndefined();
}

/** A stopped agent: 503 `workspace not running` before the upgrade, and diagnose names the broken step. */
export async function terminalOfStopped(server: RunningServer, admin: Record<string, string>, id: string, failing: string): Promise<void> {
  // The status flips to paused before the backend has finished stopping the agent.
  await expect
    .poll(async () => {
      const r = await terminalRefusal(server.url, id, authOnly(admin)).catch((err: unknown) => ({ status: 101, body: { error: String(err) } }));
      return [r.status, r.body.error];
    })
    .toEqual([503, 'workspace not running']);
  const d = (await (await fetch(`${server.url}/workspaces/${id}/terminal/diagnose`, { headers: authOnly(admin) })).json()) as TerminalDiagnosis;
  expect(d.first_failure).toBe(failing);
}
