import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { PLATFORM_TOOLS, Status } from '@molecule/contracts';
import type { RunningServer } from '../main.js';
import { httpApi, startE2eServer } from '../test-support/e2e.js';

// Issue #15's "done when" for the bridge: an MCP host (the official SDK client over stdio) launches
// the built `molecule-mcp` (packages/runtime/dist) for a fresh external workspace on a real platform;
// it comes online; a teammate's message/send reaches it through wait_for_messages, and its reply
// completes the teammate's send with that text.

const BIN = fileURLToPath(new URL('../../../runtime/dist/mcp-main.js', import.meta.url));
type Json = Record<string, unknown>;

describe('molecule-mcp end to end (C036 C274)', () => {
  let server: RunningServer;
  const clients: Client[] = [];

  const { api, external } = httpApi(() => server);
  const status = async (id: string) => (await api('GET', `/workspaces/${id}`)).body.status;
  /** The env contract of external agents (WORKSPACE_ID, PLATFORM_URL, MOLECULE_WORKSPACE_TOKEN), and a configs dir of the test's own. */
  const bridgeEnv = async (ws: { id: string; token: string }, extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH ?? '',
    WORKSPACE_ID: ws.id,
    PLATFORM_URL: server.url,
    MOLECULE_WORKSPACE_TOKEN: ws.token,
    CONFIGS_DIR: await mkdtemp(path.join(os.tmpdir(), 'molecule-mcp-')),
    ...extra,
  });
  /** The host: the official SDK client launching the bridge over stdio. */
  const host = async (env: Record<string, string>) => {
    const client = new Client({ name: 'e2e-host', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [BIN], env, stderr: 'pipe' }));
    clients.push(client);
    return client;
  };
  /** Runs the bridge as a plain process and collects what it says on each stream and its exit code. */
  const run = (env: Record<string, string>) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += String(d)));
      child.stderr.on('data', (d) => (stderr += String(d)));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
  const textOf = (r: unknown) => (r as { content: { text: string }[] }).content.map((c) => c.text).join('\n');

  beforeAll(async () => {
    ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'none' }, 'molecule-mcp-e2e-'));
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.close();
    await server?.close();
  });

  // The same flow through the poll inbox (the socket turned off) and over the outbound socket (#15
  // item 3: the default; the workspace has no URL at all, and the message is pushed, not polled).
  for (const mode of ['poll inbox', 'outbound socket'] as const) {
    it(`C036 C274 the bridge registers and beats; a teammate's message/send reaches wait_for_messages and the reply completes it with that text (${mode})`, async () => {
      const agent = await external(`mcp-agent-${mode.replace(' ', '-')}`);
      const mate = await external(`mcp-teammate-${mode.replace(' ', '-')}`);
      expect(await status(agent.id)).toBe(Status.AwaitingAgent);
      const client = await host(await bridgeEnv(agent, mode === 'poll inbox' ? { MOLECULE_MCP_SOCKET: '0' } : {}));

      const tools = (await client.listTools()).tools.map((t) => t.name);
      expect(tools).toEqual([...PLATFORM_TOOLS, 'wait_for_messages', 'get_messages', 'reply']);
      await expect.poll(() => status(agent.id), { timeout: 15_000 }).toBe(Status.Online);
      await expect.poll(async () => (await api('GET', `/workspaces/${agent.id}`)).body.last_heartbeat_at, { timeout: 15_000 }).toBeTruthy();
      expect((await api('GET', `/workspaces/${agent.id}`)).body).toMatchObject({ delivery_mode: 'poll' });
      if (mode === 'outbound socket') {
        await expect.poll(() => server.deps.a2a.sockets.has(agent.id), { timeout: 15_000 }).toBe(true);
        expect((await api('GET', `/workspaces/${agent.id}`)).body.url ?? '').toBe('');
      } else {
        expect(server.deps.a2a.sockets.has(agent.id)).toBe(false);
      }

      const question = `ping ${randomUUID().slice(0, 8)}`;
      const sending = api(
        'POST',
        `/workspaces/${agent.id}/a2a`,
        { jsonrpc: '2.0', id: 'mate-1', method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text: question }] } } },
        { authorization: `Bearer ${mate.token}` },
      );
      const waited = await client.callTool({ name: 'wait_for_messages', arguments: { timeout_secs: 60 } });
      const messages = (waited.structuredContent as { messages: { message_id: string; text: string; from: Json }[] }).messages;
      expect(messages).toEqual([expect.objectContaining({ text: question, from: { kind: 'peer_agent', workspace_id: mate.id } })]);
      const replied = await client.callTool({ name: 'reply', arguments: { message_id: messages[0]!.message_id, text: `pong: ${question}` } });
      expect(replied.isError).toBeFalsy();

      const answered = await sending;
      expect(answered.status).toBe(200);
      expect(answered.body).toMatchObject({ id: 'mate-1', result: { role: 'agent', parts: [{ kind: 'text', text: `pong: ${question}` }] } });
      // Answered messages leave the inbox; a reply to one again is the tool's error, not a crash.
      expect(textOf(await client.callTool({ name: 'get_messages', arguments: {} }))).toBe('No new messages.');
      const again = await client.callTool({ name: 'reply', arguments: { message_id: messages[0]!.message_id, text: 'twice' } });
      expect(again.isError).toBe(true);
      // A pushed message was never an inbox row: the platform does not know it.
      expect(textOf(again)).toBe(mode === 'poll inbox' ? 'this message was already answered' : "message not found in this workspace's inbox");
      // Pushed or polled, the message is one activity row of the agent, answered (the proxy records
      // a pushed exchange as it completes, beside the answer).
      const statuses = async () => ((await api('GET', `/workspaces/${agent.id}/activity?type=a2a_receive`)).body as unknown as { status: string }[]).map((r) => r.status);
      await expect.poll(statuses).toEqual(['ok']);
      // The platform's own tools answer through the bridge as this workspace.
      const info = JSON.parse(textOf(await client.callTool({ name: 'get_workspace_info', arguments: {} }))) as Json;
      expect(info.id).toBe(agent.id);
    }, 90_000);
  }

  it('C274 bad tool input is the tool error, not a crash: a wait outside 0-60, a reply to a message that is not this agent\'s', async () => {
    const agent = await external('mcp-bad-input');
    const other = await external('mcp-other');
    const client = await host(await bridgeEnv(agent));
    for (const timeout_secs of [-1, 61, 1.5]) {
      const r = await client.callTool({ name: 'wait_for_messages', arguments: { timeout_secs } });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toBe('timeout_secs must be a whole number from 0 to 60');
    }
    await api('POST', `/workspaces/${other.id}/a2a`, { method: 'message/send', params: { message: { role: 'user', parts: [{ kind: 'text', text: 'not for you' }] }, configuration: { blocking: false } } });
    const theirs = (await api('GET', `/workspaces/${other.id}/inbox`, undefined, { authorization: `Bearer ${other.token}` })).body.messages as { id: string }[];
    const foreign = await client.callTool({ name: 'reply', arguments: { message_id: theirs[0]!.id, text: 'hijack' } });
    expect(foreign.isError).toBe(true);
    expect(textOf(foreign)).toBe("message not found in this workspace's inbox");
    expect((await api('GET', `/workspaces/${other.id}/inbox`, undefined, { authorization: `Bearer ${other.token}` })).body.messages).toHaveLength(1);
  }, 60_000);

  it('C036 a wrong or revoked token: a clear message on stderr, exit 3, nothing on stdout', async () => {
    const ws = await external('mcp-wrong-token');
    const wrong = await run(await bridgeEnv({ id: ws.id, token: 'mol_ws_not-the-token' }));
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain(`molecule-mcp: cannot join workspace ${ws.id} (HTTP 401): the platform refused this workspace's token: it is wrong or was revoked`);
    expect(wrong.stdout).toBe('');

    const minted = await api('POST', `/workspaces/${ws.id}/tokens`);
    const { id: tokenId, auth_token: revoked } = minted.body as { id: string; auth_token: string };
    expect((await api('DELETE', `/workspaces/${ws.id}/tokens/${tokenId}`)).status).toBe(200);
    const gone = await run(await bridgeEnv({ id: ws.id, token: revoked }));
    expect(gone.code).toBe(3);
    expect(gone.stderr).toContain('refused this workspace\'s token');
    expect(await status(ws.id)).toBe(Status.AwaitingAgent);
  }, 60_000);

  it('a missing or malformed environment (WORKSPACE_ID, PLATFORM_URL, MOLECULE_WORKSPACE_TOKEN) names each variable and exits 2', async () => {
    const r = await run({ PATH: process.env.PATH ?? '', WORKSPACE_ID: 'abc', PLATFORM_URL: 'ftp://x' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('WORKSPACE_ID must be a workspace id (a UUID), got "abc"');
    expect(r.stderr).toContain('PLATFORM_URL must be an http(s) URL');
    expect(r.stderr).toContain('MOLECULE_WORKSPACE_TOKEN is not set');
    expect(r.stdout).toBe('');
  });

  it('as molecule-agent launches it for an agent it runs (no heartbeat, MOLECULE_MCP_INBOX=0): the platform tools only, instructions without an inbox, an inbox tool refused, no socket', async () => {
    const ws = await external('mcp-tools-only');
    const client = await host(await bridgeEnv(ws, { MOLECULE_MCP_DISABLE_HEARTBEAT: '1', MOLECULE_MCP_INBOX: '0' }));
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(PLATFORM_TOOLS);
    expect(client.getInstructions()).toBe(`You are workspace ${ws.id} of a Molecule org. These are the platform's tools: list_peers, delegate_task (ask a teammate), memory, send_message_to_user, and more.`);
    const refused = (await client.callTool({ name: 'wait_for_messages', arguments: {} })) as { isError?: boolean };
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toBe('wait_for_messages is not offered here: your messages reach you directly, and your answer goes back to the sender');
    const info = JSON.parse(textOf(await client.callTool({ name: 'get_workspace_info', arguments: {} }))) as Json;
    expect(info.id).toBe(ws.id);
    expect(server.deps.a2a.sockets.has(ws.id)).toBe(false);
  }, 60_000);

  it('C036 MOLECULE_MCP_DISABLE_HEARTBEAT=1 neither registers nor beats: the tools work, the workspace stays awaiting_agent', async () => {
    const ws = await external('mcp-no-beat');
    const client = await host(await bridgeEnv(ws, { MOLECULE_MCP_DISABLE_HEARTBEAT: '1' }));
    expect(textOf(await client.callTool({ name: 'get_messages', arguments: {} }))).toBe('No new messages.');
    const info = JSON.parse(textOf(await client.callTool({ name: 'get_workspace_info', arguments: {} }))) as Json;
    expect(info.id).toBe(ws.id);
    expect((await api('GET', `/workspaces/${ws.id}`)).body).toMatchObject({ status: Status.AwaitingAgent, last_heartbeat_at: null });
  }, 60_000);
});
