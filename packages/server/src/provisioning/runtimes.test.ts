import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIME_NAMES, RUNTIMES, runtimeImageEnv } from '@molecule/contracts';
import { loadConfig } from '../config.js';
import { countRows, createWs, json } from '../test-support/api.js';
import { startWithFakeBackend, type FakeBackend } from '../test-support/fake-provisioner.js';
import type { TestApp } from '../test-support/harness.js';
import { runtimeSupport, runtimeSupportList } from './runtimes.js';

describe('runtime registry (issue #16)', () => {
  it('RUNTIMES is the registry: every name has an entry, WORKSPACE_IMAGE_<RUNTIME> names are env-safe', () => {
    expect(RUNTIMES).toEqual(RUNTIME_NAMES);
    expect(RUNTIMES).toContain('openai-agents');
    expect(runtimeImageEnv('claude-code')).toBe('WORKSPACE_IMAGE_CLAUDE_CODE');
    expect(runtimeImageEnv('langgraph')).toBe('WORKSPACE_IMAGE_LANGGRAPH');
  });

  it('the process backend runs only runtimes with an adapter; the refusal names the runtime and what would run it', () => {
    expect(runtimeSupport('process', 'claude-code')).toMatchObject({ runnable: true, runs_with: 'molecule-agent (adapter claude-code)', required_env: ['ANTHROPIC_API_KEY'] });
    expect(runtimeSupport('process', 'gemini-cli')).toMatchObject({ runnable: true, runs_with: 'molecule-agent (adapter acp)' });
    const crewai = runtimeSupport('process', 'crewai')!;
    expect(crewai.runnable).toBe(false);
    expect(crewai.reason).toMatch(/"crewai".*WORKSPACE_IMAGE_CREWAI/);
    expect(runtimeSupport('process', 'external')).toMatchObject({ runnable: true, runs_with: 'external' });
    expect(runtimeSupport('process', 'no-such')).toBeUndefined();
    expect(runtimeSupport('process', 'constructor')).toBeUndefined();
  });

  it('Docker runs adapter runtimes in the runtime image and any runtime mapped to an image; the control plane is passed every runtime', () => {
    expect(runtimeSupport('docker', 'gemini-cli')).toMatchObject({ runnable: true, runs_with: expect.stringMatching(/runtime image/) });
    expect(runtimeSupport('docker', 'claude-code')).toMatchObject({ runnable: false, reason: expect.stringMatching(/WORKSPACE_IMAGE_CLAUDE_CODE/) });
    expect(runtimeSupport('process', 'codex')).toMatchObject({ runnable: true });
    expect(runtimeSupport('docker', 'codex')).toMatchObject({ runnable: false, reason: expect.stringMatching(/WORKSPACE_IMAGE_CODEX/) });
    expect(runtimeSupport('process', 'crewai')).toMatchObject({ runnable: false, reason: expect.stringMatching(/WORKSPACE_IMAGE_CREWAI/) });
    expect(runtimeSupport('docker', 'hermes')).toMatchObject({ runnable: false, reason: expect.stringMatching(/WORKSPACE_IMAGE_HERMES/) });
    expect(runtimeSupport('docker', 'hermes', { hermes: 'nous/hermes:1' })).toMatchObject({ runnable: true, runs_with: 'image nous/hermes:1' });
    expect(runtimeSupportList('controlplane').every((r) => r.runnable)).toBe(true);
    expect(runtimeSupportList('process').map((r) => r.name)).toEqual([...RUNTIMES]);
  });

  it('WORKSPACE_IMAGE_<RUNTIME> maps runtimes to images; a bad reference is a warning, WORKSPACE_IMAGE_LOCAL_OVERRIDE is no runtime', () => {
    const { config, warnings } = loadConfig({ WORKSPACE_IMAGE_CREWAI: 'ghcr.io/acme/crewai:1.2', WORKSPACE_IMAGE_HERMES: 'Not An Image!', WORKSPACE_IMAGE_LOCAL_OVERRIDE: '1' });
    expect(config.runtimeImages).toEqual({ crewai: 'ghcr.io/acme/crewai:1.2' });
    expect(warnings).toContainEqual(expect.objectContaining({ variable: 'WORKSPACE_IMAGE_HERMES', reason: 'not an image reference' }));
  });
});

