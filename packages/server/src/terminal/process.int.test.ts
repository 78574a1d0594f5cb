import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../main.js';
import { e2eClient, startE2eServer } from '../test-support/e2e.js';
import { terminalEndToEnd, terminalOfStopped } from './e2e.suite.js';

// The terminal on the process backend with a real molecule-agent (packages/runtime/dist).
describe('terminal on the process backend, end to end', () => {
  let server: RunningServer;
  const c = e2eClient(() => server);

  beforeAll(async () => {
    ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'process' }));
  });
  afterAll(async () => server?.close());

  it('C228 opens a shell beside a running echo agent (echo hi, Ctrl-C, resize, exit), diagnoses it all ok, and refuses it with 503 once the agent is paused', async () => {
    const id = await c.create('terminal-process', 'echo');
    await c.waitOnline(id, 30_000);
    await terminalEndToEnd(server, c.admin, id, ['workspace-dir', 'agent-running', 'pty-probe']);

    const paused = await fetch(`${server.url}/workspaces/${id}/pause`, { method: 'POST', headers: c.admin });
    expect(paused.status).toBe(200);
    await expect.poll(async () => (await c.get(id)).status, { timeout: 30_000 }).toBe('paused');
    await terminalOfStopped(server, c.admin, id, 'agent-running');
  }, 120_000);
});
