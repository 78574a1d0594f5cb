import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../main.js';
import { E2E_ADMIN_TOKEN, e2eClient, startE2eServer } from '../../test-support/e2e.js';
import { startFakeControlPlane, type FakeControlPlane } from '../../test-support/fake-control-plane.js';
import { isAlive } from '../../test-support/proc.js';
import { filesClient, filesRoundTrip } from '../../files/e2e.suite.js';
import { pluginsClient, pluginsRoundTrip } from '../../plugins/e2e.suite.js';
import { terminalEndToEnd, terminalOfStopped } from '../../terminal/e2e.suite.js';
import { openTerminal } from '../../test-support/terminal.js';

// The whole flow on MOLECULE_PROVISIONER=controlplane: the platform talks HTTP to a local control
// plane that runs the real molecule-agent (packages/runtime/dist, built by `npm test`). Create from
// templates/echo, the agent registers and answers A2A, its instance dies under the platform and the
// health sweep brings it back through the control plane, and delete terminates it there.
describe('control-plane backend end to end', () => {
  let server: RunningServer;
  let cp: FakeControlPlane;
  const token = 'e2e-cp-shared-secret-0123456789';
  const c = e2eClient(() => server);

  beforeAll(async () => {
    cp = await startFakeControlPlane({ agents: 'process', token });
    const started = await startE2eServer({ MOLECULE_PROVISIONER: 'controlplane', CP_URL: cp.url, MOLECULE_CP_SHARED_SECRET: token }, 'molecule-cp-e2e-');
    expect(started.warnings).toEqual([]);
    server = started.server;
  });
  afterAll(async () => {
    await server?.close();
    await cp?.close();
  });

  it('creates from the echo template, comes online, answers, recovers from a dead instance, and is terminated on delete', async () => {
    const id = await c.create('cp-e2e-echo', 'echo');
    await c.waitOnline(id, 30_000);
    const first = cp.instances.get(id)!;
    expect((await c.get(id)).instance_id).toBe(first.instanceId);
    expect(await c.sendDirect(String((await c.get(id)).url), 'hi')).toBe('echo: hi');

    await cp.kill(id);
    await c.waitNoticedDead(id, 10_000);
    await c.waitOnline(id, 30_000);
    const second = cp.instances.get(id)!;
    expect(second.instanceId).not.toBe(first.instanceId);
    expect((await c.get(id)).instance_id).toBe(second.instanceId);
    expect(cp.requests.filter((r) => r.route === 'terminate').map((r) => r.path)).toEqual([`/cp/workspaces/${id}?instance_id=${first.instanceId}`]);
    expect(await c.sendDirect(String((await c.get(id)).url), 'again')).toBe('echo: again');

    expect(await c.remove(id)).toBe(200);
    expect(cp.instances.get(id)!.state).toBe('terminated');
    await expect.poll(() => isAlive(second.pid!)).toBe(false);
    expect(cp.requests.every((r) => r.authorization === `Bearer ${token}`)).toBe(true);
  }, 120_000); // real processes on a loaded 2-core CI machine

  it('C080 the Files API and plugins reach a control-plane instance through its own agent: list, read, write, delete, traversal refused; clock installed and hot-loaded', async () => {
    const id = await c.create('cp-e2e-files', 'echo');
    await c.waitOnline(id, 30_000);
    const f = filesClient(() => server.url, c.admin);
    await filesRoundTrip(f, id, { pluginsRoot: false });
    expect((await f.remove(id, '/workspace/notes/hello.txt')).status).toBe(200);
    expect((await f.read(id, '/workspace/notes/hello.txt')).status).toBe(404);
    expect((await f.remove(id, '/configs/skills')).status).toBe(200);
    expect((await f.remove(id, '/configs/skills')).status).toBe(404);
    // The agent's credentials are neither listed nor served.
    expect((await f.tree(id, 'root=/configs')).body.entries.some((e) => /auth_token|inbound_secret/.test(e.path))).toBe(false);
    await pluginsRoundTrip(pluginsClient(() => server), id);
    expect(await c.remove(id)).toBe(200);
  }, 120_000);

  it("C228 the terminal reaches a control-plane instance through its own agent: echo, Ctrl-C, resize, exit; diagnose all ok; none of the platform's or the agent's secrets in the shell; 503 once paused", async () => {
    const id = await c.create('cp-e2e-terminal', 'echo');
    await c.waitOnline(id, 30_000);
    await terminalEndToEnd(server, c.admin, id, ['agent-running', 'agent-reachable', 'pty-probe']);

    const term = await openTerminal(server.url, id, { authorization: c.admin.authorization });
    term.type('pwd; env; echo env-"done"\r');
    await term.waitFor(/[\r\n]env-done\r\n/);
    const out = term.output();
    expect(out).toContain(`WORKSPACE_ID=${id}`);
    expect(out).toMatch(/[\r\n]MOLECULE_WORKSPACE_DIR=\/\S+\/workspace\r\n/);
    const { secret } = await server.deps.inboundSecrets.readOrHeal(id);
    const agentToken = (cp.instances.get(id)!.spec.secret_files as Record<string, string>)['.auth_token']!;
    for (const s of [secret, agentToken, E2E_ADMIN_TOKEN, token]) expect(out).not.toContain(s);
    expect(out).not.toMatch(/PLATFORM_URL|MOLECULE_WORKSPACE_TOKEN|ADMIN_TOKEN|CP_URL/);
    await term.close();

    expect((await fetch(`${server.url}/workspaces/${id}/pause`, { method: 'POST', headers: c.admin })).status).toBe(200);
    await expect.poll(async () => (await c.get(id)).status, { timeout: 30_000 }).toBe('paused');
    await terminalOfStopped(server, c.admin, id, 'agent-running');
    expect(await c.remove(id)).toBe(200);
  }, 120_000);
});
