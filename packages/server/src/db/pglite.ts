import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Db, Queryable, QueryResult } from './port.js';

/**
 * A `Db` backed by embedded PGlite. `dataDir` undefined keeps the database in memory (tests).
 * PGlite is a single connection, so statements serialise; transactions are real.
 */
export async function createPgliteDb(dataDir?: string, opts: { loadDataDir?: Blob } = {}): Promise<Db & { raw: PGlite }> {
  const pg = new PGlite(dataDir, opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {});
  await pg.waitReady;

  const wrap = (c: PGlite | Transaction): Queryable => ({
    async query<T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const r = await c.query<T>(sql, params as unknown[] | undefined, { parsers: { 20: (v: string) => Number(v) } });
      // PGlite reports affectedRows 0 for a SELECT; pg reports the row count. Match pg.
      return { rows: r.rows, rowCount: Math.max(r.rows.length, r.affectedRows ?? 0) };
    },
    async exec(sql: string) {
      await c.exec(sql);
    },
  });

  const root = wrap(pg);
  return {
    kind: 'pglite',
    raw: pg,
    query: root.query,
    exec: root.exec,
    tx: (fn) => pg.transaction((t) => fn(wrap(t))),
    async withAdvisoryLock(key, fn) {
      // One connection: the lock cannot be contended by another replica, but holding it keeps the
      // code path identical to Postgres.
      await pg.query('SELECT pg_advisory_lock($1)', [key.toString()]);
      try {
        return await fn(root);
      } finally {
        await pg.query('SELECT pg_advisory_unlock($1)', [key.toString()]);
      }
    },
    async tryWithAdvisoryLock(key, fn) {
      const r = await pg.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key.toString()]);
      if (!r.rows[0]?.locked) return { ran: false as const };
      try {
        return { ran: true as const, value: await fn(root) };
      } finally {
        await pg.query('SELECT pg_advisory_unlock($1)', [key.toString()]);
      }
    },
    async close() {
      await pg.close();
    },
  };
}
