import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { provisionTimeoutSweep } from '../loops/sweeps.js';
import { createWs, eventsOf } from '../test-support/api.js';
import { startWithFakeBackend } from '../test-support/fake-provisioner.js';
import type { TestApp } from '../test-support/harness.js';
import { getWorkspace, setStatus } from '../workspaces/repo.js';
import { templateSummary, TemplateManifests, type TemplateCatalog, type TemplateManifest } from './templates.js';
import { advertisedProvisionTimeoutMs, provisionTimeoutFor } from './timeout.js';

/** Writes `templates` (folder -> config.yaml text) under a fresh dir. */
async function templatesDir(templates: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-templates-'));
  for (const [name, yaml] of Object.entries(templates)) {
    await mkdir(path.join(dir, name));
    await writeFile(path.join(dir, name, 'config.yaml'), yaml);
  }
  return dir;
}

const manifest = (runtime: string | null, secs?: unknown) =>
  `name: t\n${runtime ? `runtime: ${runtime}\n` : ''}adapter: echo\n${secs === undefined ? '' : `runtime_config:\n  provision_timeout_seconds: ${String(secs)}\n`}`;

/** A manifest as the catalog holds it, summary included. */
const manifestOf = (name: string, runtime: string, provisionTimeoutSeconds: number | undefined): TemplateManifest => ({
  name,
  runtime,
  provisionTimeoutSeconds,
  maxConcurrentTasks: undefined,
  summary: templateSummary(name, { runtime }, provisionTimeoutSeconds),
  team: [],
});

