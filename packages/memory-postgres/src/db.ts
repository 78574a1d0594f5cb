import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import pg from 'pg';

/** Anything that runs parameterised SQL: the database or the one connection holding the migration lock. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<{ rows: T[] }>;
}

/**
 * The plugin's store: PostgreSQL through a `pg` pool, or embedded PGlite (with its `vector`
 * extension loaded). Values are always bound parameters.
 */
export interface MemoryDb extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `fn` holding the plugin's migration advisory lock on one connection (one replica migrates at a time). */
  withMigrationLock<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The advisory lock key of this plugin's migrations ("memory" in ASCII), apart from the platform's. */
const MIGRATION_LOCK = '120282395144825'; // 0x6d656d6f7279

/**
 * Every session's pgvector settings: HNSW scans keep going until a filtered search (namespaces,
 * kinds, expiry) has its LIMIT, in distance order (pgvector 0.8's iterative scans; without them an
 * index walk returns only the nearest `ef_search` rows, and a filter could leave few of them), and
 * a walk starts with room for the largest search limit (100). Harmless without pgvector: `hnsw.*`
 * is then only a placeholder setting; a server whose pgvector predates them refuses the first and
 * keeps its defaults (searches still answer, with fewer rows when a filter is narrow).
 */
const SESSION_SQL = ['SET hnsw.ef_search = 100', 'SET hnsw.iterative_scan = strict_order'];

/** An embedded PGlite store; `dataDir` undefined keeps it in memory (tests). */
export async function createPgliteMemoryDb(dataDir?: string): Promise<MemoryDb> {
  // PGlite.create, not the constructor: on 0.4.x only it loads the extension bundle before the first statement.
  const db = await PGlite.create({ ...(dataDir === undefined ? {} : { dataDir }), extensions: { vector } });
  for (const sql of SESSION_SQL) await db.query(sql).catch(() => {});
  const q: Queryable = {
    async query<T>(sql: string, params?: readonly unknown[]) {
      const r = await db.query<T>(sql, params as unknown[] | undefined);
      return { rows: r.rows };
    },
  };
  return {
    kind: 'pglite',
    query: q.query,
    // One connection: nothing can contend, so the lock would only add a round trip.
    withMigrationLock: (fn) => fn(q),
    close: () => db.close(),
  };
}

/** A PostgreSQL store through a `pg` pool of `max` connections. */
export function createPostgresMemoryDb(url: string, max = 16): MemoryDb {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5000 });
  // A dropped idle connection must not crash the process; the next statement fails and is answered 500
  // (or health says degraded), and the pool replaces the connection.
  pool.on('error', () => {});
  // Queued on the new connection, each on its own, ahead of anything the pool hands it out for.
  pool.on('connect', (client) => {
    for (const sql of SESSION_SQL) client.query(sql).catch(() => {});
  });
  return {
    kind: 'postgres',
    async query<T>(sql: string, params?: readonly unknown[]) {
      const r = await pool.query(sql, params as unknown[] | undefined);
      return { rows: r.rows as T[] };
    },
    async withMigrationLock(fn) {
      const client = await pool.connect();
      try {
        await client.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
        try {
          return await fn({ query: async <T>(sql: string, params?: readonly unknown[]) => ({ rows: (await client.query(sql, params as unknown[] | undefined)).rows as T[] }) });
        } finally {
          await client.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`);
        }
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

