import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { Config } from '../config.js';
import type { Db } from './port.js';
import { createPgliteDb } from './pglite.js';
import { createPostgresDb } from './postgres.js';

export type { Db, Queryable, QueryResult } from './port.js';

/** Opens the database the configuration names: `DATABASE_URL` through `pg`, otherwise PGlite. */
export async function openDb(config: Pick<Config, 'databaseUrl' | 'dataDir'>): Promise<Db> {
  if (config.databaseUrl) return createPostgresDb({ url: config.databaseUrl });
  const dir = path.join(config.dataDir, 'pgdata');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return createPgliteDb(dir);
}