describe('creating a workspace with a runtime the backend cannot run (issue #16)', () => {
  let t: TestApp;
  let fake: FakeBackend;
  beforeAll(async () => {
    ({ t, fake } = await startWithFakeBackend({ config: { provisioner: 'process' } }));
  });
  afterAll(async () => t.close());

  const post = (url: string, payload: unknown) => t.app.inject({ method: 'POST', url, headers: { ...t.admin, ...json }, payload: payload as string });

  it('a known runtime without an adapter answers 400 naming it and WORKSPACE_IMAGE_<RUNTIME>, before any row is written', async () => {
    const before = await countRows(t, 'workspaces');
    const events = await countRows(t, 'structure_events');
    const r = await post('/workspaces', { name: 'crew', runtime: 'crewai' });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatch(/runtime "crewai".*WORKSPACE_IMAGE_CREWAI/);
    expect(await countRows(t, 'workspaces')).toBe(before);
    expect(await countRows(t, 'structure_events')).toBe(events);
  });

  it('an unknown runtime answers 400 and writes nothing', async () => {
    const before = await countRows(t, 'workspaces');
    const r = await post('/workspaces', { name: 'odd', runtime: 'no-such-runtime' });
    expect(r.statusCode).toBe(400);
    expect(await countRows(t, 'workspaces')).toBe(before);
  });

  it('an org import with one unrunnable workspace creates none of them', async () => {
    const before = await countRows(t, 'workspaces');
    const r = await post('/org/import', { template: { name: 'mixed', workspaces: [{ name: 'ok-one' }, { name: 'hermes-one', runtime: 'hermes' }] } });
    expect(r.statusCode).toBe(400);
    expect(r.body).toMatch(/hermes/);
    expect(await countRows(t, 'workspaces')).toBe(before);
  });

  it('GET /runtimes says what this backend can run, with required keys and the reason for the rest; it needs the admin', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/runtimes', headers: t.admin });
    expect(r.statusCode).toBe(200);
    const list = r.json() as { name: string; runnable: boolean; reason?: string; required_env: string[] }[];
    expect(list.map((x) => x.name)).toEqual([...RUNTIMES]);
    expect(list.find((x) => x.name === 'claude-code')).toMatchObject({ runnable: true, required_env: ['ANTHROPIC_API_KEY'] });
    expect(list.find((x) => x.name === 'crewai')).toMatchObject({ runnable: false, reason: expect.stringMatching(/WORKSPACE_IMAGE_CREWAI/) });
    expect((await t.app.inject({ method: 'GET', url: '/runtimes' })).statusCode).toBe(401);
  });

  it('a runtime with an adapter is created and started with MOLECULE_RUNTIME naming it', async () => {
    const ws = await createWs(t, { name: 'cc', runtime: 'claude-code' });
    expect(ws.runtime).toBe('claude-code');
    await expect.poll(() => fake.specs.find((s) => s.workspace.id === ws.id)?.env.MOLECULE_RUNTIME).toBe('claude-code');
  });
});

describe('Docker with a runtime mapped to an image (issue #16)', () => {
  let t: TestApp;
  beforeAll(async () => {
    ({ t } = await startWithFakeBackend({ config: { provisioner: 'docker', runtimeImages: { hermes: 'nous/hermes:1' } } }));
  });
  afterAll(async () => t.close());

  it('a mapped runtime is created; an unmapped one without an adapter is refused naming its env variable', async () => {
    expect((await createWs(t, { name: 'herm', runtime: 'hermes' })).runtime).toBe('hermes');
    const r = await t.app.inject({ method: 'POST', url: '/workspaces', headers: { ...t.admin, ...json }, payload: { name: 'oc', runtime: 'openclaw' } });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatch(/WORKSPACE_IMAGE_OPENCLAW/);
  });
});
