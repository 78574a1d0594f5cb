import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkspaceView } from '@molecule/contracts';
import { createLogger, loadConfig, startServer, type RunningServer } from '@molecule/server';
import type { CreatedToken, CreatedWorkspace } from './client.js';
import { runCli } from './program.js';
import { freePort } from '@molecule/server/testing';

type Env = Record<string, string | undefined>;

interface Run {
  code: number;
  out: string;
  err: string;
}

let server: RunningServer;
let dataDir: string;
const adminToken = `admin-${randomBytes(16).toString('hex')}`;

/** Runs the CLI in-process against the test server, with only the env given here. */
async function cli(argv: string[], env: Env = {}): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    out: (s) => (out += s),
    err: (s) => (err += s),
    env: { MOLECULE_URL: server.url, MOLECULE_ADMIN_TOKEN: adminToken, ...env },
  });
  return { code, out, err };
}

async function cliJson<T>(argv: string[]): Promise<T> {
  const r = await cli([...argv, '--json']);
  expect(r.err.replace(/^warning: .*\n/gm, '')).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as T;
}

async function apiGet(pathname: string, token: string): Promise<Response> {
  return fetch(`${server.url}${pathname}`, { headers: { authorization: `Bearer ${token}` } });
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-cli-test-'));
  const { config, warnings } = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    MOLECULE_DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    MOLECULE_PROVISIONER: 'none',
    ADMIN_TOKEN: adminToken,
  });
  server = await startServer(config, warnings, createLogger({ level: 'silent', pretty: false }));
});

