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
import { startFakeControlPlane, type FakeControlPlane } from '../../test-support/fake-control-plane.js';
import { isAlive } from '../../test-support/proc.js';

// The whole flow on MOLECULE_PROVISIONER=controlplane: the platform talks HTTP to a local control
// plane that runs the real molecule-agent (packages/runtime/dist, built by `npm test`). Create from
// templates/echo, the agent registers and answers A2A, its instance dies under the platform and the
// health sweep brings it back through the control plane, and delete terminates it there.
describe('control-plane backend end to end', () => {
  let server: RunningServer;
  let cp: FakeControlPlane;
  const token = 'e2e-cp-shared-secret-0123456789';
  const admin = { authorization: 'Bearer e2e-admin-token-0123456789', 'content-type': 'application/json' };

  beforeAll(async () => {
    cp = await startFakeControlPlane({ agents: 'process', token });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-cp-e2e-'));
    const { config, warnings } = loadConfig({
      PORT: '0',
      MOLECULE_DATA_DIR: dir,
      ADMIN_TOKEN: admin.authorization.slice(7),
      MOLECULE_PROVISIONER: 'controlplane',
      CP_URL: cp.url,
      MOLECULE_CP_SHARED_SECRET: token,
    });
    expect(warnings).toEqual([]);
    server = await startServer(config, [], createLogger({ level: 'silent', pretty: false }));
  });
  afterAll(async () => {
    await server?.close();
    await cp?.close();
  });

  const get = async (id: string) => (await fetch(`${server.url}/workspaces/${id}`, { headers: admin })).json() as Promise<Record<string, unknown>>;
  const send = async (url: string, text: string) => {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } } }),
    });
    return (await r.json()) as { result?: { status?: { message?: { parts?: { text?: string }[] } }; parts?: { text?: string }[] } };
  };
  const replyText = (r: Awaited<ReturnType<typeof send>>) => r.result?.status?.message?.parts?.[0]?.text ?? r.result?.parts?.[0]?.text;

  it('creates from the echo template, comes online, answers, recovers from a dead instance, and is terminated on delete', async () => {
    const created = await fetch(`${server.url}/workspaces`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'cp-e2e-echo', template: 'echo' }) });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    await expect.poll(async () => (await get(id)).status, { timeout: 30_000, interval: 100 }).toBe(Status.Online);
    const first = cp.instances.get(id)!;
    expect((await get(id)).instance_id).toBe(first.instanceId);
    expect(replyText(await send(String((await get(id)).url), 'hi'))).toBe('echo: hi');

    await cp.kill(id);
    await expect.poll(async () => {
      await healthSweep(server.deps, server.deps.db, new RestartBackoff());
      return (await get(id)).status;
    }, { timeout: 10_000, interval: 200 }).not.toBe(Status.Online);
    await expect.poll(async () => (await get(id)).status, { timeout: 30_000, interval: 100 }).toBe(Status.Online);
    const second = cp.instances.get(id)!;
    expect(second.instanceId).not.toBe(first.instanceId);
    expect((await get(id)).instance_id).toBe(second.instanceId);
    expect(cp.requests.filter((r) => r.route === 'terminate').map((r) => r.path)).toEqual([`/cp/workspaces/${id}?instance_id=${first.instanceId}`]);
    expect(replyText(await send(String((await get(id)).url), 'again'))).toBe('echo: again');

    expect((await fetch(`${server.url}/workspaces/${id}`, { method: 'DELETE', headers: { authorization: admin.authorization } })).status).toBe(200);
    expect(cp.instances.get(id)!.state).toBe('terminated');
    await expect.poll(() => isAlive(second.pid!)).toBe(false);
    expect(cp.requests.every((r) => r.authorization === `Bearer ${token}`)).toBe(true);
  }, 120_000); // real processes on a loaded 2-core CI machine
});
