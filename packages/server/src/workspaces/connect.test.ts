import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECT_SNIPPETS, Status, type ExternalConnection } from '@molecule/contracts';
import { bearer, sender } from '../test-support/api.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { getWorkspace } from './repo.js';
import { CONNECTION_TOKEN_PLACEHOLDER } from './connect.js';

const run = promisify(execFile);

describe('connecting an external agent (C268-C273)', () => {
  let t: TestApp;
  let base: string;
  const send = sender(() => t);

  beforeAll(async () => {
    t = await startTestApp();
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => t?.close());

  /** Creates an external workspace over real HTTP, so the snippets carry the address the agent would use. */
  const createExternal = async (name: string) => {
    const r = await fetch(`${base}/workspaces`, { method: 'POST', headers: { ...t.admin, 'content-type': 'application/json' }, body: JSON.stringify({ name, runtime: 'external' }) });
    expect(r.status).toBe(201);
    return (await r.json()) as { id: string; connection: ExternalConnection };
  };
  const status = async (id: string) => (await getWorkspace(t.db, id))!.status;

  it('C268 C269 the create answer carries every snippet, stamped with the id, the platform URL and the token, and none names MOLECULE_ORG_ID', async () => {
    const { id, connection: c } = await createExternal('snippets');
    expect(c).toMatchObject({ workspace_id: id, platform_url: base, registry_endpoint: `${base}/registry/register`, heartbeat_endpoint: `${base}/registry/heartbeat` });
    for (const { field } of CONNECT_SNIPPETS) {
      const text = c[field]!;
      expect({ field, stamped: [id, base, c.auth_token].every((v) => text.includes(v)) }).toEqual({ field, stamped: true });
      expect(text).not.toContain('MOLECULE_ORG_ID');
    }
    // The env contract, wherever a snippet sets variables.
    for (const field of ['universal_mcp_snippet', 'claude_code_channel_snippet', 'hermes_snippet', 'codex_snippet', 'openclaw_snippet'] as const) {
      for (const name of ['WORKSPACE_ID', 'PLATFORM_URL', 'MOLECULE_WORKSPACE_TOKEN']) expect(c[field]).toContain(name);
    }
  });

  it('C270 the curl snippet sends Origin and, run as it is, brings the workspace online; the universal MCP snippet has no register step of its own', async () => {
    const { id, connection: c } = await createExternal('curl-agent');
    expect(await status(id)).toBe(Status.AwaitingAgent);
    expect(c.curl_register_template).toContain(`-H 'Origin: ${base}'`);
    await run('bash', ['-euo', 'pipefail', '-c', c.curl_register_template!]);
    expect(await status(id)).toBe(Status.Online);
    expect(c.universal_mcp_snippet).not.toMatch(/registry\/register|curl[^\n]*-X POST/);
    expect(c.universal_mcp_snippet).toContain(`${base}/connect/molecule-mcp.mjs`);
  });

  it('C270 the Universal MCP snippet, run as it is: its curl line fetches the bridge from the platform, an MCP host starts it with the config it shows, and the workspace comes online with the platform tools', async () => {
    const { id, connection: c } = await createExternal('mcp-agent');
    const home = await mkdtemp(path.join(os.tmpdir(), 'molecule-connect-home-'));
    try {
      const fetchLine = c.universal_mcp_snippet!.split('\n').find((l) => l.startsWith('mkdir -p ~/.molecule && curl'))!;
      await run('bash', ['-euo', 'pipefail', '-c', fetchLine], { env: { ...process.env, HOME: home } });
      const snippet = c.universal_mcp_snippet!;
      const config = JSON.parse(snippet.slice(snippet.indexOf('\n{\n') + 1, snippet.indexOf('\n}\n') + 2)) as { mcpServers: { molecule: { command: string; args: string[]; env: Record<string, string> } } };
      const server = config.mcpServers.molecule;
      const client = new Client({ name: 'a-host', version: '1.0.0' });
      await client.connect(new StdioClientTransport({ command: server.command, args: server.args.map((a) => a.replace('$HOME', home)), env: { PATH: process.env.PATH!, ...server.env }, stderr: 'ignore' }));
      try {
        await expect.poll(() => status(id), { timeout: 20_000 }).toBe(Status.Online);
        const names = (await client.listTools()).tools.map((t) => t.name);
        expect(names).toEqual(expect.arrayContaining(['wait_for_messages', 'reply', 'list_peers']));
      } finally {
        await client.close();
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 60_000);

  it('serves the bridge to anyone (it holds no credential) as JavaScript', async () => {
    const r = await fetch(`${base}/connect/molecule-mcp.mjs`);
    expect([r.status, r.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect((await r.text()).length).toBeGreaterThan(10_000);
  });

  it('C268 the Python snippet, run as it is with python3, registers and keeps the heartbeat', async () => {
    const { id, connection: c } = await createExternal('python-agent');
    const child = spawn('python3', ['-c', c.python_snippet!], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await expect.poll(() => status(id), { timeout: 20_000 }).toBe(Status.Online);
      await expect.poll(async () => (await getWorkspace(t.db, id))!.last_heartbeat_at, { timeout: 20_000 }).not.toBeNull();
      expect(stderr).toBe('');
    } finally {
      child.kill();
    }
  });

  it('C271 the Claude Code snippet checks for Bun, installs the channel plugin from its marketplace, launches with development channels, and maps the common errors', async () => {
    const { connection: c } = await createExternal('claude-agent');
    const s = c.claude_code_channel_snippet!;
    expect(s).toMatch(/command -v bun/);
    expect(s).toContain('/plugin marketplace add Molecule-AI/molecule-mcp-claude-channel');
    expect(s).toContain('/plugin install molecule@molecule-mcp-claude-channel');
    expect(s).toContain('--dangerously-load-development-channels');
    expect(s).toMatch(/plugin not installed/);
    expect(s).toMatch(/not on the approved channels allowlist/);
  });

  it('C272 Hermes and Codex snippets never append to the user\'s config files; OpenClaw runs its gateway with nohup, a log file and disown; the Codex bridge installs from git and runs under nohup', async () => {
    const { connection: c } = await createExternal('cli-agents');
    for (const s of [c.hermes_snippet!, c.codex_snippet!]) {
      expect(s).not.toMatch(/>>|tee -a|cat >/);
    }
    expect(c.hermes_snippet).toContain('~/.hermes/config.yaml');
    expect(c.codex_snippet).toContain('[mcp_servers.molecule]');
    expect(c.codex_snippet).toContain("pip install 'git+https://github.com/Molecule-AI/codex-channel-molecule'");
    expect(c.codex_snippet).toMatch(/^nohup codex-channel-molecule > \S+\.log 2>&1$/m);
    expect(c.openclaw_snippet).toMatch(/^nohup openclaw gateway > \S+\.log 2>&1 &\ndisown$/m);
  });

  it('C268 POST /workspaces/:id/connection mints a fresh token into new snippets; the first token keeps working', async () => {
    const { id, connection: first } = await createExternal('reconnect');
    const r = await fetch(`${base}/workspaces/${id}/connection`, { method: 'POST', headers: t.admin });
    expect(r.status).toBe(201);
    const again = (await r.json()) as ExternalConnection;
    expect(again.auth_token).not.toBe(first.auth_token);
    expect(again.universal_mcp_snippet).toContain(again.auth_token);
    for (const token of [first.auth_token, again.auth_token]) {
      expect((await send('GET', `/workspaces/${id}`, undefined, bearer(token))).statusCode).toBe(200);
    }
  });

  it('C268 GET /workspaces/:id/connection answers the snippets with a placeholder where the token goes, minting nothing', async () => {
    const { id, connection: first } = await createExternal('read-connection');
    const tokens = async () => Number((await t.db.query<{ n: string }>('SELECT count(*) AS n FROM workspace_auth_tokens')).rows[0]!.n);
    const before = await tokens();
    const r = await send('GET', `/workspaces/${id}/connection`);
    expect(r.statusCode).toBe(200);
    const c = r.json<ExternalConnection>();
    expect(c).toMatchObject({ workspace_id: id, auth_token: CONNECTION_TOKEN_PLACEHOLDER });
    expect(c.universal_mcp_snippet).toContain(CONNECTION_TOKEN_PLACEHOLDER);
    expect(c.curl_register_template).toContain(id);
    expect(JSON.stringify(c)).not.toContain(first.auth_token);
    expect(await tokens()).toBe(before);
  });

  it('refuses a connection for a workspace that is not external, unknown, removed or malformed, and for a workspace\'s own token, minting nothing', async () => {
    const managed = await send('POST', '/workspaces', { name: 'managed', runtime: 'molecule' });
    const managedId = managed.json<{ id: string }>().id;
    const { id: goneId, connection } = await createExternal('gone');
    expect((await send('DELETE', `/workspaces/${goneId}`)).statusCode).toBe(200);
    const { id: ownId, connection: own } = await createExternal('own');
    const tokens = async () => Number((await t.db.query<{ n: string }>('SELECT count(*) AS n FROM workspace_auth_tokens')).rows[0]!.n);
    const before = await tokens();
    const cases: [string, Record<string, string> | undefined, number, RegExp][] = [
      [managedId, undefined, 400, /only an external workspace/],
      ['00000000-0000-4000-8000-000000000000', undefined, 404, /workspace not found/],
      [goneId, undefined, 410, /removed/],
      ['not-a-uuid', undefined, 400, /invalid workspace ID/],
      [ownId, bearer(own.auth_token), 403, /./],
    ];
    for (const method of ['POST', 'GET'] as const) {
      for (const [id, headers, code, message] of cases) {
        const r = await send(method, `/workspaces/${id}/connection`, undefined, headers);
        expect({ method, id, code: r.statusCode }).toEqual({ method, id, code });
        expect(r.json().error).toMatch(message);
      }
    }
    expect(await tokens()).toBe(before);
    expect(connection.auth_token).not.toBe('');
  });
});
