/** A result set from one SQL statement. */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

/** Anything that runs parameterised SQL: the database itself or an open transaction. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
  /** Runs a script of several statements without parameters (migrations only). */
  exec(sql: string): Promise<void>;
}

/**
 * The data-layer port. PostgreSQL is the only dialect; PGlite (embedded) and `pg` (a real server)
 * both implement it. Values are always bound parameters, never spliced into SQL.
 */
export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` while holding a session-level advisory lock on one connection, so one replica at a
   * time does the work (migrations, loops).
   */
  withAdvisoryLock<T>(key: bigint, fn: (q: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` only if the advisory lock is free right now (another replica holding it means "not
   * my turn"): `{ ran: false }` otherwise. For background loops.
   */
  tryWithAdvisoryLock<T>(key: bigint, fn: (q: Queryable) => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }>;
  close(): Promise<void>;
}
