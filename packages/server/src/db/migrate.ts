import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Db, Queryable } from './port.js';

/** Advisory-lock key shared by every replica so only one migrates at a time ("molecule-migrate"). */
export const MIGRATION_LOCK_KEY = 0x6d6f6c6563756c65n;

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  up: string;
  down: string | undefined;
}

/** Reads `NNN_name.sql` (and the optional `NNN_name.down.sql`) from the migrations folder. */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).sort();
  const out: Migration[] = [];
  for (const f of files) {
    const m = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(f);
    if (!m) continue;
    const base = f.slice(0, -'.sql'.length);
    const downFile = `${base}.down.sql`;
    out.push({
      version: Number(m[1]),
      name: m[2]!,
      up: await readFile(`${dir}/${f}`, 'utf8'),
      down: files.includes(downFile) ? await readFile(`${dir}/${downFile}`, 'utf8') : undefined,
    });
  }
  const seen = new Set<number>();
  for (const m of out) {
    if (seen.has(m.version)) throw new Error(`duplicate migration version ${m.version}`);
    seen.add(m.version);
  }
  return out;
}

async function ensureTable(q: Queryable): Promise<Set<number>> {
  await q.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const r = await q.query<{ version: number }>('SELECT version FROM schema_migrations');
  return new Set(r.rows.map((x) => x.version));
}

async function inTx(q: Queryable, fn: () => Promise<void>): Promise<void> {
  await q.exec('BEGIN');
  try {
    await fn();
    await q.exec('COMMIT');
  } catch (err) {
    await q.exec('ROLLBACK');
    throw err;
  }
}

/**
 * Applies every pending migration, each in its own transaction, under an advisory lock so that
 * replicas booting together migrate once. Safe to run any number of times.
 * Returns the versions it applied.
 */
export async function migrateUp(db: Db, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  return db.withAdvisoryLock(MIGRATION_LOCK_KEY, async (q) => {
    const applied = await ensureTable(q);
    const done: number[] = [];
    for (const m of all) {
      if (applied.has(m.version)) continue;
      await inTx(q, async () => {
        await q.exec(m.up);
        await q.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      });
      done.push(m.version);
    }
    return done;
  });
}

/**
 * Rolls back applied migrations newer than `toVersion`, newest first. A migration without a
 * `.down.sql` stops the rollback with an error before anything of it is undone.
 */
export async function migrateDown(db: Db, toVersion: number, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  return db.withAdvisoryLock(MIGRATION_LOCK_KEY, async (q) => {
    const applied = await ensureTable(q);
    const undone: number[] = [];
    for (const m of [...all].reverse()) {
      if (m.version <= toVersion || !applied.has(m.version)) continue;
      if (m.down === undefined) throw new Error(`migration ${m.version}_${m.name} has no down script`);
      const down = m.down;
      await inTx(q, async () => {
        await q.exec(down);
        await q.query('DELETE FROM schema_migrations WHERE version = $1', [m.version]);
      });
      undone.push(m.version);
    }
    return undone;
  });
}
