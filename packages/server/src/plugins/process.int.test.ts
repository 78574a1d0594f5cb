import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../main.js';
import { e2eClient, startE2eServer } from '../test-support/e2e.js';
import { pluginsClient, pluginsRoundTrip } from './e2e.suite.js';

// Plugins on the process backend with real molecule-agents (packages/runtime/dist).
describe('plugins on the process backend, end to end', () => {
  let server: RunningServer;
  const c = e2eClient(() => server);
  const p = pluginsClient(() => server);

  beforeAll(async () => {
    ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'process' }, 'molecule-plugins-'));
  });
  afterAll(async () => server?.close());

  it('C186 installs clock into a running echo agent, which answers /time at once (no restart), shows it on its card, and drops it on uninstall', async () => {
    const id = await c.create('plugins-process', 'echo');
    await c.waitOnline(id, 30_000);
    const events = async () => ((await (await fetch(`${server.url}/events/${id}`, { headers: c.admin })).json()) as { type: string }[]).map((e) => e.type);
    await pluginsRoundTrip(p, id);
    // Hot-loaded: the agent was never restarted (one provisioning cycle, the first).
    expect((await events()).filter((e) => e === 'WORKSPACE_PROVISIONING')).toHaveLength(1);
  });

  it('team-ask lets an echo lead hand "/ask worker ..." to its child through the platform, and the answer comes back', async () => {
    const lead = await c.create('plugins-lead', 'echo');
    const created = await fetch(`${server.url}/workspaces`, { method: 'POST', headers: c.admin, body: JSON.stringify({ name: 'worker', template: 'echo', parent_id: lead }) });
    expect(created.status).toBe(201);
    const worker = ((await created.json()) as { id: string }).id;
    await c.waitOnline(lead, 30_000);
    await c.waitOnline(worker, 30_000);
    expect((await p.install(lead, 'team-ask')).body).toMatchObject({ plugin: 'team-ask', applied: 'hot_loaded' });
    expect(await p.say(lead, '/ask worker how are you')).toBe('echo: how are you');
    // An installed plugin survives a restart: the agent loads it at start.
    const restarted = await fetch(`${server.url}/workspaces/${lead}/restart`, { method: 'POST', headers: c.admin });
    expect(restarted.status).toBeLessThan(300);
    await c.waitOnline(lead, 30_000);
    await expect.poll(() => p.say(lead, '/ask worker again'), { timeout: 15_000 }).toBe('echo: again');
  });
});
