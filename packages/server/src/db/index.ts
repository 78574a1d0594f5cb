import path from 'node:path';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { Config } from '../config.js';
import type { Db } from './port.js';
import { createPgliteDb } from './pglite.js';
import { loadTemplate } from './pglite-template.js';
import { createPostgresDb } from './postgres.js';

import type { Queryable } from './port.js';

export type { Db, Queryable, QueryResult } from './port.js';

/**
 * Opens the database the configuration names: `DATABASE_URL` through `pg`, otherwise PGlite in the
 * data dir. A new PGlite data dir starts from the build's migrated template when one matches.
 */
export async function openDb(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  opts: { templateFile?: string; onTemplateError?: (err: unknown) => void } = {},
): Promise<Db> {
  if (config.databaseUrl) return createPostgresDb({ url: config.databaseUrl });
  const dir = path.join(config.dataDir, 'pgdata');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const template = existsSync(path.join(dir, 'PG_VERSION')) ? undefined : await loadTemplate(opts.templateFile, opts.onTemplateError);
  return createPgliteDb(dir, template ? { loadDataDir: template } : {});
}

/** One round trip to the database (the health check): resolves when it answers. */
export async function pingDb(q: Queryable): Promise<void> {
  await q.query('SELECT 1');
}
