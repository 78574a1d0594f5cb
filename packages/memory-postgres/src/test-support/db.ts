import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPgliteMemoryDb, createPostgresMemoryDb, type MemoryDb } from '../db.js';

export type Kind = 'pglite' | 'postgres';

export interface TestStore {
  db: MemoryDb;
  /** The database's URL (postgres only). */
  url?: string;
  /** Takes the database away under a running plugin: PGlite closed, the PostgreSQL database dropped. */
  kill(): Promise<void>;
  /** Drops the database (postgres) or closes PGlite; safe after `kill`. */
  drop(): Promise<void>;
}

/** TEST_DATABASE_URL, which `scripts/test.sh` (scripts/services.sh) exports; integration tests fail loudly without it. */
export function testDatabaseUrl(): string {
  const v = process.env.TEST_DATABASE_URL;
  if (!v) throw new Error('TEST_DATABASE_URL is not set: run integration tests through `npm test` (scripts/test.sh starts PostgreSQL)');
  return v;
}

/** A new empty database on the test PostgreSQL server, the way `freshDb('postgres')` in the server's harness makes one. */
export async function freshPostgresUrl(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = testDatabaseUrl();
  const name = `molecule_mem_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A fresh, empty store of the given kind (not migrated). */
export async function freshStore(kind: Kind): Promise<TestStore> {
  if (kind === 'pglite') {
    const db = await createPgliteMemoryDb();
    let closed = false;
    const close = async () => {
      if (!closed) await db.close();
      closed = true;
    };
    return { db, kill: close, drop: close };
  }
  const { url, drop } = await freshPostgresUrl();
  const db = createPostgresMemoryDb(url, 4);
  let closed = false;
  return {
    db,
    url,
    kill: drop,
    async drop() {
      if (!closed) await db.close();
      closed = true;
      await drop();
    },
  };
}
