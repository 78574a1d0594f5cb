import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { validateWorkspaceToken } from '../auth/repo.js';
import { bearer, createExternal, createWs, deferred, eventsOf } from '../test-support/api.js';
import { onlineWorkspace, startWithFakeBackend, type FakeBackend } from '../test-support/fake-provisioner.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { getWorkspace, setStatus } from './repo.js';
import { RestartCoalescer } from './restart-coalescer.js';

describe('workspace lifecycle', () => {
  let t: TestApp;
  let fake: FakeBackend;
  beforeAll(async () => {
    ({ t, fake } = await startWithFakeBackend());
  });
  afterAll(async () => t.close());

  const post = (id: string, action: string, query = '') =>
    t.app.inject({ method: 'POST', url: `/workspaces/${id}/${action}${query}`, headers: t.admin });
  const status = async (id: string) => (await getWorkspace(t.db, id))!.status;
  const running = (name: string) => onlineWorkspace(t, name);
  const starts = (name: string) => fake.calls.start.filter((n) => n === name).length;

  it('C144 restart answers at once with provisioning, then stops and starts again in that order', async () => {
    const ws = await running('l-restart');
    const gate = deferred();
    fake.gates.set('l-restart', gate.promise);
    const r = await post(ws.id, 'restart');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'provisioning' });
    expect(await status(ws.id)).toBe(Status.Provisioning);
    expect((await eventsOf(t, ws.id)).at(-1)!.event_type).toBe('WORKSPACE_PROVISIONING');
    // The stop is still running: nothing has been started again yet.
    await expect.poll(() => fake.calls.stop.includes('l-restart')).toBe(true);
    expect(starts('l-restart')).toBe(1);
    gate.resolve();
    fake.gates.delete('l-restart');
    await expect.poll(() => starts('l-restart')).toBe(2);
  });

  it('C148 restarts are coalesced: requests during a cycle fold into one more cycle', async () => {
    const ws = await running('l-coalesce');
    const gate = deferred();
    fake.gates.set('l-coalesce', gate.promise);
    expect((await post(ws.id, 'restart')).statusCode).toBe(200);
    await expect.poll(() => fake.calls.stop.filter((n) => n === 'l-coalesce').length).toBe(1);
    for (let i = 0; i < 3; i++) {
      await setStatus(t.db, ws.id, Status.Online);
      expect((await post(ws.id, 'restart')).statusCode).toBe(200);
    }
    fake.gates.delete('l-coalesce');
    gate.resolve();
    await expect.poll(() => starts('l-coalesce')).toBe(3); // the create, the first cycle, one folded cycle
    await expect.poll(() => t.deps.restarts.size).toBe(0);
    expect(starts('l-coalesce')).toBe(3);
  });

  it('C130 restart keeps the agent configs unless apply_template=true asks for the template again', async () => {
    const ws = await running('l-template');
    const lastSpec = () => fake.specs.filter((x) => x.workspace.name === 'l-template').at(-1)!;
    expect((await post(ws.id, 'restart')).statusCode).toBe(200);
    await expect.poll(() => starts('l-template')).toBe(2);
    expect(lastSpec().applyTemplate).toBe(false);
    await setStatus(t.db, ws.id, Status.Online);
    expect((await post(ws.id, 'restart', '?apply_template=true')).statusCode).toBe(200);
    await expect.poll(() => starts('l-template')).toBe(3);
    expect(lastSpec().applyTemplate).toBe(true);
    expect((await post(ws.id, 'restart', '?apply_template=maybe')).statusCode).toBe(400);
  });

  it('C145 C275 restarting an external workspace is a 200 no-op: no write, no event, the token stays valid', async () => {
    const ext = await createExternal(t, { name: 'l-ext' });
    const before = await getWorkspace(t.db, ext.id);
    const eventsBefore = await eventsOf(t, ext.id);
    const r = await t.app.inject({ method: 'POST', url: `/workspaces/${ext.id}/restart`, headers: bearer(ext.token) });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: 'awaiting_agent', message: expect.stringMatching(/restart the agent yourself/) });
    expect(await getWorkspace(t.db, ext.id)).toEqual(before);
    expect(await eventsOf(t, ext.id)).toEqual(eventsBefore);
    expect(await validateWorkspaceToken(t.db, ext.token)).toMatchObject({ workspaceId: ext.id });
  });

  it('a paused ancestor blocks restart and resume (409)', async () => {
    const boss = await running('l-boss');
    const kid = await running('l-kid');
    await t.app.inject({ method: 'PATCH', url: `/workspaces/${kid.id}`, headers: { ...t.admin, 'content-type': 'application/json' }, payload: { parent_id: boss.id } });
    expect((await post(boss.id, 'pause')).json()).toEqual({ status: 'paused', paused_count: 2 });
    await setStatus(t.db, kid.id, Status.Offline);
    const r = await post(kid.id, 'restart');
    expect(r.statusCode).toBe(409);
    expect(r.json().error).toMatch(/l-boss.*paused/);
  });

  it('pause stops the subtree and marks it paused; pausing twice is a 409; resume brings it back', async () => {
    const root = await running('l-p-root');
    const kid = await createWs(t, { name: 'l-p-kid', parent_id: root.id });
    await expect.poll(async () => (await getWorkspace(t.db, kid.id))!.instance_id).not.toBeNull();
    const r = await post(root.id, 'pause');
    expect(r.json()).toEqual({ status: 'paused', paused_count: 2 });
    for (const id of [root.id, kid.id]) {
      expect(await status(id)).toBe(Status.Paused);
      expect((await eventsOf(t, id)).at(-1)!.event_type).toBe('WORKSPACE_PAUSED');
    }
    await expect.poll(() => fake.calls.stop.includes('l-p-root') && fake.calls.stop.includes('l-p-kid')).toBe(true);
    expect(fake.calls.removeVolumes).not.toContain('l-p-root');
    expect((await post(root.id, 'pause')).statusCode).toBe(409);

    const startsBefore = starts('l-p-root');
    const resumed = await post(root.id, 'resume');
    expect(resumed.json()).toEqual({ status: 'provisioning', resumed_count: 2 });
    await expect.poll(() => starts('l-p-root')).toBe(startsBefore + 1);
    expect((await post(root.id, 'resume')).statusCode).toBe(409);
  });

  it('resuming a paused external workspace waits for its agent', async () => {
    const ext = await createExternal(t, { name: 'l-ext-pause' });
    expect((await post(ext.id, 'pause')).statusCode).toBe(200);
    const r = await post(ext.id, 'resume');
    expect(r.json()).toEqual({ status: 'awaiting_agent', resumed_count: 1 });
  });

  it('C018 hibernate claims hibernating, stops the instance, then records hibernated', async () => {
    const ws = await running('l-hib');
    const gate = deferred();
    fake.gates.set('l-hib', gate.promise);
    const pending = post(ws.id, 'hibernate');
    await expect.poll(() => status(ws.id)).toBe(Status.Hibernating);
    gate.resolve();
    fake.gates.delete('l-hib');
    expect((await pending).json()).toEqual({ status: 'hibernated' });
    expect(await status(ws.id)).toBe(Status.Hibernated);
    expect((await eventsOf(t, ws.id)).at(-1)).toEqual({ event_type: 'WORKSPACE_HIBERNATED', payload: { name: 'l-hib', tier: 2 } });
    const woke = await post(ws.id, 'resume');
    expect(woke.json()).toMatchObject({ status: 'provisioning' });
  });

  it('hibernate refuses busy (409 unless force), non-running (409) and external (422) workspaces', async () => {
    const busy = await running('l-busy');
    await t.db.query('UPDATE workspaces SET active_tasks = 2 WHERE id = $1', [busy.id]);
    const r = await post(busy.id, 'hibernate');
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ active_tasks: 2 });
    expect(await status(busy.id)).toBe(Status.Online);
    expect((await post(busy.id, 'hibernate', '?force=true')).json()).toEqual({ status: 'hibernated' });
    const off = await running('l-off');
    await setStatus(t.db, off.id, Status.Offline);
    expect((await post(off.id, 'hibernate')).statusCode).toBe(409);
    const ext = await createExternal(t, { name: 'l-ext-hib' });
    expect((await post(ext.id, 'hibernate')).statusCode).toBe(422);
  });

  it('lifecycle routes need a credential for that workspace and a live workspace', async () => {
    const ws = await running('l-auth');
    const other = await createExternal(t, { name: 'l-other' });
    for (const action of ['restart', 'pause', 'resume', 'hibernate']) {
      expect((await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/${action}` })).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/${action}`, headers: bearer(other.token) })).statusCode).toBe(403);
      expect((await post('not-a-uuid', action)).statusCode).toBe(400);
      expect((await post('00000000-0000-4000-8000-000000000000', action)).statusCode).toBe(404);
    }
    await t.app.inject({ method: 'DELETE', url: `/workspaces/${ws.id}`, headers: t.admin });
    expect((await post(ws.id, 'restart')).statusCode).toBe(410);
  });
});

