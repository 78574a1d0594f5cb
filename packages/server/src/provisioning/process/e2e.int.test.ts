import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { loadConfig } from '../../config.js';
import { createLogger } from '../../log.js';
import { healthSweep, RestartBackoff } from '../../loops/sweeps.js';
import { startServer, type RunningServer } from '../../server.js';
import { isAlive } from '../../test-support/proc.js';

// The whole flow with the real molecule-agent (packages/runtime/dist, built by `npm test`): create
// from templates/echo, the agent registers and goes online, answers A2A, is restarted after it is
// killed, and is stopped by delete.
describe('process backend end to end', () => {
  let server: RunningServer;
  const admin = { authorization: 'Bearer e2e-admin-token-0123456789', 'content-type': 'application/json' };

  beforeAll(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-e2e-'));
    const { config } = loadConfig({ PORT: '0', MOLECULE_DATA_DIR: dir, ADMIN_TOKEN: admin.authorization.slice(7), MOLECULE_PROVISIONER: 'process' });
    server = await startServer(config, [], createLogger({ level: 'silent', pretty: false }));
  });
  afterAll(async () => server?.close());

  const get = async (id: string) => (await fetch(`${server.url}/workspaces/${id}`, { headers: admin })).json() as Promise<Record<string, unknown>>;
  const pidOf = async (id: string) => Number(String((await get(id)).instance_id).split(':')[1]);
  const send = async (url: string, text: string) => {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } } }),
    });
    return (await r.json()) as { result?: { status?: { message?: { parts?: { text?: string }[] } }; parts?: { text?: string }[] } };
  };
  const replyText = (r: Awaited<ReturnType<typeof send>>) => r.result?.status?.message?.parts?.[0]?.text ?? r.result?.parts?.[0]?.text;

  it('creates from the echo template, comes online, answers, recovers from a kill, and stops on delete', async () => {
    const created = await fetch(`${server.url}/workspaces`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'e2e-echo', template: 'echo' }) });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    await expect.poll(async () => (await get(id)).status, { timeout: 30_000, interval: 100 }).toBe(Status.Online);
    const url = String((await get(id)).url);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
    expect(replyText(await send(url, 'hi'))).toBe('echo: hi');

    const firstPid = await pidOf(id);
    process.kill(-firstPid, 'SIGKILL');
    await expect.poll(async () => {
      await healthSweep(server.deps, server.deps.db, new RestartBackoff());
      return (await get(id)).status;
    }, { timeout: 10_000, interval: 200 }).not.toBe(Status.Online);
    await expect.poll(async () => (await get(id)).status, { timeout: 30_000, interval: 100 }).toBe(Status.Online);
    expect(await pidOf(id)).not.toBe(firstPid);
    const newUrl = String((await get(id)).url);
    expect(replyText(await send(newUrl, 'again'))).toBe('echo: again');

    const secondPid = await pidOf(id);
    expect((await fetch(`${server.url}/workspaces/${id}`, { method: 'DELETE', headers: { authorization: admin.authorization } })).status).toBe(200);
    await expect.poll(() => isAlive(secondPid)).toBe(false);
  }, 120_000); // real processes on a loaded 2-core CI machine
});
