import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { createWs, json } from '../test-support/api.js';
import { onlineWorkspace, startWithFakeBackend, type FakeBackend } from '../test-support/fake-provisioner.js';
import type { TestApp } from '../test-support/harness.js';
import { getWorkspace } from '../workspaces/repo.js';
import { hibernationSweep } from './sweeps.js';

describe('idle hibernation', () => {
  let t: TestApp;
  let fake: FakeBackend;
  beforeAll(async () => {
    ({ t, fake } = await startWithFakeBackend());
  });
  afterAll(async () => t.close());

  /** An online workspace that came up `minutes` ago and has beaten just now. */
  async function idleFor(name: string, minutes: number, extra: Record<string, unknown> = { hibernation_idle_minutes: 10 }) {
    const ws = await onlineWorkspace(t, name, extra);
    await t.db.query(`UPDATE workspaces SET created_at = now() - make_interval(mins => $2), last_heartbeat_at = now() WHERE id = $1`, [ws.id, minutes]);
    await t.db.query(`UPDATE structure_events SET created_at = now() - make_interval(mins => $2) WHERE workspace_id = $1`, [ws.id, minutes]);
    return ws;
  }
  const a2aRow = (id: string, minutesAgo: number, type = 'a2a_receive') =>
    t.db.query(`INSERT INTO activity_logs (workspace_id, activity_type, status, created_at) VALUES ($1, $2, 'ok', now() - make_interval(mins => $3))`, [id, type, minutesAgo]);

  it('hibernates a workspace idle past its setting, measured by A2A traffic, not heartbeats', async () => {
    const idle = await idleFor('h-idle', 30);
    const recentIn = await idleFor('h-recent-in', 30);
    await a2aRow(recentIn.id, 2);
    const recentOut = await idleFor('h-recent-out', 30);
    await a2aRow(recentOut.id, 2, 'a2a_send');
    const oldTraffic = await idleFor('h-old-traffic', 30);
    await a2aRow(oldTraffic.id, 20);
    const never = await idleFor('h-never', 30, {});
    const young = await idleFor('h-young', 5);
    const busy = await idleFor('h-busy', 30);
    await t.db.query('UPDATE workspaces SET active_tasks = 1 WHERE id = $1', [busy.id]);

    const { hibernated } = await hibernationSweep(t.deps, t.db);
    expect(hibernated.sort()).toEqual([idle.id, oldTraffic.id].sort());
    for (const w of [idle, oldTraffic]) expect((await getWorkspace(t.db, w.id))!.status).toBe(Status.Hibernated);
    for (const w of [recentIn, recentOut, never, young, busy]) expect((await getWorkspace(t.db, w.id))!.status).toBe(Status.Online);
    expect(fake.calls.stop).toEqual(expect.arrayContaining(['h-idle', 'h-old-traffic']));
    expect(fake.calls.stop).not.toContain('h-recent-in');
  });

  it('a message to a hibernated workspace wakes it (503 waking, then provisioning)', async () => {
    const ws = await idleFor('h-wake', 30);
    await hibernationSweep(t.deps, t.db);
    expect((await getWorkspace(t.db, ws.id))!.status).toBe(Status.Hibernated);
    const r = await t.app.inject({
      method: 'POST',
      url: `/workspaces/${ws.id}/a2a`,
      headers: { ...t.admin, ...json },
      payload: { method: 'message/send', params: { message: { role: 'user', parts: [{ kind: 'text', text: 'wake up' }] } } },
    });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ waking: true });
    await expect.poll(async () => (await getWorkspace(t.db, ws.id))!.status).not.toBe(Status.Hibernated);
  });

  it('the setting is validated on create and update, and can be cleared', async () => {
    for (const bad of [0, -1, 1.5, '10', 525_601]) {
      const r = await t.app.inject({ method: 'POST', url: '/workspaces', headers: { ...t.admin, ...json }, payload: { name: 'h-bad', hibernation_idle_minutes: bad } });
      expect(r.statusCode, String(bad)).toBe(400);
    }
    const ws = await createWs(t, { name: 'h-set', hibernation_idle_minutes: 15 });
    expect(ws.hibernation_idle_minutes).toBe(15);
    const cleared = await t.app.inject({ method: 'PATCH', url: `/workspaces/${ws.id}`, headers: { ...t.admin, ...json }, payload: { hibernation_idle_minutes: null } });
    expect(cleared.statusCode, cleared.body).toBe(200);
    expect(cleared.json<{ hibernation_idle_minutes: null }>().hibernation_idle_minutes).toBeNull();
    const bad = await t.app.inject({ method: 'PATCH', url: `/workspaces/${ws.id}`, headers: { ...t.admin, ...json }, payload: { hibernation_idle_minutes: 0 } });
    expect(bad.statusCode).toBe(400);
    expect((await getWorkspace(t.db, ws.id))!.hibernation_idle_minutes).toBeNull();
  });
});
