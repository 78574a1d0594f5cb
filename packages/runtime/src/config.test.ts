import { chmod, mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig } from './config.js';
import { configsDir, WORKSPACE_ID } from './test-support/agent.js';

const PLATFORM = { PLATFORM_URL: 'http://127.0.0.1:8080', WORKSPACE_ID, MOLECULE_WORKSPACE_TOKEN: 'tok' };

async function issuesOf(env: Record<string, string>): Promise<{ field: string; message: string }[]> {
  const err = await loadConfig(env).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).issues;
}

describe('config: environment', () => {
  it('applies defaults for everything unset, standalone without a platform', async () => {
    const dir = await configsDir('');
    const c = await loadConfig({ MOLECULE_CONFIGS_DIR: dir });
    expect(c).toMatchObject({
      platformUrl: undefined,
      workspaceId: undefined,
      host: '127.0.0.1',
      port: 8000,
      token: undefined,
      tokenSource: 'none',
      heartbeatIntervalMs: 20_000,
      logLevel: 'info',
      configsDir: dir,
      workspaceDir: '/workspace',
      fileReadRoots: [dir, '/workspace'],
    });
    expect(c.workspace).toMatchObject({ name: 'Workspace', adapter: 'echo', max_concurrent_tasks: 1, skills: [], capabilities: {} });
  });

  it('C014: heartbeats every 20 s by default, MOLECULE_HEARTBEAT_INTERVAL_SECONDS overrides', async () => {
    const dir = await configsDir('');
    expect(DEFAULTS.heartbeatIntervalSeconds).toBe(20);
    expect((await loadConfig({ MOLECULE_CONFIGS_DIR: dir, MOLECULE_HEARTBEAT_INTERVAL_SECONDS: '5' })).heartbeatIntervalMs).toBe(5000);
  });

  it('reads every variable the provisioner sets', async () => {
    const dir = await configsDir('model: from-file\n');
    const parent = '0b7f4d5e-6a1c-4c2b-9d3e-7f8a9b0c1d2e';
    const c = await loadConfig({
      ...PLATFORM,
      PLATFORM_URL: 'http://platform.local:8080/',
      PORT: '0',
      HOST: '0.0.0.0',
      PARENT_ID: parent,
      MODEL: 'openai:gpt-test',
      MOLECULE_CONFIGS_DIR: dir,
      MOLECULE_WORKSPACE_DIR: '/tmp/ws',
      MOLECULE_WORKSPACE_URL: 'https://ws.example.com',
      MOLECULE_FILE_READ_ROOTS: '/tmp/ws:/plugins',
      LOG_LEVEL: 'debug',
    });
    expect(c).toMatchObject({
      platformUrl: 'http://platform.local:8080',
      workspaceId: WORKSPACE_ID,
      port: 0,
      host: '0.0.0.0',
      parentId: parent,
      token: 'tok',
      tokenSource: 'env',
      workspaceDir: '/tmp/ws',
      publicUrl: 'https://ws.example.com',
      fileReadRoots: ['/tmp/ws', '/plugins'],
      logLevel: 'debug',
    });
    expect(c.workspace.model).toBe('openai:gpt-test');
  });

  it('takes the token from <configs dir>/.auth_token when the env var is absent', async () => {
    const dir = await configsDir('', { '.auth_token': 'file-token\n' });
    const c = await loadConfig({ ...PLATFORM, MOLECULE_WORKSPACE_TOKEN: '', MOLECULE_CONFIGS_DIR: dir });
    expect(c).toMatchObject({ token: 'file-token', tokenSource: 'file' });
  });

  it('prefers MOLECULE_WORKSPACE_TOKEN over the file', async () => {
    const dir = await configsDir('', { '.auth_token': 'file-token' });
    expect((await loadConfig({ ...PLATFORM, MOLECULE_CONFIGS_DIR: dir })).token).toBe('tok');
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ WORKSPACE_ID: 'not-a-uuid' }, 'WORKSPACE_ID'],
    [{ PARENT_ID: '42' }, 'PARENT_ID'],
    [{ PLATFORM_URL: 'ftp://x' }, 'PLATFORM_URL'],
    [{ PLATFORM_URL: 'not a url' }, 'PLATFORM_URL'],
    [{ MOLECULE_WORKSPACE_URL: 'nope' }, 'MOLECULE_WORKSPACE_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ MOLECULE_HEARTBEAT_INTERVAL_SECONDS: '0' }, 'MOLECULE_HEARTBEAT_INTERVAL_SECONDS'],
    [{ MOLECULE_HEARTBEAT_INTERVAL_SECONDS: '1.5' }, 'MOLECULE_HEARTBEAT_INTERVAL_SECONDS'],
    [{ MOLECULE_FILE_READ_ROOTS: '/plugins:relative/dir' }, 'MOLECULE_FILE_READ_ROOTS'],
  ])('rejects %j naming %s', async (env, field) => {
    const dir = await configsDir('');
    const issues = await issuesOf({ ...PLATFORM, MOLECULE_CONFIGS_DIR: dir, ...env });
    expect(issues.map((i) => i.field)).toEqual([field]);
  });

  it('requires WORKSPACE_ID and a token once a platform is configured', async () => {
    const dir = await configsDir('');
    const issues = await issuesOf({ PLATFORM_URL: 'http://127.0.0.1:8080', MOLECULE_CONFIGS_DIR: dir });
    expect(issues.map((i) => i.field).sort()).toEqual(['MOLECULE_WORKSPACE_TOKEN', 'WORKSPACE_ID']);
    expect(issues.find((i) => i.field === 'MOLECULE_WORKSPACE_TOKEN')!.message).toContain('.auth_token');
  });

  it('reports every bad field at once, in a message that names them', async () => {
    const dir = await configsDir('max_concurrent_tasks: 0\n');
    const err = (await loadConfig({ MOLECULE_CONFIGS_DIR: dir, PORT: 'x' }).catch((e: unknown) => e)) as ConfigError;
    expect(err.message).toMatch(/PORT: must be a whole number/);
    expect(err.message).toMatch(/config\.yaml max_concurrent_tasks:/);
  });
});

