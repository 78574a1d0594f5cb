import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../main.js';
import { e2eClient, startE2eServer } from '../../test-support/e2e.js';
import { isAlive } from '../../test-support/proc.js';

// The whole flow with the real molecule-agent (packages/runtime/dist, built by `npm test`): create
// from templates/echo, the agent registers and goes online, answers A2A, is restarted after it is
// killed, and is stopped by delete.
describe('process backend end to end', () => {
  let server: RunningServer;
  const c = e2eClient(() => server);

  beforeAll(async () => {
    ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'process' }));
  });
  afterAll(async () => server?.close());

  const pidOf = async (id: string) => Number(String((await c.get(id)).instance_id).split(':')[1]);

  it('creates from the echo template, comes online, answers, recovers from a kill, and stops on delete', async () => {
    const id = await c.create('e2e-echo', 'echo');
    await c.waitOnline(id, 30_000);
    const url = String((await c.get(id)).url);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
    expect(await c.sendDirect(url, 'hi')).toBe('echo: hi');

    const firstPid = await pidOf(id);
    process.kill(-firstPid, 'SIGKILL');
    await c.waitNoticedDead(id, 10_000);
    await c.waitOnline(id, 30_000);
    expect(await pidOf(id)).not.toBe(firstPid);
    const newUrl = String((await c.get(id)).url);
    expect(await c.sendDirect(newUrl, 'again')).toBe('echo: again');

    const secondPid = await pidOf(id);
    expect(await c.remove(id)).toBe(200);
    await expect.poll(() => isAlive(secondPid)).toBe(false);
  }, 120_000); // real processes on a loaded 2-core CI machine
});
