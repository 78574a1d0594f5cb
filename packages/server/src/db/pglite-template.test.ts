import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDb } from './index.js';
import { loadMigrations, migrateUp } from './migrate.js';
import { buildTemplate, loadTemplate } from './pglite-template.js';

describe('embedded database template', () => {
  it('a new data dir starts from the migrated template; an existing one is opened as it is', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-tpl-'));
    const file = path.join(dir, 'template.tgz');
    expect(await buildTemplate(file)).toBe(true);
    expect(await buildTemplate(file)).toBe(false);

    const dataDir = path.join(dir, 'data');
    const db = await openDb({ databaseUrl: undefined, dataDir }, { templateFile: file });
    expect(await migrateUp(db)).toEqual([]);
    const r = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(r.rows.map((x) => x.version)).toEqual((await loadMigrations()).map((m) => m.version));
    await db.query(`INSERT INTO org_api_tokens (name, token_hash, prefix, created_by) VALUES ('kept', '\\x00', 'p', 't')`);
    await db.close();

    const reopened = await openDb({ databaseUrl: undefined, dataDir }, { templateFile: file });
    expect((await reopened.query('SELECT name FROM org_api_tokens')).rows).toEqual([{ name: 'kept' }]);
    await reopened.close();
    // Builds the template (a fresh PGlite, every migration), then opens the data dir twice: CPU-bound,
    // about 11 s on the CI machine alone and twice that with other suites beside it.
  }, 60_000);

  it('a template built for other migrations is ignored; a missing one is not an error', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-tpl-'));
    const file = path.join(dir, 'template.tgz');
    await writeFile(file, 'not a tarball');
    await writeFile(`${file}.key`, 'some-other-key\n');
    expect(await loadTemplate(file)).toBeUndefined();
    const errors: unknown[] = [];
    await writeFile(`${file}.key`, '\n');
    expect(await loadTemplate(path.join(dir, 'missing.tgz'), (e) => errors.push(e))).toBeUndefined();
    expect(errors).toEqual([]);
  });
});
