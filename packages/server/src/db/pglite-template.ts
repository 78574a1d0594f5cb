import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMigrations, migrateUp } from './migrate.js';
import { createPgliteDb } from './pglite.js';

/**
 * Creating a PGlite cluster (initdb in WASM) takes seconds; loading a dump of one takes a fraction.
 * The build writes a migrated, empty cluster here, and a first start on an empty data dir loads it
 * instead of running initdb. Missing or stale (other migrations, other PGlite), it is ignored.
 */
export const TEMPLATE_FILE = fileURLToPath(new URL('../pglite-template.tgz', import.meta.url));

/** Identifies what the template holds: the migration scripts and the PGlite version. */
export async function templateKey(): Promise<string> {
  // The package does not export its package.json; find it beside the resolved entry point.
  const entry = fileURLToPath(import.meta.resolve('@electric-sql/pglite'));
  const marker = `${path.sep}@electric-sql${path.sep}pglite${path.sep}`;
  const pkgFile = entry.slice(0, entry.lastIndexOf(marker) + marker.length) + 'package.json';
  const { version } = JSON.parse(await readFile(pkgFile, 'utf8')) as { version: string };
  const h = createHash('sha256').update(`pglite@${version}\n`);
  for (const m of await loadMigrations()) h.update(`${m.version}_${m.name}\n${m.up}\n`);
  return h.digest('hex');
}

/**
 * The template as a tarball, or undefined when there is none for the current migrations.
 * Fail-open: the template only saves time, so any problem reading it means "start without it".
 */
export async function loadTemplate(file = TEMPLATE_FILE, onError: (err: unknown) => void = () => {}): Promise<Blob | undefined> {
  try {
    const [key, current] = await Promise.all([readFile(`${file}.key`, 'utf8'), templateKey()]);
    if (key.trim() !== current) return undefined;
    return new Blob([await readFile(file)]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onError(err);
    return undefined;
  }
}

/** Writes the template unless an up-to-date one exists. Returns whether it wrote one. */
export async function buildTemplate(file = TEMPLATE_FILE): Promise<boolean> {
  if (await loadTemplate(file)) return false;
  const db = await createPgliteDb();
  try {
    await migrateUp(db);
    const dump = await db.raw.dumpDataDir('gzip');
    await writeFile(`${file}.tmp`, Buffer.from(await dump.arrayBuffer()));
    await rename(`${file}.tmp`, file);
    await writeFile(`${file}.key`, `${await templateKey()}\n`);
    return true;
  } finally {
    await db.close();
  }
}