afterAll(async () => {
  await server?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('molecule workspace', () => {
  it('create, ls and rm round-trip through the API', async () => {
    const name = `cli-roundtrip-${randomBytes(3).toString('hex')}`;
    const created = await cli(['workspace', 'create', name, '--role', 'writes the docs', '--tier', 'T3', '--model', 'echo']);
    expect(created.code).toBe(0);
    const id = /created workspace "[^"]+" ([0-9a-f-]{36})/.exec(created.out)?.[1];
    expect(id).toBeDefined();
    expect(created.out).toContain('T3');

    const table = await cli(['workspace', 'ls']);
    expect(table.code).toBe(0);
    expect(table.out.split('\n')[0]).toMatch(/^ID\s+NAME\s+ROLE\s+RUNTIME\s+TIER\s+STATUS\s+PARENT$/);
    const row = table.out.split('\n').find((l) => l.startsWith(id!));
    expect(row).toMatch(new RegExp(`${name}\\s+writes the docs\\s+molecule\\s+T3`));

    const listed = await cliJson<WorkspaceView[]>(['workspace', 'ls']);
    expect(listed.find((w) => w.id === id)).toMatchObject({ name, role: 'writes the docs', tier: 3, model: 'echo' });

    const removed = await cli(['workspace', 'rm', id!]);
    expect(removed).toMatchObject({ code: 0, err: '' });
    expect(removed.out).toBe(`removed workspace ${id}\n`);
    expect((await cliJson<WorkspaceView[]>(['workspace', 'ls'])).some((w) => w.id === id)).toBe(false);
    expect((await apiGet(`/workspaces/${id}`, adminToken)).status).toBe(410);
  });

  it('create --json prints the server row and passes every flag through', async () => {
    const parent = await cliJson<CreatedWorkspace>(['workspace', 'create', 'flags-parent']);
    const ws = await cliJson<CreatedWorkspace>([
      'ws',
      'create',
      'flags-child',
      '--parent',
      parent.id,
      '--runtime',
      'external',
      '--tier',
      '4',
      '--delivery-mode',
      'push',
    ]);
    expect(ws).toMatchObject({ name: 'flags-child', parent_id: parent.id, runtime: 'external', tier: 4, delivery_mode: 'push' });
    const templated = await cliJson<CreatedWorkspace & { template: string | null }>(['ws', 'create', 'from-template', '--template', 'echo']);
    expect(templated.template).toBe('echo');
  });

  it('an external workspace prints its connection once, with a working token and a warning', async () => {
    const r = await cli(['workspace', 'create', 'outside-agent', '--runtime', 'external']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: the auth token below is shown only this once/);
    const token = /auth_token\s+(\S+)/.exec(r.out)?.[1];
    const id = /workspace_id\s+(\S+)/.exec(r.out)?.[1];
    expect(token).toMatch(/^mol_ws_/);
    expect(r.out).toMatch(new RegExp(`platform_url\\s+${server.url.replace(/[.:/]/g, '\\$&')}`));
    expect(r.out).toMatch(/registry_endpoint\s+\S+\/registry\/register/);
    // The printed token is the real credential: it opens its own workspace.
    const res = await apiGet(`/workspaces/${id}`, token!);
    expect(res.status).toBe(200);
    expect(((await res.json()) as WorkspaceView).status).toBe('awaiting_agent');
  });

  it('workspace connect prints every snippet with a placeholder; --new-token mints a working token into them; a non-external workspace is refused', async () => {
    const ws = await cliJson<CreatedWorkspace>(['workspace', 'create', 'connect-me', '--runtime', 'external']);
    const r = await cli(['workspace', 'connect', ws.id]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/auth_token\s+<MOLECULE_WORKSPACE_TOKEN>/);
    for (const label of ['Universal MCP', 'Python', 'Claude Code', 'Hermes', 'Codex', 'OpenClaw', 'curl']) expect(r.out).toContain(`== ${label} ==`);
    expect(r.out).not.toMatch(/mol_ws_/);
    const minted = await cli(['workspace', 'connect', ws.id, '--new-token']);
    expect(minted.code).toBe(0);
    expect(minted.err).toMatch(/shown only this once/);
    const token = /auth_token\s+(\S+)/.exec(minted.out)?.[1];
    expect(token).toMatch(/^mol_ws_/);
    expect(minted.out.split(token!).length).toBeGreaterThan(3);
    expect((await apiGet(`/workspaces/${ws.id}`, token!)).status).toBe(200);
    const managed = await cliJson<CreatedWorkspace>(['workspace', 'create', 'managed-one']);
    const refused = await cli(['workspace', 'connect', managed.id]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/only an external workspace/);
  });

  it('rm of a parent without --confirm shows the server refusal, exits 1 and removes nothing', async () => {
    const parent = await cliJson<CreatedWorkspace>(['workspace', 'create', 'lead']);
    const child = await cliJson<CreatedWorkspace>(['workspace', 'create', 'report', '--parent', parent.id]);

    const refused = await cli(['workspace', 'rm', parent.id]);
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toContain('error: this workspace has children');
    expect(refused.err).toContain(`hint: child: ${child.id}  report`);
    expect(refused.err).toContain('pass --confirm');
    const ids = (await cliJson<WorkspaceView[]>(['workspace', 'ls'])).map((w) => w.id);
    expect(ids).toEqual(expect.arrayContaining([parent.id, child.id]));

    const confirmed = await cli(['workspace', 'rm', parent.id, '--confirm', '--purge']);
    expect(confirmed).toMatchObject({ code: 0, out: `purged workspace ${parent.id} and 1 descendant\n` });
    const after = (await cliJson<WorkspaceView[]>(['workspace', 'ls'])).map((w) => w.id);
    expect(after).not.toContain(parent.id);
    expect(after).not.toContain(child.id);
    expect((await apiGet(`/workspaces/${child.id}?include_removed=true`, adminToken)).status).toBe(404);
  });

  it('a server validation error is printed as the server worded it and exits 1', async () => {
    const before = (await cliJson<WorkspaceView[]>(['workspace', 'ls'])).length;
    const r = await cli(['workspace', 'create', 'bad{name']);
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toBe('error: invalid request body: /name name must not contain any of {}[]|>*&!\n');
    expect((await cliJson<WorkspaceView[]>(['workspace', 'ls'])).length).toBe(before);
  });

  it('rejects a bad --tier before calling the server', async () => {
    const before = (await cliJson<WorkspaceView[]>(['workspace', 'ls'])).length;
    const r = await cli(['workspace', 'create', 'x', '--tier', '7']);
    expect(r.code).toBe(1);
    expect(r.err).toContain("option '--tier <tier>' argument '7' is invalid. expected 1-4 or T1-T4");
    expect((await cliJson<WorkspaceView[]>(['workspace', 'ls'])).length).toBe(before);
  });
});

describe('molecule token create', () => {
  it('mints a workspace token that authenticates as that workspace', async () => {
    const ws = await cliJson<CreatedWorkspace>(['workspace', 'create', 'token-holder']);
    const r = await cli(['token', 'create', ws.id]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: Save this token now/);
    const token = /auth_token\s+(\S+)/.exec(r.out)?.[1];
    expect(token).toMatch(/^mol_ws_/);
    expect((await apiGet(`/workspaces/${ws.id}`, token!)).status).toBe(200);

    const viaJson = await cliJson<CreatedToken>(['token', 'create', ws.id]);
    expect(viaJson).toMatchObject({ workspace_id: ws.id, prefix: expect.stringMatching(/^mol_ws_/) });
    expect(viaJson.auth_token).not.toBe(token);
  });

  it('an unknown workspace is the server 404 message', async () => {
    const r = await cli(['token', 'create', '00000000-0000-4000-8000-000000000000']);
    expect(r).toMatchObject({ code: 1, out: '', err: 'error: workspace not found\n' });
  });
});

describe('molecule workspace events', () => {
  it("lists a workspace's recorded events newest first, as text and as JSON", async () => {
    const ws = await cliJson<CreatedWorkspace>(['workspace', 'create', 'eventful']);
    await cli(['token', 'create', ws.id]);
    const r = await cli(['workspace', 'events', ws.id]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toContain('TOKEN_CREATED');
    expect(lines.at(-1)).toContain('WORKSPACE_CREATED');
    const viaJson = await cliJson<{ type: string }[]>(['workspace', 'events', ws.id, '--limit', '1']);
    expect(viaJson.map((e) => e.type)).toEqual(['TOKEN_CREATED']);
  });

  it.each(['0', '1001', 'ten'])('a --limit of %s is refused before anything is asked', async (limit) => {
    const r = await cli(['workspace', 'events', '00000000-0000-4000-8000-000000000000', '--limit', limit]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('expected a whole number from 1 to 1000');
  });

  it('a malformed id is the server 400 message', async () => {
    const r = await cli(['workspace', 'events', 'not-an-id']);
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toContain('invalid workspace ID');
  });
});

describe('connecting', () => {
  it('a wrong admin token is a clear error naming where the token came from', async () => {
    const r = await cli(['workspace', 'ls', '--token', 'not-the-admin-token']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain('error: invalid auth token (HTTP 401)');
    expect(r.err).toContain(`hint: the platform at ${server.url} rejected the admin token from --token`);
  });

  it('reads the admin token from <data-dir>/admin_token when none is given', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-cli-token-'));
    try {
      await writeFile(path.join(dir, 'admin_token'), `${adminToken}\n`, { mode: 0o600 });
      const r = await cli(['workspace', 'ls', '--json', '--data-dir', dir], { MOLECULE_ADMIN_TOKEN: undefined });
      expect(r.code).toBe(0);
      expect(Array.isArray(JSON.parse(r.out))).toBe(true);

      const viaEnv = await cli(['workspace', 'ls', '--json'], { MOLECULE_ADMIN_TOKEN: undefined, MOLECULE_DATA_DIR: dir });
      expect(viaEnv.code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a missing admin token file says where it looked and how to pass one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-cli-empty-'));
    try {
      const r = await cli(['workspace', 'ls', '--data-dir', dir], { MOLECULE_ADMIN_TOKEN: undefined });
      expect(r.code).toBe(1);
      expect(r.err).toContain(`error: no admin token: ${path.join(dir, 'admin_token')} does not exist`);
      expect(r.err).toContain('pass --token, set MOLECULE_ADMIN_TOKEN');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a platform that is not running gets the `npm start` hint', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await cli(['workspace', 'ls', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain(`error: cannot reach the Molecule platform at ${url} (ECONNREFUSED)`);
    expect(r.err).toContain('hint: is the platform running? start it with `npm start`');
  });

  it('a non-http --url is refused before any request', async () => {
    const r = await cli(['workspace', 'ls', '--url', 'ftp://example.test']);
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toContain('the scheme must be http or https');
  });
});

describe('molecule memory', () => {
  it('C253 C255 C257 exports to a file and imports it back: a dry run counts, the import stores once, a second import copies nothing, verify finds all (on the built-in store)', async () => {
    const created = await cliJson<CreatedWorkspace>(['workspace', 'create', 'Memory keeper', '--runtime', 'external']);
    const stored = await fetch(`${server.url}/workspaces/${created.id}/memories`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ content: 'the on-call rota lives in the wiki', scope: 'TEAM' }),
    });
    expect(stored.status).toBe(201);
    const file = path.join(dataDir, 'memories.json');
    const exported = await cli(['memory', 'export', '--out', file]);
    expect([exported.code, exported.err]).toEqual([0, `exported 1 memories to ${file}\n`]);

    // Into a copy that names the workspace only: the import finds it by name.
    const [entry] = JSON.parse(await readFile(file, 'utf8')) as { content: string; scope: string; workspace_name: string }[];
    expect(entry).toMatchObject({ content: 'the on-call rota lives in the wiki', scope: 'TEAM', workspace_name: 'Memory keeper' });
    const upstream = path.join(dataDir, 'upstream.json');
    await writeFile(upstream, JSON.stringify([{ content: 'deploys freeze on Fridays', scope: 'LOCAL', workspace_name: 'Memory keeper' }, { content: 'x', scope: 'LOCAL', workspace_name: 'Nobody' }]));
    expect((await cli(['memory', 'import', upstream, '--dry-run'])).out).toBe('1 of 2 would be imported; 1 skipped (1 unknown workspace); 0 failed\n');
    const missing = await cli(['memory', 'import', upstream, '--verify']);
    expect([missing.code, missing.out]).toEqual([1, '0 of 2 found in the store; 1 skipped (1 unknown workspace); 1 missing\n']);
    expect(missing.err).toContain('1 of the file\'s memories are not in the store');
    expect((await cli(['memory', 'import', upstream])).out).toBe('1 of 2 imported; 1 skipped (1 unknown workspace); 0 failed\n');
    expect((await cli(['memory', 'import', upstream])).out).toBe('0 of 2 imported; 2 skipped (1 unknown workspace, 1 duplicate); 0 failed\n');
    expect((await cli(['memory', 'import', upstream, '--verify'])).code).toBe(0);
    const all = await cli(['memory', 'export']);
    expect((JSON.parse(all.out) as { content: string }[]).map((m) => m.content).sort()).toEqual(['deploys freeze on Fridays', 'the on-call rota lives in the wiki']);
  }, 120_000); // the first memory call starts the built-in store (embedded PGlite)

  it('refuses a file that is missing or not an array, and --dry-run with --verify, before calling the platform', async () => {
    const notArray = path.join(dataDir, 'object.json');
    await writeFile(notArray, '{"content": "x"}');
    for (const [argv, message] of [
      [['memory', 'import', path.join(dataDir, 'nope.json')], /cannot read .*nope\.json: ENOENT/],
      [['memory', 'import', notArray], /is not a JSON array of memories/],
      [['memory', 'import', notArray, '--dry-run', '--verify'], /cannot be used with/],
    ] as const) {
      const r = await cli([...argv], { MOLECULE_URL: 'http://127.0.0.1:9' });
      expect(r.code).not.toBe(0);
      expect(r.err).toMatch(message);
    }
  });
});

describe('molecule up', () => {
  it('hands --port, --host and --data-dir to the server as PORT, HOST and MOLECULE_DATA_DIR', async () => {
    const seen: Env[] = [];
    const code = await runCli(['up', '--port', '9123', '--host', '0.0.0.0', '--data-dir', '/srv/molecule'], {
      out: () => undefined,
      err: () => undefined,
      env: { PORT: '8080', ADMIN_TOKEN: 'kept-as-is-0123456789' },
      runServer: async (env) => void seen.push(env),
    });
    expect(code).toBe(0);
    expect(seen).toEqual([{ PORT: '9123', HOST: '0.0.0.0', MOLECULE_DATA_DIR: '/srv/molecule', ADMIN_TOKEN: 'kept-as-is-0123456789' }]);
  });

  it('leaves the environment alone without flags and rejects a bad port', async () => {
    const seen: Env[] = [];
    const io = { out: () => undefined, env: { PORT: '8181' }, runServer: async (env: Env) => void seen.push(env) };
    expect(await runCli(['up'], { ...io, err: () => undefined })).toBe(0);
    expect(seen).toEqual([{ PORT: '8181' }]);

    let err = '';
    expect(await runCli(['up', '--port', '70000'], { ...io, err: (s) => (err += s) })).toBe(1);
    expect(err).toContain('expected a port number 0-65535');
    expect(seen).toHaveLength(1);
  });
});

describe('molecule secret', () => {
  it('sets, lists (names and where each comes from, never values) and deletes org-wide and workspace secrets; a value can come from stdin', async () => {
    const lead = await cliJson<CreatedWorkspace>(['workspace', 'create', 'secret-lead', '--runtime', 'external']);
    const member = await cliJson<CreatedWorkspace>(['workspace', 'create', 'secret-member', '--runtime', 'external', '--parent', lead.id]);
    const set = await cli(['secret', 'set', 'CLI_API_KEY', 'org-value']);
    expect(set.code).toBe(0);
    expect(set.out).toContain('saved global secret CLI_API_KEY');
    // From stdin: the value never appears in argv (shell history, ps).
    let stdinOut = '';
    const piped = await runCli(['secret', 'set', 'CLI_API_KEY', '--workspace', lead.id], {
      out: (s) => (stdinOut += s),
      err: () => undefined,
      env: { MOLECULE_URL: server.url, MOLECULE_ADMIN_TOKEN: adminToken },
      readStdin: async () => 'team-value\n',
    });
    expect(piped).toBe(0);
    expect(stdinOut).toContain('saved workspace secret CLI_API_KEY');

    const ls = await cli(['secret', 'ls', '--workspace', member.id]);
    expect(ls.code).toBe(0);
    expect(ls.out).toMatch(/CLI_API_KEY\s+ancestor secret-lead\s+global/);
    expect(ls.out).not.toMatch(/org-value|team-value/);
    const values = await fetch(`${server.url}/workspaces/${member.id}/secrets/values`, { headers: { authorization: `Bearer ${member.connection!.auth_token}` } });
    expect(await values.json()).toMatchObject({ CLI_API_KEY: 'team-value' });

    const bad = await cli(['secret', 'set', 'not-a-name', 'v']);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/environment variable name/);
    expect((await cli(['secret', 'rm', 'CLI_API_KEY', '--workspace', lead.id])).out).toContain('deleted workspace secret CLI_API_KEY');
    expect((await cli(['secret', 'rm', 'CLI_API_KEY'])).code).toBe(0);
    const gone = await cli(['secret', 'rm', 'CLI_API_KEY']);
    expect(gone.code).not.toBe(0);
    expect(gone.err).toContain('secret not found');
  });
});

describe('molecule budget', () => {
  it('shows and sets a workspace budget by id or name: limits in cents, none clears, the period; bad values change nothing', async () => {
    const lead = await cliJson<CreatedWorkspace>(['workspace', 'create', 'budget-lead', '--runtime', 'external']);
    const shown = await cli(['budget', lead.id]);
    expect(shown.code, shown.err).toBe(0);
    expect(shown.out).toMatch(/period\s+monthly/);
    expect(shown.out).toMatch(/ limit +none/);
    expect(shown.out).toMatch(/blocked\s+no/);

    const set = await cli(['budget', 'set', 'budget-lead', '--limit', '2500', '--team-limit', '0', '--period', 'weekly']);
    expect(set.code, set.err).toBe(0);
    expect(set.out).toContain('budget of budget-lead saved');
    expect(set.out).toMatch(/ limit +\$25\.00/);
    expect(set.out).toMatch(/blocked\s+yes: team limit of .* reached \(\$0\.00 of \$0\.00\)/);
    expect(await cliJson<Record<string, unknown>>(['budget', 'show', lead.id])).toMatchObject({ budget_limit: 2500, team_budget_limit: 0, budget_period: 'weekly' });

    const cleared = await cliJson<Record<string, unknown>>(['budget', 'set', lead.id, '--team-limit', 'none', '--period', 'default']);
    expect(cleared).toMatchObject({ budget_limit: 2500, team_budget_limit: null, budget_period: 'monthly', blocked_by: null });

    for (const bad of [['--limit', '-5'], ['--limit', '12.5'], ['--team-limit', 'lots'], ['--period', 'hourly'], []]) {
      const r = await cli(['budget', 'set', lead.id, ...bad]);
      expect(r.code, bad.join(' ')).not.toBe(0);
    }
    expect((await cli(['budget', 'set', lead.id])).err).toContain('nothing to set');
    expect((await cli(['budget', 'no-such-workspace'])).err).toContain('no workspace named "no-such-workspace"');
    expect(await cliJson<Record<string, unknown>>(['budget', lead.id])).toMatchObject({ budget_limit: 2500, team_budget_limit: null, budget_period: 'monthly' });
  });
});

describe('molecule org', () => {
  it('lists the org templates with what each still needs', async () => {
    const r = await cli(['org', 'ls']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toMatch(/^TEMPLATE\s+NAME\s+WORKSPACES\s+NEEDS$/);
    expect(r.out).toMatch(/^demo-team\s+Demo team\s+4\s+ready$/m);
    expect(r.out).toMatch(/^llm-team\s+LLM team\s+3\s+missing one of ANTHROPIC_API_KEY, OPENAI_API_KEY$/m);
  });

  it('C201 an import the secrets are not ready for names the missing keys and how to set them, and creates nothing', async () => {
    const before = (await cliJson<WorkspaceView[]>(['workspace', 'ls'])).length;
    const r = await cli(['org', 'import', 'llm-team']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: llm-team needs keys the org-wide secrets do not have yet');
    expect(r.err).toContain('hint: missing: one of ANTHROPIC_API_KEY, OPENAI_API_KEY');
    expect(r.err).toContain('molecule secret set KEY');
    expect((await cliJson<WorkspaceView[]>(['workspace', 'ls'])).length).toBe(before);
    const unknown = await cli(['org', 'import', 'no-such-org']);
    expect(unknown).toMatchObject({ code: 1, out: '' });
    expect(unknown.err).toContain('org template not found: no-such-org');
    const missingPath = await cli(['org', 'import', './nowhere/org.yaml']);
    expect(missingPath.err).toContain('no such file or folder: ./nowhere/org.yaml');
  });

  it('follows an import with a progress bar and exits 1 naming each workspace that failed (no provisioner here)', async () => {
    const r = await cli(['org', 'import', 'demo-team']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^importing "Demo team": 4 workspace\(s\), import [0-9a-f-]{36}$/m);
    expect(r.err).toMatch(/^\[#{30}\] {2}0\/4 online {2}4 failed$/m);
    expect(r.err).toContain('error: 4 of 4 workspace(s) failed to start');
    expect(r.err).toMatch(/hint: Lead \([0-9a-f-]{36}\): No provisioner is configured/);
  });

  it('imports a local org.yaml inline; external workspaces settle as waiting for their agent', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-org-'));
    try {
      await writeFile(
        path.join(dir, 'org.yaml'),
        'name: Outside team\nworkspaces:\n  - name: ext-lead\n    runtime: external\n    children:\n      - name: ext-member\n        runtime: external\n',
      );
      const r = await cli(['org', 'import', dir]);
      expect(r.err).toMatch(/^\[#{30}\] {2}0\/2 online {2}2 awaiting their agent$/m);
      expect(r.code).toBe(0);
      expect(r.out).toContain('all 2 workspace(s) of "Outside team" are online or waiting for their external agent');
      const ws = await cliJson<WorkspaceView[]>(['workspace', 'ls']);
      const lead = ws.find((w) => w.name === 'ext-lead')!;
      expect(ws.find((w) => w.name === 'ext-member')).toMatchObject({ parent_id: lead.id, status: 'awaiting_agent' });
      await writeFile(path.join(dir, 'org.yaml'), 'name: [broken\n');
      const broken = await cli(['org', 'import', path.join(dir, 'org.yaml')]);
      expect(broken.code).toBe(1);
      expect(broken.err).toMatch(/org\.yaml does not parse as YAML/);
      await writeFile(path.join(dir, 'org.yaml'), 'name: Bad\nworkspaces:\n  - name: a\n    runtime: cobol\n');
      const invalid = await cli(['org', 'import', dir]);
      expect(invalid.code).toBe(1);
      expect(invalid.err).toMatch(/invalid org template/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('molecule schedule', () => {
  it('adds (prompt from a flag or stdin), lists, runs and removes a workspace\'s schedules; a bad cron is refused with the reason', async () => {
    const w = await cliJson<CreatedWorkspace>(['workspace', 'create', 'cli-sched', '--runtime', 'external']);
    const added = await cli(['schedule', 'add', 'cli-sched', '--name', 'report', '--cron', '0 9 * * 1-5', '--tz', 'Europe/Paris', '--prompt', 'Write the report']);
    expect(added.code, added.err).toBe(0);
    expect(added.out).toMatch(/created schedule "report" [0-9a-f-]{36}/);
    expect(added.out).toContain('0 9 * * 1-5 (Europe/Paris)');
    let piped = '';
    const fromStdin = await runCli(['schedule', 'add', w.id, '--name', 'nightly', '--cron', '@daily', '--disabled'], {
      out: (s) => (piped += s),
      err: () => undefined,
      env: { MOLECULE_URL: server.url, MOLECULE_ADMIN_TOKEN: adminToken },
      readStdin: async () => 'Summarise the day\n',
    });
    expect(fromStdin).toBe(0);
    expect(piped).toContain('next run');

    const ls = await cli(['schedule', 'ls', 'cli-sched']);
    expect(ls.out.split('\n')[0]).toMatch(/^ID\s+NAME\s+CRON\s+TZ\s+ENABLED\s+NEXT RUN\s+RUNS\s+LAST$/);
    expect(ls.out).toMatch(/report\s+0 9 \* \* 1-5\s+Europe\/Paris\s+yes/);
    expect(ls.out).toMatch(/nightly\s+@daily\s+UTC\s+no\s+-/);
    const list = await cliJson<{ id: string; name: string; prompt: string }[]>(['schedule', 'ls', w.id]);
    expect(list.map((s) => [s.name, s.prompt])).toEqual([
      ['report', 'Write the report'],
      ['nightly', 'Summarise the day\n'],
    ]);

    const run = await cli(['schedule', 'run', w.id, list[0]!.id]);
    expect(run.code, run.err).toBe(0);
    expect(run.out).toMatch(/fired schedule [0-9a-f-]{36} \(run [0-9a-f-]{36}, running\)/);

    const bad = await cli(['schedule', 'add', w.id, '--name', 'x', '--cron', '61 * * * *', '--prompt', 'p']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/invalid cron expression/);

    expect((await cli(['schedule', 'rm', w.id, list[1]!.id])).out).toContain(`deleted schedule ${list[1]!.id}`);
    expect((await cliJson<unknown[]>(['schedule', 'ls', w.id])).length).toBe(1);
  });
});
