import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle } from '@molecule/contracts';
import { DEFAULT_TEMPLATES_DIR } from '../provisioning/templates.js';
import { countRows, createWs, sender } from '../test-support/api.js';
import { fakeProvisioner } from '../test-support/fake-provisioner.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';

/** Bundle export and import, on PGlite (api.test.ts) and on real PostgreSQL (api.int.test.ts). */
export function bundleApiSuite(kind: DbKind): void {
  describe(`bundles on ${kind}`, () => {
    let t: TestApp;
    let dir: string;
    beforeAll(async () => {
      // Imports write templates: a copy of the shipped ones, never the repository's folder.
      dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-bundle-templates-'));
      await cp(DEFAULT_TEMPLATES_DIR, dir, { recursive: true });
      await mkdir(path.join(dir, 'bundle-tpl'));
      await writeFile(path.join(dir, 'bundle-tpl', 'config.yaml'), 'name: Bundled\nruntime: molecule\nadapter: echo\n');
      const fake = fakeProvisioner();
      t = await startTestApp({ kind, config: { provisioner: 'docker', templatesDir: dir }, tweak: (deps) => void (deps.provisioner = fake.prov) });
    });
    afterAll(async () => {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    });

    const send = sender(() => t);

    it('exports a live subtree (config, templates, schedules, secret names, never values) and imports it back as a new org', async () => {
      const lead = await createWs(t, { name: 'b-lead', role: 'leads', template: 'delegator', model: 'anthropic:claude-sonnet-4-5', tier: 3, budget_limit: 500 });
      const worker = await createWs(t, { name: 'worker', parent_id: lead.id, template: 'bundle-tpl', max_concurrent_tasks: 3 });
      const gone = await createWs(t, { name: 'b-removed', parent_id: lead.id });
      await send('DELETE', `/workspaces/${gone.id}`);
      expect((await send('POST', `/workspaces/${worker.id}/schedules`, { name: 'nightly', cron_expr: '0 2 * * *', timezone: 'Europe/Paris', prompt: 'tidy up' })).statusCode).toBe(201);
      expect((await send('PUT', `/workspaces/${lead.id}/secrets`, { key: 'LEAD_API_TOKEN', value: 'very-secret-value' })).statusCode).toBe(200);

      const r = await send('GET', `/bundles/export/${lead.id}`);
      expect(r.statusCode, r.body).toBe(200);
      expect(r.headers['content-disposition']).toBe('attachment; filename="b-lead.molecule-bundle.json"');
      expect(r.body).not.toContain('very-secret-value');
      const bundle = r.json() as Bundle;
      expect(bundle).toMatchObject({ schema: 'molecule.bundle/1', source_workspace_id: lead.id });
      expect(bundle.org).toEqual({
        name: 'b-lead',
        workspaces: [
          {
            name: 'b-lead',
            role: 'leads',
            runtime: 'molecule',
            template: 'delegator',
            model: 'anthropic:claude-sonnet-4-5',
            tier: 3,
            max_concurrent_tasks: 4,
            budget_limit: 500,
            recommended_env: ['LEAD_API_TOKEN'],
            children: [
              {
                name: 'worker',
                runtime: 'molecule',
                template: 'bundle-tpl',
                tier: 2,
                max_concurrent_tasks: 3,
                schedules: [{ name: 'nightly', cron_expr: '0 2 * * *', timezone: 'Europe/Paris', prompt: 'tidy up', enabled: true }],
              },
            ],
          },
        ],
      });
      expect(Object.keys(bundle.templates).sort()).toEqual(['bundle-tpl', 'delegator']);
      expect(bundle.templates['bundle-tpl']).toEqual({ 'config.yaml': 'name: Bundled\nruntime: molecule\nadapter: echo\n' });

      // The local bundle-tpl changes: the import writes the bundle's own copy beside it and uses that.
      await writeFile(path.join(dir, 'bundle-tpl', 'config.yaml'), 'name: Changed locally\nruntime: molecule\nadapter: echo\n');
      const imported = await send('POST', '/bundles/import', bundle);
      expect(imported.statusCode, imported.body).toBe(201);
      const result = imported.json() as { workspaces: { id: string; name: string; parent_id: string | null }[]; templates_installed: { name: string; installed_as: string }[] };
      expect(result.templates_installed).toEqual([{ name: 'bundle-tpl', installed_as: expect.stringMatching(/^bundle-tpl-[0-9a-f]{8}$/) }]);
      const copy = result.templates_installed[0]!.installed_as;
      const [newLead, newWorker] = result.workspaces;
      expect(newLead!.id).not.toBe(lead.id);
      expect(newWorker).toMatchObject({ name: 'worker', parent_id: newLead!.id });

      // Round trip: exporting the copy gives the same org (the template under its new name).
      const again = (await send('GET', `/bundles/export/${newLead!.id}`)).json() as Bundle;
      const expected = structuredClone(bundle.org);
      expected.workspaces[0]!.children![0]!.template = copy;
      delete expected.workspaces[0]!.recommended_env; // secret values (and so keys) are not carried over
      expect(again.org).toEqual(expected);
      expect(again.templates[copy]).toEqual(bundle.templates['bundle-tpl']);

      // Importing the same bundle again reuses the copy written the first time.
      const third = await send('POST', '/bundles/import', bundle);
      expect(third.statusCode).toBe(201);
      expect(third.json().templates_installed).toEqual([]);
    });

    it('answers each bad export or import with a clear 4xx and writes nothing', async () => {
      const ws = await createWs(t, { name: 'bad-bundle-src', template: 'echo' });
      const good = (await send('GET', `/bundles/export/${ws.id}`)).json() as Bundle;
      const removed = await createWs(t, { name: 'bad-bundle-removed' });
      await send('DELETE', `/workspaces/${removed.id}`);
      const templatesBefore = (await readdir(dir)).sort();
      const rowsBefore = await countRows(t, 'workspaces');
      const cases: [string, string, unknown, number, string | RegExp][] = [
        ['GET', '/bundles/export/00000000-0000-4000-8000-000000000000', undefined, 404, 'workspace not found'],
        ['GET', `/bundles/export/${removed.id}`, undefined, 410, /removed/],
        ['GET', '/bundles/export/nope', undefined, 400, /invalid workspace ID/],
        ['POST', '/bundles/import', { ...good, schema: 'other/9' }, 400, /schema must be "molecule.bundle\/1"/],
        ['POST', '/bundles/import', { ...good, templates: { evil: { '../../escape.yaml': 'x', 'config.yaml': 'name: e\n' } } }, 400, /must not contain "\." or "\.\." segments/],
        ['POST', '/bundles/import', { ...good, templates: { evil: { 'config.yaml': 'runtime: cobol\n' } } }, 400, /unknown runtime/],
        ['POST', '/bundles/import', { ...good, templates: { '../up': { 'config.yaml': 'name: e\n' } } }, 400, /.+/],
        ['POST', '/bundles/import', { ...good, org: { ...good.org, workspaces: [{ name: 'x', template: 'not-anywhere' }] }, templates: { fresh: { 'config.yaml': 'name: f\n' } } }, 400, /unknown template "not-anywhere"/],
        ['POST', '/bundles/import', { ...good, org: { ...good.org, workspaces: [{ name: 'x', template: 'fresh' }, { name: 'x' }] }, templates: { fresh: { 'config.yaml': 'name: f\n' } } }, 400, /used twice/],
        ['POST', '/bundles/import', { ...good, org: { ...good.org, required_env: ['NOT_SET_ANYWHERE'] }, templates: { fresh: { 'config.yaml': 'name: f\n' } } }, 412, 'missing required environment variables'],
      ];
      for (const [method, url, payload, status, message] of cases) {
        const r = await send(method as 'GET', url, payload);
        expect(r.statusCode, `${method} ${url} ${r.body}`).toBe(status);
        const err = (r.json() as { error: string }).error;
        if (typeof message === 'string') expect(err).toBe(message);
        else expect(err).toMatch(message);
      }
      expect((await send('GET', `/bundles/export/${ws.id}`, undefined, {})).statusCode).toBe(401);
      expect((await send('POST', '/bundles/import', good, {})).statusCode).toBe(401);
      expect((await readdir(dir)).sort()).toEqual(templatesBefore);
      expect(await countRows(t, 'workspaces')).toBe(rowsBefore);
    });
  });
}