describe('config: task slots', () => {
  it('MOLECULE_MAX_CONCURRENT_TASKS (what the platform passes, the row\'s value) wins over config.yaml', async () => {
    const dir = await configsDir('max_concurrent_tasks: 4\n');
    expect((await loadConfig({ MOLECULE_CONFIGS_DIR: dir })).workspace.max_concurrent_tasks).toBe(4);
    expect((await loadConfig({ MOLECULE_CONFIGS_DIR: dir, MOLECULE_MAX_CONCURRENT_TASKS: '2' })).workspace.max_concurrent_tasks).toBe(2);
  });

  it.each(['0', '1001', 'two', '1.5'])('MOLECULE_MAX_CONCURRENT_TASKS=%s is refused, named', async (v) => {
    const dir = await configsDir('name: x\n');
    expect(await issuesOf({ MOLECULE_CONFIGS_DIR: dir, MOLECULE_MAX_CONCURRENT_TASKS: v })).toContainEqual(expect.objectContaining({ field: 'MOLECULE_MAX_CONCURRENT_TASKS' }));
  });
});

describe('config: config.yaml', () => {
  it('parses every documented field', async () => {
    const dir = await configsDir(
      [
        'name: Researcher',
        'description: Finds things out',
        'runtime: molecule',
        'tier: 2',
        'adapter: echo',
        'model: anthropic:claude-test',
        'system_prompt: You are careful.',
        'skills:',
        '  - web-search',
        '  - { name: Summarise, description: Short summaries, tags: [text] }',
        'max_concurrent_tasks: 3',
        'capabilities: [session, status_mgmt]',
        'idle_timeout_seconds: 600',
      ].join('\n'),
    );
    const { workspace } = await loadConfig({ MOLECULE_CONFIGS_DIR: dir });
    expect(workspace).toEqual({
      name: 'Researcher',
      description: 'Finds things out',
      version: '1.0.0',
      adapter: 'echo',
      model: 'anthropic:claude-test',
      system_prompt: 'You are careful.',
      skills: [
        { id: 'web-search', name: 'web-search', description: '', tags: [], examples: [] },
        { id: 'summarise', name: 'Summarise', description: 'Short summaries', tags: ['text'], examples: [] },
      ],
      max_concurrent_tasks: 3,
      capabilities: { session: true, status_mgmt: true },
      idle_timeout_seconds: 600,
      script: undefined,
      base_url: undefined,
      max_tokens: 4096,
      model_timeout_seconds: 300,
      openai_agents: undefined,
      langgraph: undefined,
      acp: undefined,
    });
  });

  it('accepts capabilities as a map and treats idle_timeout_seconds 0 as unset (C032)', async () => {
    const dir = await configsDir('capabilities: { heartbeat: false, retry: true }\nidle_timeout_seconds: 0\n');
    const { workspace } = await loadConfig({ MOLECULE_CONFIGS_DIR: dir });
    expect(workspace.capabilities).toEqual({ heartbeat: false, retry: true });
    expect(workspace.idle_timeout_seconds).toBeUndefined();
  });

  it('loads every template the repository ships', async () => {
    const root = fileURLToPath(new URL('../../../templates/', import.meta.url));
    const names = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['echo', 'assistant', 'delegator']));
    // LLM templates need a key to start; any key will do for loading.
    for (const name of names) await loadConfig({ MOLECULE_CONFIGS_DIR: path.join(root, name), ANTHROPIC_API_KEY: 'k', OPENAI_API_KEY: 'k' });
    expect((await loadConfig({ MOLECULE_CONFIGS_DIR: path.join(root, 'echo') })).workspace).toMatchObject({ name: 'Echo', adapter: 'echo' });
    const assistant = (dir: string, env: Record<string, string>) => loadConfig({ MOLECULE_CONFIGS_DIR: path.join(root, dir), ...env });
    expect((await assistant('assistant', { ANTHROPIC_API_KEY: 'k' })).workspace.adapter).toBe('anthropic');
    expect((await assistant('assistant', { OPENAI_API_KEY: 'k' })).workspace.adapter).toBe('openai');
  });

  it('uses defaults when config.yaml is missing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-agent-'));
    const c = await loadConfig({ MOLECULE_CONFIGS_DIR: dir });
    expect(c.configFileFound).toBe(false);
    expect(c.workspace.adapter).toBe('echo');
  });

  it('loads a script inline (steps shorthand) and from script_file (rules)', async () => {
    const inline = await configsDir('adapter: script\nscript:\n  - reply: hi\n  - delay_ms: 5\n');
    expect((await loadConfig({ MOLECULE_CONFIGS_DIR: inline })).workspace.script).toEqual([
      { match: undefined, steps: [{ reply: 'hi' }, { delay_ms: 5 }] },
    ]);
    const tools = await configsDir('adapter: script\nscript:\n  - tool: { name: Read, input: a.md, output: x }\n  - reply: ok\n');
    expect((await loadConfig({ MOLECULE_CONFIGS_DIR: tools })).workspace.script).toEqual([
      { match: undefined, steps: [{ tool: { name: 'Read', input: 'a.md', output: 'x' } }, { reply: 'ok' }] },
    ]);
    const delegating = await configsDir('adapter: script\nscript:\n  - delegate: { to: worker }\n  - delegate: { to: " Writer ", task: "draft {{input}}" }\n');
    expect((await loadConfig({ MOLECULE_CONFIGS_DIR: delegating })).workspace.script).toEqual([
      { match: undefined, steps: [{ delegate: { to: 'worker', task: '{{input}}' } }, { delegate: { to: 'Writer', task: 'draft {{input}}' } }] },
    ]);
    const fromFile = await configsDir('adapter: script\nscript_file: demo.yaml\n', {
      'demo.yaml': '- match: "^fail"\n  steps: [{ fail: nope }]\n- steps: [{ reply: ok }]\n',
    });
    expect((await loadConfig({ MOLECULE_CONFIGS_DIR: fromFile })).workspace.script).toEqual([
      { match: '^fail', steps: [{ fail: 'nope' }] },
      { match: undefined, steps: [{ reply: 'ok' }] },
    ]);
  });

  it.each([
    ['max_concurrent_tasks: 0\n', 'config.yaml max_concurrent_tasks'],
    ['max_concurrent_tasks: two\n', 'config.yaml max_concurrent_tasks'],
    ['max_concurrent_tasks: 1.5\n', 'config.yaml max_concurrent_tasks'],
    ['adapter: gpt\n', 'config.yaml adapter'],
    ['idle_timeout_seconds: -5\n', 'config.yaml idle_timeout_seconds'],
    ['name: ""\n', 'config.yaml name'],
    ['skills: web\n', 'config.yaml skills'],
    ['skills: [{ description: no name }]\n', 'config.yaml skills.0'],
    ['capabilities: [teleport]\n', 'config.yaml capabilities.teleport'],
    ['capabilities: { session: yes-please }\n', 'config.yaml capabilities.session'],
    ['capabilities: 3\n', 'config.yaml capabilities'],
    ['adapter: script\n', 'config.yaml script'],
    ['adapter: script\nscript: []\n', 'config.yaml script'],
    ['adapter: script\nscript:\n  - reply: a\n    fail: b\n', 'config.yaml script.0'],
    ['adapter: script\nscript:\n  - delay_ms: -1\n', 'config.yaml script.0.delay_ms'],
    ['adapter: script\nscript:\n  - tool: { input: x }\n', 'config.yaml script.0.tool.name'],
    ['adapter: script\nscript:\n  - tool: { name: Read, shell: true }\n', 'config.yaml script.0.tool'],
    ['adapter: script\nscript:\n  - delegate: { task: x }\n', 'config.yaml script.0.delegate.to'],
    ['adapter: script\nscript:\n  - delegate: { to: "  " }\n', 'config.yaml script.0.delegate.to'],
    ['adapter: script\nscript:\n  - delegate: { to: w, task: "" }\n', 'config.yaml script.0.delegate.task'],
    ['adapter: script\nscript:\n  - delegate: { to: w, via: x }\n', 'config.yaml script.0.delegate'],
    ['adapter: script\nscript:\n  - delegate: worker\n', 'config.yaml script.0.delegate'],
    ['adapter: script\nscript:\n  - match: "("\n    steps: [{ reply: x }]\n', 'config.yaml script.0.match'],
    ['adapter: script\nscript_file: missing.yaml\n', 'config.yaml script_file'],
    ['- just\n- a list\n', 'config.yaml'],
    ['name: [unclosed\n', 'config.yaml'],
  ])('rejects %j naming %s', async (yaml, field) => {
    const dir = await configsDir(yaml);
    const issues = await issuesOf({ MOLECULE_CONFIGS_DIR: dir });
    expect(issues.map((i) => i.field)).toContain(field);
  });

  it('says where invalid YAML is', async () => {
    const dir = await configsDir('name: ok\nskills: [a,\n  b\nmodel: x: y\n');
    const issues = await issuesOf({ MOLECULE_CONFIGS_DIR: dir });
    expect(issues[0]!.message).toMatch(/not valid YAML at line \d+/);
  });

  it('names an unreadable config.yaml', async () => {
    if (process.getuid?.() === 0) return; // root reads anything; the permission case cannot be staged
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-agent-'));
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'config.yaml'), 'name: x\n');
    await chmod(path.join(dir, 'config.yaml'), 0o000);
    const issues = await issuesOf({ MOLECULE_CONFIGS_DIR: dir });
    expect(issues[0]).toMatchObject({ field: 'config.yaml', message: expect.stringMatching(/cannot be read/) });
  });
});