describe('template manifests and provision timeouts', () => {
  const dirs: string[] = [];
  const dirOf = async (templates: Record<string, string>) => {
    const d = await templatesDir(templates);
    dirs.push(d);
    return d;
  };
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  describe('TemplateManifests', () => {
    it('reads max_concurrent_tasks when it is a whole number in 1..1000, and ignores it otherwise', async () => {
      const dir = await dirOf({ four: 'name: t\nmax_concurrent_tasks: 4\n', zero: 'name: t\nmax_concurrent_tasks: 0\n', words: 'name: t\nmax_concurrent_tasks: many\n', none: 'name: t\n' });
      const byName = (await new TemplateManifests().catalog(dir)).byName;
      expect([...['four', 'zero', 'words', 'none'].map((n) => byName.get(n)?.maxConcurrentTasks)]).toEqual([4, undefined, undefined, undefined]);
    });

    it('C193 reads runtime and runtime_config.provision_timeout_seconds; the largest per runtime wins; loose files and templates without a runtime say nothing about a runtime', async () => {
      const dir = await dirOf({
        'cc-fast': manifest('claude-code', 300),
        'cc-slow': manifest('claude-code', 1200),
        'cc-plain': manifest('claude-code'),
        hermes: manifest('hermes', 720),
        loose: manifest(null, 900),
      });
      await writeFile(path.join(dir, 'README.md'), '# not a template');
      const catalog = await new TemplateManifests().catalog(dir);
      expect(catalog.maxTimeoutByRuntime).toEqual(new Map([['claude-code', 1200], ['hermes', 720]]));
      expect(catalog.byName.get('cc-fast')).toMatchObject({ name: 'cc-fast', runtime: 'claude-code', provisionTimeoutSeconds: 300, maxConcurrentTasks: undefined });
      expect(catalog.byName.get('cc-plain')).toMatchObject({ name: 'cc-plain', runtime: 'claude-code', provisionTimeoutSeconds: undefined, maxConcurrentTasks: undefined });
      // No runtime: its own workspaces still get its timeout; it says nothing about a runtime.
      expect(catalog.byName.get('loose')).toMatchObject({ name: 'loose', runtime: undefined, provisionTimeoutSeconds: 900, maxConcurrentTasks: undefined });
      expect([...catalog.byName.keys()].sort()).toEqual(['cc-fast', 'cc-plain', 'cc-slow', 'hermes', 'loose']);
    });

    it('C193 bad manifests and bad values are skipped and logged once; a missing dir is an empty catalog', async () => {
      const dir = await dirOf({
        broken: 'runtime: [unclosed\n',
        list: '- a\n- b\n',
        zero: manifest('langgraph', 0),
        negative: manifest('langgraph', -5),
        fraction: manifest('langgraph', 1.5),
        text: manifest('langgraph', '"1200"'),
        huge: manifest('langgraph', 10 * 24 * 3600),
        ok: manifest('langgraph', 60),
      });
      await mkdir(path.join(dir, 'empty-folder'));
      const lines: Record<string, unknown>[] = [];
      const log = pino({ level: 'warn' }, new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c))), cb()) }));
      const manifests = new TemplateManifests({ log, ttlMs: 0 });
      const catalog = await manifests.catalog(dir);
      expect(catalog.maxTimeoutByRuntime).toEqual(new Map([['langgraph', 60]]));
      expect(catalog.byName.has('broken')).toBe(false);
      expect(catalog.byName.has('list')).toBe(false);
      expect(catalog.byName.get('zero')?.provisionTimeoutSeconds).toBeUndefined();
      expect(new Set(lines.map((l) => l.template))).toEqual(new Set(['broken', 'list', 'zero', 'negative', 'fraction', 'text', 'huge']));
      const count = lines.length;
      await manifests.catalog(dir);
      expect(lines.length).toBe(count);
      expect(await new TemplateManifests().catalog(path.join(dir, 'no-such-dir'))).toEqual({ byName: new Map(), maxTimeoutByRuntime: new Map() });
    });

    it('is cached for its TTL, shared by concurrent readers, and re-read after it', async () => {
      const dir = await dirOf({ cc: manifest('claude-code', 1200) });
      let now = 0;
      const manifests = new TemplateManifests({ ttlMs: 30_000, now: () => now });
      const [a, b] = await Promise.all([manifests.catalog(dir), manifests.catalog(dir)]);
      expect(a).toBe(b);
      await writeFile(path.join(dir, 'cc', 'config.yaml'), manifest('claude-code', 1500));
      now = 29_999;
      expect((await manifests.catalog(dir)).maxTimeoutByRuntime.get('claude-code')).toBe(1200);
      now = 30_000;
      expect((await manifests.catalog(dir)).maxTimeoutByRuntime.get('claude-code')).toBe(1500);
    });
  });

  describe('provisionTimeoutFor', () => {
    const catalog: TemplateCatalog = {
      byName: new Map([
        ['cc-slow', manifestOf('cc-slow', 'claude-code', 1200)],
        ['cc-own', manifestOf('cc-own', 'claude-code', 240)],
        ['h', manifestOf('h', 'hermes', 720)],
        ['echo', manifestOf('echo', 'molecule', undefined)],
      ]),
      maxTimeoutByRuntime: new Map([
        ['claude-code', 1200],
        ['hermes', 720],
      ]),
    };
    const noEnv = { provisionTimeoutSeconds: undefined };

    it('C162 C167 C169 env beats the template, which beats the runtime default, which beats 10 min (the one accessor the sweep and the API share)', () => {
      expect(provisionTimeoutFor({ provisionTimeoutSeconds: 90 }, catalog, { runtime: 'claude-code', template: 'cc-slow' })).toEqual({ seconds: 90, source: 'env' });
      expect(provisionTimeoutFor(noEnv, catalog, { runtime: 'claude-code', template: null })).toEqual({ seconds: 1200, source: 'template' });
      // Its own template's declaration is the most specific answer, even when smaller.
      expect(provisionTimeoutFor(noEnv, catalog, { runtime: 'claude-code', template: 'cc-own' })).toEqual({ seconds: 240, source: 'template' });
      // A manifest beats the hermes built-in too.
      expect(provisionTimeoutFor(noEnv, catalog, { runtime: 'hermes', template: null })).toEqual({ seconds: 720, source: 'template' });
      expect(provisionTimeoutFor(noEnv, { byName: new Map(), maxTimeoutByRuntime: new Map() }, { runtime: 'hermes', template: null })).toEqual({ seconds: 1800, source: 'runtime' });
      expect(provisionTimeoutFor(noEnv, catalog, { runtime: 'molecule', template: 'echo' })).toEqual({ seconds: 600, source: 'default' });
      expect(provisionTimeoutFor(noEnv, catalog, { runtime: 'molecule', template: 'gone-template' })).toEqual({ seconds: 600, source: 'default' });
    });

    it('C162 the API advertises the timeout only when declared (or set by the operator), in ms', () => {
      expect(advertisedProvisionTimeoutMs(noEnv, catalog, { runtime: 'claude-code', template: null })).toBe(1_200_000);
      expect(advertisedProvisionTimeoutMs(noEnv, catalog, { runtime: 'molecule', template: 'echo' })).toBeUndefined();
      expect(advertisedProvisionTimeoutMs({ provisionTimeoutSeconds: 90 }, catalog, { runtime: 'molecule', template: 'echo' })).toBe(90_000);
    });
  });

  describe('through the platform', () => {
    let t: TestApp;
    beforeAll(async () => {
      const dir = await dirOf({ cc: manifest('claude-code', 1200), echo: manifest('molecule') });
      ({ t } = await startWithFakeBackend({ config: { templatesDir: dir } }));
    });
    afterAll(async () => t?.close());

    const age = (id: string, minutes: number) =>
      t.db.query(`UPDATE workspaces SET updated_at = now() - make_interval(mins => $2) WHERE id = $1`, [id, minutes]);

    it('C167 a claude-code row is spared at 11 min under a template declaring 1200 s, and flipped at 21 min with timeout_secs 1200', async () => {
      const ws = await createWs(t, { name: 'to-cc', runtime: 'claude-code' });
      await expect.poll(async () => (await getWorkspace(t.db, ws.id))!.instance_id).not.toBeNull();
      await setStatus(t.db, ws.id, Status.Provisioning);
      await age(ws.id, 11);
      const before = await getWorkspace(t.db, ws.id);
      const eventsBefore = await eventsOf(t, ws.id);
      expect(await provisionTimeoutSweep(t.deps, t.db)).toBe(0);
      expect(await getWorkspace(t.db, ws.id)).toEqual(before);
      expect(await eventsOf(t, ws.id)).toEqual(eventsBefore);

      await age(ws.id, 21);
      expect(await provisionTimeoutSweep(t.deps, t.db)).toBe(1);
      const row = (await getWorkspace(t.db, ws.id))!;
      expect(row.status).toBe(Status.Failed);
      expect(row.last_sample_error).toMatch(/never registered within 1200 s/);
      expect((await eventsOf(t, ws.id)).at(-1)).toEqual({
        event_type: 'WORKSPACE_PROVISION_FAILED',
        payload: { error: row.last_sample_error, timeout_secs: 1200, runtime: 'claude-code', source: 'provision_timeout_sweep' },
      });
    });

    it('C167 a runtime no template declares keeps the 10-minute default', async () => {
      const ws = await createWs(t, { name: 'to-lg', runtime: 'langgraph' });
      await expect.poll(async () => (await getWorkspace(t.db, ws.id))!.instance_id).not.toBeNull();
      await setStatus(t.db, ws.id, Status.Provisioning);
      await age(ws.id, 11);
      expect(await provisionTimeoutSweep(t.deps, t.db)).toBe(1);
      expect((await eventsOf(t, ws.id)).at(-1)!.payload).toMatchObject({ timeout_secs: 600, runtime: 'langgraph' });
    });

    it('C162 GET /workspaces and GET /workspaces/:id carry provision_timeout_ms when declared; the key is absent otherwise', async () => {
      const cc = await createWs(t, { name: 'api-cc', runtime: 'claude-code' });
      const plain = await createWs(t, { name: 'api-plain', template: 'echo' });
      const one = async (id: string) => (await t.app.inject({ method: 'GET', url: `/workspaces/${id}`, headers: t.admin })).json() as Record<string, unknown>;
      expect((await one(cc.id)).provision_timeout_ms).toBe(1_200_000);
      expect(Object.keys(await one(plain.id))).not.toContain('provision_timeout_ms');
      const list = (await t.app.inject({ method: 'GET', url: '/workspaces', headers: t.admin })).json() as Record<string, unknown>[];
      expect(list.find((w) => w.id === cc.id)!.provision_timeout_ms).toBe(1_200_000);
      expect(Object.keys(list.find((w) => w.id === plain.id)!)).not.toContain('provision_timeout_ms');
      const spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, { get?: unknown }> };
      expect(JSON.stringify(spec.paths['/workspaces']!.get)).toContain('provision_timeout_ms');
      expect(JSON.stringify(spec.paths['/workspaces/{id}']!.get)).toContain('provision_timeout_ms');
    });
  });
});
