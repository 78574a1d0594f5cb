import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { createWs } from '../test-support/api.js';
import { fakeProvisioner } from '../test-support/fake-provisioner.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { getWorkspace, setStatus } from '../workspaces/repo.js';
import { agentExitHandler } from './index.js';

describe('a local agent exiting on its own', () => {
  let t: TestApp;
  beforeAll(async () => {
    const fake = fakeProvisioner();
    t = await startTestApp({ config: { provisioner: 'docker' }, tweak: (deps) => void (deps.provisioner = fake.prov) });
  });
  afterAll(async () => t.close());

  const provisioningWs = async (name: string, lastBeat: Date | null) => {
    const ws = await createWs(t, { name });
    await expect.poll(async () => (await getWorkspace(t.db, ws.id))!.instance_id).not.toBeNull();
    await setStatus(t.db, ws.id, Status.Provisioning);
    await t.db.query('UPDATE workspaces SET last_heartbeat_at = $2 WHERE id = $1', [ws.id, lastBeat]);
    return ws;
  };

  it('before it ever registered: the workspace fails at once with the exit code', async () => {
    const ws = await provisioningWs('x-crash', null);
    await agentExitHandler(t.deps)(ws.id, 2, null, new Date());
    expect((await getWorkspace(t.db, ws.id))!.status).toBe(Status.Failed);
    expect((await getWorkspace(t.db, ws.id))!.last_sample_error).toMatch(/exited before it registered \(exit code 2\)/);
  });

  it('after it had registered (killed while a restart is under way): left to the health sweep', async () => {
    const spawned = new Date(Date.now() - 60_000);
    const ws = await provisioningWs('x-killed', new Date(Date.now() - 30_000));
    await agentExitHandler(t.deps)(ws.id, null, 'SIGKILL', spawned);
    expect((await getWorkspace(t.db, ws.id))!.status).toBe(Status.Provisioning);
  });
});
