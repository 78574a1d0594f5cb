import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createExternal } from '../test-support/api.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { TemplateManifests } from './templates.js';

const FULL = `name: Research team lead
description: Plans the work and hands it out.
tier: 3
runtime: langgraph
model: anthropic:claude-sonnet-4-5
runtime_config:
  provision_timeout_seconds: 900
  required_env: [ANTHROPIC_API_KEY]
  providers: [anthropic, openrouter]
  models:
    - id: anthropic:claude-sonnet-4-5
      name: Sonnet
      required_env: [ANTHROPIC_API_KEY]
    - id: broken-entry-without-id-is-left-out
      nameless: true
    - name: no id
skills:
  - name: Plan
  - Research
  - { description: no name }
providers:
  zeta:
    auth_env: [ZETA_KEY]
    model_prefixes: [zeta/]
    base_url: https://api.zeta.example/v1
  alpha:
    auth_env: [ALPHA_KEY]
    model_aliases: [a1]
    base_url: null
`;

describe('GET /templates', () => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-templates-api-'));
    const write = async (name: string, yaml: string) => {
      await mkdir(path.join(dir, name));
      await writeFile(path.join(dir, name, 'config.yaml'), yaml);
    };
    await write('lead', FULL);
    await write('plain', 'name: Plain\nruntime_config:\n  model: openai:gpt-4o-mini\n');
    await write('broken', 'name: [unclosed\n');
    await mkdir(path.join(dir, 'no-config'));
    await writeFile(path.join(dir, 'loose-file.yaml'), 'name: loose\n');
    t = await startTestApp({ config: { templatesDir: dir } });
  });
  afterAll(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('C189 C190 C191 lists every template folder with a config.yaml: summary, provision timeout, providers and the ordered provider registry', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/templates', headers: t.admin });
    expect(r.statusCode).toBe(200);
    const list = r.json() as Record<string, unknown>[];
    expect(list.map((x) => x.id)).toEqual(['lead', 'plain']);
    expect(list[0]).toEqual({
      id: 'lead',
      name: 'Research team lead',
      description: 'Plans the work and hands it out.',
      tier: 3,
      runtime: 'langgraph',
      model: 'anthropic:claude-sonnet-4-5',
      models: [{ id: 'anthropic:claude-sonnet-4-5', name: 'Sonnet', required_env: ['ANTHROPIC_API_KEY'] }, { id: 'broken-entry-without-id-is-left-out' }],
      required_env: ['ANTHROPIC_API_KEY'],
      skills: ['Plan', 'Research'],
      skill_count: 2,
      provision_timeout_seconds: 900,
      providers: ['anthropic', 'openrouter'],
      // File order kept; a null base_url is "" (C191).
      provider_registry: [
        { name: 'zeta', auth_env: ['ZETA_KEY'], model_prefixes: ['zeta/'], model_aliases: [], base_url: 'https://api.zeta.example/v1' },
        { name: 'alpha', auth_env: ['ALPHA_KEY'], model_prefixes: [], model_aliases: ['a1'], base_url: '' },
      ],
    });
    // No registry block: the field is absent, never null (C190); the model falls back to runtime_config.model.
    expect(list[1]).toEqual({ id: 'plain', name: 'Plain', description: '', runtime: '', model: 'openai:gpt-4o-mini', skills: [], skill_count: 0, providers: [] });
  });

  it('C192 a template whose config.yaml does not parse is left out with a log line naming it; the rest are listed', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'warn' }, new Writable({ write: (c, _e, cb) => (lines.push(JSON.parse(String(c))), cb()) }));
    const catalog = await new TemplateManifests({ log }).catalog(dir);
    expect([...catalog.byName.keys()].sort()).toEqual(['lead', 'plain']);
    expect(lines).toContainEqual(expect.objectContaining({ template: 'broken', msg: expect.stringMatching(/unreadable; skipped/) }));
  });

  it('is for admins: no credential 401, a workspace token 403', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/templates' })).statusCode).toBe(401);
    const w = await createExternal(t, { name: 'tpl-reader' });
    expect((await t.app.inject({ method: 'GET', url: '/templates', headers: bearer(w.token) })).statusCode).toBe(403);
  });
});
