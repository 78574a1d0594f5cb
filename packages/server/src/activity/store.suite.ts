import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformEvent } from '@molecule/contracts';
import { platformLoops } from '../loops/index.js';
import { createExternal } from '../test-support/api.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';
import { listActivity, listActivityQuery } from './repo.js';
import { purgeExpiredActivity, recordActivities, recordActivity } from './service.js';

/**
 * The activity store below the HTTP edge: the one writer, the list query's ordering and plan, and
 * retention. On PGlite (store.test.ts) and on real PostgreSQL (store.int.test.ts).
 */
export function activityStoreSuite(kind: DbKind): void {
  describe(`activity store on ${kind}`, () => {
    let t: TestApp;
    const seen: PlatformEvent[] = [];
    beforeAll(async () => {
      t = await startTestApp({ kind, config: { activityRetentionDays: 3, activityCleanupIntervalHours: 2, workspaceCacheTtlMs: 60_000 } });
      t.bus.subscribe((e) => void seen.push(e));
    });
    afterAll(async () => t.close());

    const logged = (id: string) => seen.filter((e) => e.workspace_id === id && e.type === 'ACTIVITY_LOGGED');
    const countOf = async (id: string) =>
      (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM activity_logs WHERE workspace_id = $1', [id])).rows[0]!.n;
    const age = (id: string, days: number) =>
      t.db.query(`UPDATE activity_logs SET created_at = now() - make_interval(secs => $2) WHERE workspace_id = $1`, [id, days * 86400]);

    describe('recordActivities', () => {
      it('C093 writes both sides of an exchange in one call, returns them in order and announces each on its own workspace', async () => {
        const caller = await createExternal(t);
        const target = await createExternal(t);
        const [send, receive] = await recordActivities(t.deps, [
          { workspace_id: caller.id, activity_type: 'a2a_send', source_id: caller.id, target_id: target.id, method: 'message/send', summary: 'hi', request_body: { jsonrpc: '2.0' }, duration_ms: 40 },
          { workspace_id: target.id, activity_type: 'a2a_receive', source_id: caller.id, target_id: target.id, method: 'message/send', response_body: { result: 'ok' }, status: 'error', error_detail: 'boom' },
        ]);
        expect(send).toMatchObject({ workspace_id: caller.id, activity_type: 'a2a_send', status: 'ok', request_body: { jsonrpc: '2.0' }, response_body: null, duration_ms: 40 });
        expect(receive).toMatchObject({ workspace_id: target.id, activity_type: 'a2a_receive', status: 'error', error_detail: 'boom', response_body: { result: 'ok' } });
        expect(send!.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
        expect(logged(caller.id).map((e) => e.payload)).toEqual([
          {
            id: send!.id,
            activity_type: 'a2a_send',
            method: 'message/send',
            summary: 'hi',
            status: 'ok',
            source_id: caller.id,
            target_id: target.id,
            duration_ms: 40,
            created_at: send!.created_at,
          },
        ]);
        expect(logged(target.id).map((e) => e.payload.id)).toEqual([receive!.id]);
      });

      it('all or nothing: a row the database refuses fails the whole call, and nothing is announced', async () => {
        const w = await createExternal(t);
        await expect(
          recordActivities(t.deps, [
            { workspace_id: w.id, activity_type: 'a2a_send' },
            { workspace_id: randomUUID(), activity_type: 'a2a_receive' },
          ]),
        ).rejects.toThrow(/foreign key/);
        expect(await countOf(w.id)).toBe(0);
        expect(logged(w.id)).toEqual([]);
      });

      it('activity events leave the cached workspace view alone; a change to the workspace still refreshes it', async () => {
        const w = await createExternal(t, { name: 'cached' });
        const name = async () => (await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: t.admin })).json().name;
        expect(await name()).toBe('cached');
        // Changed behind the cache's back: only an invalidation can reveal it.
        await t.db.query('UPDATE workspaces SET name = $2 WHERE id = $1', [w.id, 'renamed']);
        await recordActivity(t.deps, { workspace_id: w.id, activity_type: 'a2a_receive' });
        await t.deps.broadcaster.broadcastOnly('AGENT_MESSAGE', w.id, { message: 'hi' });
        expect(await name()).toBe('cached');
        await t.deps.broadcaster.broadcastOnly('WORKSPACE_HEARTBEAT', w.id, {});
        expect(await name()).toBe('renamed');
      });

      it('an empty batch writes and announces nothing', async () => {
        const before = seen.length;
        expect(await recordActivities(t.deps, [])).toEqual([]);
        expect(seen.length).toBe(before);
      });
    });

    describe('listing', () => {
      it('C094 the order does not depend on the plan: with index scans off, ties on created_at still sort by id', async () => {
        const w = await createExternal(t);
        const rowIds = Array.from({ length: 8 }, () => randomUUID()).sort();
        // Stored against the id order, so only the ORDER BY's tie-break can restore it.
        for (const id of [...rowIds].reverse()) {
          await t.db.query(`INSERT INTO activity_logs (id, workspace_id, activity_type, created_at) VALUES ($1, $2, $3, '2026-03-03T00:00:00Z')`, [
            id,
            w.id,
            'agent_log',
          ]);
        }
        const [newest, afterCursor] = await t.db.tx(async (q) => {
          await q.exec('SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off');
          return [await listActivity(q, { workspaceId: w.id, limit: 100 }), await listActivity(q, { workspaceId: w.id, limit: 100, sinceId: rowIds[0]! })];
        });
        expect(newest.map((r) => r.id)).toEqual([...rowIds].reverse());
        expect(afterCursor.map((r) => r.id)).toEqual(rowIds.slice(1));
      });

      it('C092 per-peer history reads through the two partial indexes, not the whole workspace', async () => {
        const w = await createExternal(t);
        const peer = randomUUID();
        await t.db.query(
          `INSERT INTO activity_logs (workspace_id, activity_type, source_id, target_id)
           SELECT $1, $2, CASE WHEN g % 10 = 0 THEN gen_random_uuid() END, CASE WHEN g % 10 = 1 THEN gen_random_uuid() END
             FROM generate_series(1, 2000) g`,
          [w.id, 'a2a_receive'],
        );
        await t.db.exec('ANALYZE activity_logs');
        const { sql, params } = listActivityQuery({ workspaceId: w.id, peerId: peer, limit: 100 });
        const plan = (await t.db.query<Record<string, string>>(`EXPLAIN ${sql}`, params)).rows.map((r) => Object.values(r)[0]).join('\n');
        expect(plan).toMatch(/BitmapOr/);
        expect(plan).toMatch(/activity_logs_source_idx/);
        expect(plan).toMatch(/activity_logs_target_idx/);
      });
    });

    describe('retention', () => {
      it('purges rows older than the retention window in every workspace and keeps the rest; a second pass finds nothing', async () => {
        const a = await createExternal(t);
        const b = await createExternal(t);
        const oldA = await recordActivity(t.deps, { workspace_id: a.id, activity_type: 'agent_log' });
        await recordActivity(t.deps, { workspace_id: b.id, activity_type: 'agent_log' });
        await age(a.id, 4);
        await age(b.id, 4);
        const fresh = await recordActivity(t.deps, { workspace_id: a.id, activity_type: 'agent_log' });
        const borderline = await recordActivity(t.deps, { workspace_id: b.id, activity_type: 'agent_log' });
        await t.db.query(`UPDATE activity_logs SET created_at = now() - interval '2 days 23 hours' WHERE id = $1`, [borderline.id]);
        expect(await purgeExpiredActivity(t.db, { retentionDays: 3 })).toBeGreaterThanOrEqual(2);
        const left = await t.db.query<{ id: string }>('SELECT id FROM activity_logs WHERE workspace_id = ANY($1::uuid[]) ORDER BY id', [[a.id, b.id]]);
        expect(left.rows.map((r) => r.id).sort()).toEqual([fresh.id, borderline.id].sort());
        expect(left.rows.map((r) => r.id)).not.toContain(oldA.id);
        expect(await purgeExpiredActivity(t.db, { retentionDays: 3 })).toBe(0);
      });

      it('works in bounded batches: a pass stops after maxBatches and the next one carries on', async () => {
        const w = await createExternal(t);
        await recordActivities(t.deps, Array.from({ length: 5 }, () => ({ workspace_id: w.id, activity_type: 'agent_log' as const })));
        await age(w.id, 10);
        expect(await purgeExpiredActivity(t.db, { retentionDays: 3, batchSize: 2, maxBatches: 1 })).toBe(2);
        expect(await countOf(w.id)).toBe(3);
        expect(await purgeExpiredActivity(t.db, { retentionDays: 3, batchSize: 2, maxBatches: 5 })).toBe(3);
        expect(await countOf(w.id)).toBe(0);
      });

      it('runs as a supervised loop on ACTIVITY_CLEANUP_INTERVAL_HOURS with ACTIVITY_RETENTION_DAYS', async () => {
        const w = await createExternal(t);
        await recordActivity(t.deps, { workspace_id: w.id, activity_type: 'agent_log' });
        await age(w.id, 3.5);
        const loop = platformLoops(t.deps).find((l) => l.name === 'activity-retention')!;
        expect(loop.intervalMs).toBe(2 * 3_600_000);
        await t.deps.loops.runOnce(loop);
        expect(t.deps.loops.status.get('activity-retention')).toMatchObject({ runs: 1, errors: 0 });
        expect(await countOf(w.id)).toBe(0);
      });
    });
  });
}
