import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { PLATFORM_TOOLS, Status } from '@molecule/contracts';
import { mintWorkspaceToken } from '../auth/repo.js';
import { bearer, createWs, json } from '../test-support/api.js';
import { startFakeAgent, type FakeAgent } from '../test-support/fake-agent.js';
import { startWithFakeBackend } from '../test-support/fake-provisioner.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { setStatus } from '../workspaces/repo.js';
import { MCP_CALLS_PER_MINUTE } from './routes.js';

describe('platform tools over MCP', () => {
  let t: TestApp;
  let base: string;
  let agent: FakeAgent;
  const clients: Client[] = [];

  beforeAll(async () => {
    ({ t } = await startWithFakeBackend());
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await t.close();
  });
  afterEach(async () => agent?.close());

  /** A parent workspace with an online child whose agent is a fake; an MCP client acting as the parent. */
  async function setup() {
    agent = await startFakeAgent();
    const parent = await createWs(t, { name: `m-parent-${randomUUID().slice(0, 4)}` });
    const child = await createWs(t, { name: 'm-child', parent_id: parent.id, role: 'researcher' });
    await expect.poll(async () => (await t.db.query<{ i: string | null }>('SELECT instance_id AS i FROM workspaces WHERE id = $1', [child.id])).rows[0]!.i).not.toBeNull();
    await setStatus(t.db, child.id, Status.Online);
    await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [child.id, agent.url]);
    t.deps.workspaceCache.invalidate(child.id);
    const token = (await mintWorkspaceToken(t.db, parent.id)).token;
    const client = new Client({ name: 'test-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/workspaces/${parent.id}/mcp`), { requestInit: { headers: bearer(token) } }));
    clients.push(client);
    return { parent, child, token, client };
  }

  const text = (r: unknown) => ((r as { content: { text: string }[] }).content[0]!.text);
  const call = async (client: Client, name: string, args: Record<string, unknown> = {}) => client.callTool({ name, arguments: args });

  it('lists the platform tools and describes the calling workspace', async () => {
    const { parent, child, client } = await setup();
    expect((await client.listTools()).tools.map((x) => x.name)).toEqual([...PLATFORM_TOOLS]);
    const info = JSON.parse(text(await call(client, 'get_workspace_info'))) as { id: string; children: { id: string }[] };
    expect(info.id).toBe(parent.id);
    expect(info.children.map((c) => c.id)).toEqual([child.id]);
    const peers = JSON.parse(text(await call(client, 'list_peers', { q: 'research' }))) as { id: string }[];
    expect(peers.map((p) => p.id)).toEqual([child.id]);
  });

  it('delegate_task reaches the child and returns its answer; chat_history shows the exchange', async () => {
    const { child, client } = await setup();
    const r = await call(client, 'delegate_task', { workspace_id: child.id, task: 'look this up' });
    expect(r.isError).toBeFalsy();
    expect(text(r)).toBe('echo: look this up');
    expect(r.structuredContent).toMatchObject({ status: 'completed', target_id: child.id, result: 'echo: look this up' });
    await expect
      .poll(async () => JSON.parse(text(await call(client, 'chat_history', { peer_id: child.id }))) as { direction: string }[])
      .toEqual([expect.objectContaining({ direction: 'sent', peer_id: child.id, method: 'message/send' })]);
  });

  it('delegate_task_async then check_task_status reports the result; another workspace cannot see it', async () => {
    const { child, client, parent } = await setup();
    const started = JSON.parse(text(await call(client, 'delegate_task_async', { workspace_id: child.id, task: 'async job' }))) as { task_id: string };
    await expect.poll(async () => JSON.parse(text(await call(client, 'check_task_status', { task_id: started.task_id }))) as { status: string }).toMatchObject({ status: 'completed', result: 'echo: async job' });
    const childToken = (await mintWorkspaceToken(t.db, child.id)).token;
    const other = new Client({ name: 'other', version: '1' });
    await other.connect(new StreamableHTTPClientTransport(new URL(`${base}/workspaces/${child.id}/mcp`), { requestInit: { headers: bearer(childToken) } }));
    clients.push(other);
    expect(JSON.parse(text(await call(other, 'check_task_status', { task_id: started.task_id })))).toEqual({ task_id: started.task_id, status: 'not_found' });
    expect(parent.id).not.toBe(child.id);
  });

  it('a delegation the hierarchy forbids is a tool error saying why, and nothing is sent', async () => {
    const { client } = await setup();
    const stranger = await createWs(t, { name: 'm-stranger', parent_id: (await createWs(t, { name: 'm-other-root' })).id });
    const r = await call(client, 'delegate_task', { workspace_id: stranger.id, task: 'x' });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('hierarchy');
    expect(agent.received).toHaveLength(0);
  });

  it('bad tool arguments are refused by the schema', async () => {
    const { client } = await setup();
    const r = await call(client, 'delegate_task', { workspace_id: 'nope', task: 'x' });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('workspace_id must be a workspace UUID');
    const h = await call(client, 'chat_history', { before_ts: '2026-13-45' });
    expect(h.isError).toBe(true);
  });

  it('send_message_to_user notifies the canvas and lands in the activity log', async () => {
    const { parent, client } = await setup();
    const seen: string[] = [];
    const off = t.bus.subscribe((e) => {
      if (e.type === 'AGENT_MESSAGE' && e.workspace_id === parent.id) seen.push(String(e.payload.message));
    });
    try {
      expect(text(await call(client, 'send_message_to_user', { message: 'report ready' }))).toBe('Message sent.');
      await expect.poll(() => seen).toEqual(['report ready']);
      const rows = await t.db.query(`SELECT 1 FROM activity_logs WHERE workspace_id = $1 AND method = 'notify'`, [parent.id]);
      expect(rows.rowCount).toBe(1);
    } finally {
      off();
    }
  });

  it('auth: no credential 401, another workspace token 403, GET 405', async () => {
    const { parent, child } = await setup();
    const childToken = (await mintWorkspaceToken(t.db, child.id)).token;
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
    const mcpHeaders = { ...json, accept: 'application/json, text/event-stream' };
    expect((await t.app.inject({ method: 'POST', url: `/workspaces/${parent.id}/mcp`, headers: mcpHeaders, payload: list })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'POST', url: `/workspaces/${parent.id}/mcp`, headers: { ...mcpHeaders, ...bearer(childToken) }, payload: list })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: `/workspaces/${parent.id}/mcp`, headers: t.admin })).statusCode).toBe(405);
  });

  it(`is rate-limited per credential (${MCP_CALLS_PER_MINUTE} calls a minute)`, async () => {
    const ws = await createWs(t, { name: 'm-rate' });
    const token = (await mintWorkspaceToken(t.db, ws.id)).token;
    const headers = { ...json, accept: 'application/json, text/event-stream', ...bearer(token) };
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
    let last = 0;
    for (let i = 0; i <= MCP_CALLS_PER_MINUTE; i++) last = (await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/mcp`, headers, payload: list })).statusCode;
    expect(last).toBe(429);
  });
});

describe('the MCP endpoint as hosts expect it', () => {
  // Its own app: the rate-limit test above spends the shared per-address budget of unauthenticated calls.
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await startTestApp();
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => t.close());

  const initialize = (version: string) => ({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'host', version: '1' } } });
  const mcpPost = (id: string, headers: Record<string, string>, payload: unknown = initialize('2025-06-18')) =>
    fetch(`${base}/workspaces/${id}/mcp`, { method: 'POST', headers: { ...json, accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(payload) });

  it.each([
    ['no credential', {}],
    ['a token that is not one', bearer('mol_ws_not-a-real-token')],
  ])('a 401 (%s) carries WWW-Authenticate: Bearer with resource_metadata, and that document names the endpoint', async (_what, headers) => {
    const ws = await createWs(t, { name: 'm-401', runtime: 'external' });
    const r = await mcpPost(ws.id, headers);
    expect(r.status).toBe(401);
    const challenge = r.headers.get('www-authenticate');
    expect(challenge).toBe(`Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/workspaces/${ws.id}/mcp"`);
    const doc = await fetch(/resource_metadata="([^"]+)"/.exec(challenge!)![1]!);
    expect(doc.status).toBe(200);
    expect(await doc.json()).toEqual({ resource: `${base}/workspaces/${ws.id}/mcp`, resource_name: 'Molecule platform tools', bearer_methods_supported: ['header'], resource_documentation: `${base}/openapi.json` });
  });

  it("another workspace's token is 403 without a challenge; the metadata of a path that is not a workspace id is 400", async () => {
    const ws = await createWs(t, { name: 'm-403', runtime: 'external' });
    const other = await createWs(t, { name: 'm-403-other', runtime: 'external' });
    const r = await mcpPost(ws.id, bearer((other.connection as { auth_token: string }).auth_token));
    expect(r.status).toBe(403);
    expect(r.headers.get('www-authenticate')).toBeNull();
    expect((await fetch(`${base}/.well-known/oauth-protected-resource/workspaces/not-a-uuid/mcp`)).status).toBe(400);
  });

  it('a client pinning a protocol revision we do not speak gets an error naming the ones we do; a pinned revision we speak is accepted', async () => {
    const ws = await createWs(t, { name: 'm-version', runtime: 'external' });
    const token = bearer((ws.connection as { auth_token: string }).auth_token);
    const refused = await mcpPost(ws.id, { ...token, 'mcp-protocol-version': '2026-07-28' }, initialize('2026-07-28'));
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as { error: { code: number; message: string; data: { supported: string[]; requested: string } } };
    expect(body.error.code).toBe(-32602);
    expect(body.error.message).toMatch(/^unsupported MCP protocol version 2026-07-28: this server speaks 2025-11-25, 2025-06-18, /);
    expect(body.error.data).toEqual({ supported: expect.arrayContaining(['2025-11-25', '2025-06-18', '2025-03-26']), requested: '2026-07-28' });
    const accepted = await mcpPost(ws.id, { ...token, 'mcp-protocol-version': '2025-06-18' }, initialize('2025-06-18'));
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toMatchObject({ result: { protocolVersion: '2025-06-18' } });
    // Unpinned, an unknown revision is negotiated as the MCP lifecycle says: the answer names the newest we speak.
    const negotiated = await mcpPost(ws.id, token, initialize('2026-07-28'));
    expect(await negotiated.json()).toMatchObject({ result: { protocolVersion: '2025-11-25' } });
  });
});
