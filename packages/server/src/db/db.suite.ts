import { afterEach, describe, expect, it } from 'vitest';
import { WORKSPACE_STATUSES, Status } from '@molecule/contracts';
import { freshDb, type DbKind, type TestDb } from '../test-support/harness.js';
import { loadMigrations, migrateDown, migrateUp } from './migrate.js';

/** The data-layer suite, run against PGlite (db.test.ts) and real PostgreSQL (db.int.test.ts). */
export function dbSuite(kind: DbKind): void {
  describe(`data layer on ${kind}`, () => {
    const open: TestDb[] = [];
    const fresh = async () => {
      const t = await freshDb(kind);
      open.push(t);
      return t;
    };
    afterEach(async () => {
      while (open.length) await open.pop()!.drop();
    });

    const insertWs = (t: TestDb, status: string, extra = '') =>
      t.db.query(
        `INSERT INTO workspaces (name, runtime, tier, status${extra ? ', delivery_mode' : ''})
         VALUES ('w', 'molecule', 2, $1${extra ? ', $2' : ''}) RETURNING id, delivery_mode`,
        extra ? [status, extra] : [status],
      );

    it('migrates a fresh database and a second run applies nothing', async () => {
      const t = await fresh();
      const all = await loadMigrations();
      expect(await migrateUp(t.db)).toEqual(all.map((m) => m.version));
      expect(await migrateUp(t.db)).toEqual([]);
      const r = await t.db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(r.rows.map((x) => x.version)).toEqual(all.map((m) => m.version));
    });

    it('replicas booting together migrate once (advisory lock)', async () => {
      const t = await fresh();
      const results = await Promise.all([migrateUp(t.db), migrateUp(t.db), migrateUp(t.db)]);
      const applied = results.flat().sort((a, b) => a - b);
      expect(applied).toEqual((await loadMigrations()).map((m) => m.version));
    });

    it('C017 migrations are re-runnable: every up script applies twice without error', async () => {
      const t = await fresh();
      await migrateUp(t.db);
      for (const m of await loadMigrations()) {
        await t.db.tx(async (q) => q.exec(m.up));
      }
    });

    it('C017 migrations that touch workspace_status bound their lock wait at 5 s', async () => {
      for (const m of await loadMigrations()) {
        for (const script of [m.up, m.down ?? '']) {
          if (!/workspace_status/.test(script)) continue;
          expect(script, `${m.version}_${m.name}`).toMatch(/SET LOCAL lock_timeout = '5s';/);
        }
      }
    });

    it('C015 C016 the database enum holds exactly the contract status set', async () => {
      const t = await fresh();
      await migrateUp(t.db);
      const r = await t.db.query<{ v: string }>('SELECT unnest(enum_range(NULL::workspace_status))::text AS v');
      expect(r.rows.map((x) => x.v).sort()).toEqual([...WORKSPACE_STATUSES].sort());
    });

    it('C015 writing a status outside the enum is an error', async () => {
      const t = await fresh();
      await migrateUp(t.db);
      await expect(insertWs(t, 'sleeping')).rejects.toThrow(/invalid input value for enum workspace_status/);
      for (const s of WORKSPACE_STATUSES) await insertWs(t, s);
    });

    it('C010 delivery_mode is NOT NULL, defaults to push and only takes push or poll', async () => {
      const t = await fresh();
      await migrateUp(t.db);
      const r = await insertWs(t, Status.Online);
      expect(r.rows[0]).toMatchObject({ delivery_mode: 'push' });
      expect((await insertWs(t, Status.Online, 'poll')).rows[0]).toMatchObject({ delivery_mode: 'poll' });
      await expect(insertWs(t, Status.Online, 'carrier-pigeon')).rejects.toThrow(/check constraint/);
      await expect(
        t.db.query(`UPDATE workspaces SET delivery_mode = NULL`),
      ).rejects.toThrow(/null value/);
    });

    it('C017 rolling back the status migration maps awaiting_agent to offline and hibernating to hibernated', async () => {
      const t = await fresh();
      await migrateUp(t.db);
      const ids: Record<string, string> = {};
      for (const s of [Status.AwaitingAgent, Status.Hibernating, Status.Online]) {
        ids[s] = ((await insertWs(t, s)).rows[0] as { id: string }).id;
      }
      // Rolls back every migration after 001, the status one (002) last.
      const later = (await loadMigrations()).map((m) => m.version).filter((v) => v > 1);
      expect(await migrateDown(t.db, 1)).toEqual([...later].reverse());
      const r = await t.db.query<{ id: string; status: string }>('SELECT id, status::text AS status FROM workspaces');
      const by = Object.fromEntries(r.rows.map((x) => [x.id, x.status]));
      expect(by[ids[Status.AwaitingAgent]!]).toBe('offline');
      expect(by[ids[Status.Hibernating]!]).toBe('hibernated');
      expect(by[ids[Status.Online]!]).toBe('online');
      const values = await t.db.query<{ v: string }>('SELECT unnest(enum_range(NULL::workspace_status))::text AS v');
      expect(values.rows.map((x) => x.v)).not.toContain('awaiting_agent');
      // And forward again: additive and idempotent.
      expect(await migrateUp(t.db)).toEqual(later);
      await insertWs(t, Status.AwaitingAgent);
    });

    it('tx commits on success and rolls back on a throw', async () => {
      const t = await fresh();
      await migrateUp(t.db);
      await t.db.tx(async (q) => {
        await q.query(`INSERT INTO workspaces (name, runtime, tier, status) VALUES ('kept', 'molecule', 2, $1)`, [Status.Online]);
      });
      await expect(
        t.db.tx(async (q) => {
          await q.query(`INSERT INTO workspaces (name, runtime, tier, status) VALUES ('lost', 'molecule', 2, $1)`, [Status.Online]);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      const r = await t.db.query<{ name: string }>('SELECT name FROM workspaces');
      expect(r.rows.map((x) => x.name)).toEqual(['kept']);
    });

    it('rowCount means the same on every adapter: rows returned or rows changed', async () => {
      const t = await fresh();
      await migrateUp(t.db);
      const ins = (n: string) =>
        t.db.query(`INSERT INTO workspaces (name, runtime, tier, status) VALUES ($1, 'molecule', 2, $2)`, [n, Status.Online]);
      expect((await ins('a')).rowCount).toBe(1);
      await ins('b');
      expect((await t.db.query('SELECT id FROM workspaces')).rowCount).toBe(2);
      expect((await t.db.query('SELECT id FROM workspaces WHERE false')).rowCount).toBe(0);
      expect((await t.db.query(`UPDATE workspaces SET role = 'r'`)).rowCount).toBe(2);
      expect((await t.db.query(`UPDATE workspaces SET role = 'r' RETURNING id`)).rowCount).toBe(2);
      expect((await t.db.query(`DELETE FROM workspaces WHERE name = 'a'`)).rowCount).toBe(1);
    });

    it('C092 activity_logs carries the per-peer partial indexes and the cursor index', async () => {
      const t = await fresh();
      await migrateUp(t.db);
      const r = await t.db.query<{ indexname: string; indexdef: string }>(
        `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'activity_logs'`,
      );
      const defs = r.rows.map((x) => x.indexdef.replace(/\s+/g, ' '));
      expect(defs.some((d) => /\(workspace_id, source_id\) WHERE \(source_id IS NOT NULL\)/.test(d))).toBe(true);
      expect(defs.some((d) => /\(workspace_id, target_id\) WHERE \(target_id IS NOT NULL\)/.test(d))).toBe(true);
      expect(defs.some((d) => /\(workspace_id, created_at, id\)/.test(d))).toBe(true);
    });

    it('token tables store hashes only: no plaintext column exists', async () => {
      const t = await fresh();
      await migrateUp(t.db);
      const r = await t.db.query<{ table_name: string; column_name: string }>(
        `SELECT table_name, column_name FROM information_schema.columns
          WHERE table_name IN ('workspace_auth_tokens', 'org_api_tokens', 'canvas_sessions')`,
      );
      const cols = r.rows.map((x) => x.column_name);
      expect(cols).toContain('token_hash');
      expect(cols.filter((c) => c === 'token' || c === 'plaintext' || c === 'session')).toEqual([]);
    });
  });
}