describe('restart without a backend', () => {
  it('C149 answers 503 and changes nothing', async () => {
    const t = await startTestApp({ config: { provisioner: 'none' } });
    try {
      const ws = await createWs(t, { name: 'l-nobackend' });
      const before = await getWorkspace(t.db, ws.id);
      const r = await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/restart`, headers: t.admin });
      expect(r.statusCode).toBe(503);
      expect(await getWorkspace(t.db, ws.id)).toEqual(before);
    } finally {
      await t.close();
    }
  });
});

describe('restart coalescer', () => {
  it('C148 a cycle that throws clears its state; the next request runs a fresh cycle', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const c = new RestartCoalescer(
      async () => {
        calls++;
        if (calls === 1) throw new Error('cycle blew up');
      },
      (_id, err) => errors.push(err),
    );
    await c.request('w');
    expect(errors).toHaveLength(1);
    expect(c.size).toBe(0);
    await c.request('w');
    expect(calls).toBe(2);
  });

  it('C130 a request folded into a pending cycle keeps its apply_template', async () => {
    const seen: boolean[] = [];
    const gate = deferred();
    const c = new RestartCoalescer(async (_id, opts) => {
      seen.push(opts.applyTemplate ?? false);
      if (seen.length === 1) await gate.promise;
    }, () => {});
    const first = c.request('w');
    void c.request('w');
    void c.request('w', { applyTemplate: true });
    gate.resolve();
    await first;
    expect(seen).toEqual([false, true]);
  });

  it('C159 forgetting a workspace drops its state; forgetting an unknown one is a no-op', async () => {
    const gate = deferred();
    const c = new RestartCoalescer(() => gate.promise, () => {});
    const running = c.request('a');
    expect(c.size).toBe(1);
    c.forget(['a', 'never-restarted']);
    expect(c.size).toBe(0);
    gate.resolve();
    await running;
  });
});