describe('config: MOLECULE_RUNTIME selects the adapter (issue #16)', () => {
  it('no runtime name comes online as something else: each runtime with an adapter here runs that adapter whatever config.yaml says; the rest refuse to start, naming the runtime', async () => {
    const { RUNTIME_REGISTRY } = await import('@molecule/contracts');
    const dir = await configsDir('adapter: echo\n');
    const keys = { ANTHROPIC_API_KEY: 'k', OPENAI_API_KEY: 'k' };
    for (const [name, spec] of Object.entries(RUNTIME_REGISTRY) as [string, { adapter: string | null; external?: true }][]) {
      const env = { MOLECULE_CONFIGS_DIR: dir, MOLECULE_RUNTIME: name, ...keys };
      if (name === 'molecule') {
        expect((await loadConfig(env)).workspace.adapter).toBe('echo');
        continue;
      }
      const outcome = await loadConfig(env).then(
        (c) => ({ adapter: c.workspace.adapter as string }),
        (e: unknown) => ({ issues: (e as ConfigError).issues }),
      );
      if ('adapter' in outcome) expect(outcome.adapter, name).toBe(spec.adapter);
      else expect(outcome.issues, name).toContainEqual({ field: 'MOLECULE_RUNTIME', message: expect.stringContaining(`"${name}"`) });
    }
    expect((await loadConfig({ MOLECULE_CONFIGS_DIR: dir, MOLECULE_RUNTIME: 'claude-code', ANTHROPIC_API_KEY: 'k' })).workspace.adapter).toBe('claude-code');
  });

  it('a runtime missing its required key, or an unknown runtime, refuses to start naming the field', async () => {
    const dir = await configsDir('');
    expect(await issuesOf({ MOLECULE_CONFIGS_DIR: dir, MOLECULE_RUNTIME: 'claude-code' })).toContainEqual({ field: 'ANTHROPIC_API_KEY', message: 'is required for the claude-code runtime' });
    expect(await issuesOf({ MOLECULE_CONFIGS_DIR: dir, MOLECULE_RUNTIME: 'nope' })).toContainEqual({ field: 'MOLECULE_RUNTIME', message: 'names an unknown runtime (got "nope")' });
  });
});
