import pg from 'pg';
import { platformUnavailable } from '../errors.js';
import type { Db, Queryable, QueryResult } from './port.js';

// bigint (int8) columns come back as JS numbers: our int8 values (ids, sequence numbers, cents)
// stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

/** Socket errors and the SQLSTATEs of a server that is down, shutting down, starting or out of connections. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03', '53300']);

/**
 * Whether `err` says the server cannot be reached (rather than that a statement failed): the
 * connection was refused, dropped or timed out, or the server is shutting down or starting up.
 */
export function isUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('08'))) return true;
  return /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(err.message);
}

/**
 * Runs one database call; an unreachable server becomes the domain's `platform_unavailable` (503,
 * no internal text), with the driver's error kept as its cause for the log.
 */
async function reachable<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!isUnreachable(err)) throw err;
    const e = platformUnavailable();
    (e as { cause?: unknown }).cause = err;
    throw e;
  }
}

export interface PostgresOptions {
  url: string;
  max?: number;
}

/** A `Db` backed by a real PostgreSQL server through a `pg` pool. */
export function createPostgresDb(opts: PostgresOptions): Db {
  const pool = new pg.Pool({ connectionString: opts.url, max: opts.max ?? 10, connectionTimeoutMillis: 5000 });
  // A client losing its connection must not crash the process. The pool handles idle clients'
  // errors; a client checked out but between statements (a loop holding an advisory lock while it
  // calls a backend) emits its own, which would otherwise be an uncaught exception. Its next
  // statement then fails as unreachable, and the pool drops it on release.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));

  const wrap = (c: pg.Pool | pg.PoolClient): Queryable => ({
    async query<T>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
      const r = await reachable(() => c.query(sql, params as unknown[] | undefined));
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    },
    async exec(sql: string) {
      await reachable(() => c.query(sql));
    },
  });

  const root = wrap(pool);
  /** Runs `fn` on one connection of its own; a connection that broke meanwhile is destroyed, not pooled. */
  const session = async <T>(fn: (q: Queryable) => Promise<T>): Promise<T> => {
    const client = await reachable(() => pool.connect());
    let broken = false;
    try {
      return await fn(wrap(client));
    } catch (err) {
      broken = err instanceof Error && isUnreachable((err as { cause?: unknown }).cause ?? err);
      throw err;
    } finally {
      client.release(broken);
    }
  };
  return {
    kind: 'postgres',
    query: root.query,
    exec: root.exec,
    tx: (fn) =>
      session(async (q) => {
        await q.query('BEGIN');
        try {
          const out = await fn(q);
          await q.query('COMMIT');
          return out;
        } catch (err) {
          await q.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }),
    withAdvisoryLock: (key, fn) =>
      session(async (q) => {
        await q.query('SELECT pg_advisory_lock($1)', [key.toString()]);
        try {
          return await fn(q);
        } finally {
          await q.query('SELECT pg_advisory_unlock($1)', [key.toString()]);
        }
      }),
    tryWithAdvisoryLock: (key, fn) =>
      session(async (q) => {
        const r = await q.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key.toString()]);
        if (!r.rows[0]?.locked) return { ran: false as const };
        try {
          return { ran: true as const, value: await fn(q) };
        } finally {
          await q.query('SELECT pg_advisory_unlock($1)', [key.toString()]);
        }
      }),
    async close() {
      await pool.end();
    },
  };
}
