import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Role, TaskState, type Message, type SendMessageRequest, type StreamResponse, type Task } from '@a2a-js/sdk';
import { ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver, JsonRpcTransportFactory, type Client, type Transport } from '@a2a-js/sdk/client';
import { LegacyJsonRpcTransport } from '@a2a-js/sdk/compat/v0_3/client';
import { Status, type A2ADialect } from '@molecule/contracts';
import { createWs, json } from '../test-support/api.js';
import { startWithFakeBackend } from '../test-support/fake-provisioner.js';
import type { TestApp } from '../test-support/harness.js';
import { startOneDialectAgent, type OneDialectAgent } from '../test-support/one-dialect-agent.js';
import { mintWorkspaceToken } from '../auth/repo.js';
import { setStatus } from '../workspaces/repo.js';
import { bridgeTo, cardDialects } from './bridge.js';

// Dialect bridging (issue #10): the official @a2a-js/sdk client of each dialect talks, through the
// proxy, to an agent built on the same SDK that speaks only the other dialect.
describe('A2A dialect bridge', () => {
  let t: TestApp;
  let base: string;
  let agent: OneDialectAgent | undefined;

  beforeAll(async () => {
    ({ t } = await startWithFakeBackend());
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => t.close());
  afterEach(async () => {
    await agent?.close();
    agent = undefined;
  });

  /** An online workspace whose agent speaks only `dialect`, with that agent's card registered. */
  async function onlineWith(dialect: A2ADialect) {
    agent = await startOneDialectAgent(dialect);
    const ws = await createWs(t, { name: `bridge-${dialect}-${randomUUID().slice(0, 6)}` });
    await expect.poll(async () => (await t.db.query<{ i: string | null }>('SELECT instance_id AS i FROM workspaces WHERE id = $1', [ws.id])).rows[0]!.i).not.toBeNull();
    await setStatus(t.db, ws.id, Status.Online);
    await t.db.query('UPDATE workspaces SET url = $2, agent_card = $3 WHERE id = $1', [ws.id, agent.url, JSON.stringify(agent.card)]);
    t.deps.workspaceCache.invalidate(ws.id);
    return ws.id;
  }

  const authFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), authorization: t.admin.authorization } });

  /** The v1 client, from the card the proxy serves. */
  async function v1Client(id: string): Promise<Client> {
    const factory = new ClientFactory(
      ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
        transports: [new JsonRpcTransportFactory({ fetchImpl: authFetch })],
        cardResolver: new DefaultAgentCardResolver({ fetchImpl: authFetch }),
      }),
    );
    return factory.createFromUrl(`${base}/workspaces/${id}/a2a/agent-card`, '');
  }
  /** The v0.3 client (the SDK's compat transport) at the proxy's endpoint. */
  const v03Client = (id: string): Transport => new LegacyJsonRpcTransport({ endpoint: `${base}/workspaces/${id}/a2a`, fetchImpl: authFetch });

  const message = (text: string): Message => ({
    messageId: randomUUID(),
    contextId: '',
    taskId: '',
    role: Role.ROLE_USER,
    parts: [{ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  });
  const request = (text: string, returnImmediately = false): SendMessageRequest => ({
    tenant: '',
    message: message(text),
    configuration: { acceptedOutputModes: [], taskPushNotificationConfig: undefined, historyLength: undefined, returnImmediately },
    metadata: undefined,
  });
  const replyOf = (r: unknown) => {
    const t = r as Task;
    return (t.status?.message?.parts ?? []).map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');
  };

  it('a v1 client and a v0.3-only agent: the message goes as message/send, the answer comes back as v1', async () => {
    const id = await onlineWith('v0.3');
    const client = await v1Client(id);
    const r = await client.sendMessage(request('hi v1'));
    expect(replyOf(r)).toBe('echo: hi v1');
    expect((r as Task).status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(agent!.methods).toEqual(['message/send']);
  });

  it('a v0.3 client and a v1-only agent: the message goes as SendMessage, the answer comes back as v0.3', async () => {
    const id = await onlineWith('v1');
    const r = await v03Client(id).sendMessage(request('hi v0.3'));
    expect(replyOf(r)).toBe('echo: hi v0.3');
    expect(agent!.methods).toEqual(['SendMessage']);
    // On the wire the caller got v0.3 shapes (kind, state names).
    const raw = await t.app.inject({
      method: 'POST',
      url: `/workspaces/${id}/a2a`,
      headers: { ...t.admin, ...json },
      payload: { jsonrpc: '2.0', id: 7, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text: 'raw' }] } } },
    });
    expect(raw.json()).toMatchObject({ jsonrpc: '2.0', id: 7, result: { kind: 'task', status: { state: 'completed', message: { kind: 'message', role: 'agent', parts: [{ kind: 'text', text: 'echo: raw' }] } } } });
  });

  it.each(['v1', 'v0.3'] as const)('streamed events reach a %s client translated, to the end', async (callerDialect) => {
    const id = await onlineWith(callerDialect === 'v1' ? 'v0.3' : 'v1');
    const stream: AsyncGenerator<StreamResponse | Message | Task | unknown> = callerDialect === 'v1' ? (await v1Client(id)).sendMessageStream(request('streamed')) : v03Client(id).sendMessageStream(request('streamed'));
    const events: unknown[] = [];
    for await (const e of stream) events.push(e);
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(events)).toContain('echo: streamed');
    expect(JSON.stringify(events.at(-1))).toContain(callerDialect === 'v1' ? String(TaskState.TASK_STATE_COMPLETED) : String(TaskState.TASK_STATE_COMPLETED));
    expect(agent!.methods).toEqual([callerDialect === 'v1' ? 'message/stream' : 'SendStreamingMessage']);
  });

  it.each(['v1', 'v0.3'] as const)("the agent's errors reach a %s client as its typed errors, with their codes", async (callerDialect) => {
    const id = await onlineWith(callerDialect === 'v1' ? 'v0.3' : 'v1');
    const get = callerDialect === 'v1' ? (await v1Client(id)).getTask({ tenant: '', id: 'no-such-task', historyLength: undefined }) : v03Client(id).getTask({ tenant: '', id: 'no-such-task', historyLength: undefined });
    expect(await get.catch((e: unknown) => e)).toMatchObject({ name: 'TaskNotFoundError' });
  });

  it('a task can be started, read and canceled across the bridge (v1 client, v0.3 agent)', async () => {
    const id = await onlineWith('v0.3');
    const client = await v1Client(id);
    const started = (await client.sendMessage(request('wait for me', true))) as Task;
    expect([TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING]).toContain(started.status?.state);
    await expect.poll(async () => (await client.getTask({ tenant: '', id: started.id, historyLength: undefined })).status?.state).toBe(TaskState.TASK_STATE_WORKING);
    const canceled = await client.cancelTask({ tenant: '', id: started.id, metadata: undefined });
    expect(canceled.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    expect(agent!.methods[0]).toBe('message/send');
    expect(agent!.methods.at(-1)).toBe('tasks/cancel');
    expect(agent!.methods.slice(1, -1).every((m) => m === 'tasks/get')).toBe(true);
  });

  it.each([
    ['v1', 'v0.3', { jsonrpc: '2.0', id: 1, result: { kind: 'banana', peel: true } }],
    ['v0.3', 'v1', { jsonrpc: '2.0', id: 1, result: { banana: { peel: true } } }],
  ] as const)('bad input: a %s caller, a %s agent whose answer does not fit the A2A types: a clear JSON-RPC error (invalid agent response), never a half-translated result', async (callerDialect, agentDialect, answer) => {
    const id = await onlineWith(agentDialect);
    agent!.nextRaw = answer;
    const payload =
      callerDialect === 'v1'
        ? { jsonrpc: '2.0', id: 3, method: 'SendMessage', params: { message: { role: 'ROLE_USER', messageId: randomUUID(), parts: [{ text: 'x' }] } } }
        : { jsonrpc: '2.0', id: 3, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text: 'x' }] } } };
    const r = await t.app.inject({ method: 'POST', url: `/workspaces/${id}/a2a`, headers: { ...t.admin, ...json }, payload });
    expect(r.statusCode).toBe(200);
    const body = r.json<{ id: unknown; result?: unknown; error?: { code: number; message: string } }>();
    expect(body.result).toBeUndefined();
    // -32006: A2A's InvalidAgentResponseError.
    expect(body).toMatchObject({ jsonrpc: '2.0', id: 3, error: { code: -32006, message: expect.any(String) } });
  });

  it('C044 a bridged message the agent goes quiet on is queued as the caller sent it, and its delivery is bridged again', async () => {
    const id = await onlineWith('v0.3');
    const payload = { jsonrpc: '2.0', id: 5, method: 'SendMessage', params: { message: { role: 'ROLE_USER', messageId: randomUUID(), parts: [{ text: 'wait for the queue' }] } } };
    const r = await t.app.inject({ method: 'POST', url: `/workspaces/${id}/a2a`, headers: { ...t.admin, ...json, 'x-timeout': '1' }, payload });
    expect(r.statusCode, r.body).toBe(202);
    const item = (await t.db.query<{ method: string; body: { method: string } }>('SELECT method, body FROM a2a_queue WHERE workspace_id = $1', [id])).rows[0]!;
    expect(item).toMatchObject({ method: 'SendMessage', body: { method: 'SendMessage' } });
    // A retry is the same message (not a reused messageId): the queue's answer, not a 409.
    expect((await t.app.inject({ method: 'POST', url: `/workspaces/${id}/a2a`, headers: { ...t.admin, ...json }, payload })).statusCode).toBe(202);
    const token = (await mintWorkspaceToken(t.db, id)).token;
    await t.app.inject({ method: 'POST', url: '/registry/heartbeat', headers: { ...json, authorization: `Bearer ${token}` }, payload: { workspace_id: id, active_tasks: 0 } });
    await expect.poll(() => agent!.methods).toEqual(['message/send', 'message/send']);
  });

  it('the proxied card of a one-dialect agent names both dialects, pointing at the proxy', async () => {
    for (const d of ['v1', 'v0.3'] as const) {
      const id = await onlineWith(d);
      const card = (await t.app.inject({ method: 'GET', url: `/workspaces/${id}/a2a/agent-card`, headers: t.admin })).json<Record<string, unknown>>();
      expect(cardDialects(card)).toEqual(new Set(['v1', 'v0.3']));
      expect(JSON.stringify(card)).not.toContain(agent!.url);
      await agent!.close();
      agent = undefined;
    }
  });

  it('what a card says about dialects, and when a request is translated', () => {
    expect(cardDialects({ protocolVersion: '0.3.0', url: 'x' })).toEqual(new Set(['v0.3']));
    expect(cardDialects({ supportedInterfaces: [{ url: 'x', protocolBinding: 'JSONRPC', protocolVersion: '1.0' }] })).toEqual(new Set(['v1']));
    expect(cardDialects({ supportedInterfaces: [{ url: 'x', protocolBinding: 'GRPC', protocolVersion: '1.0' }] })).toEqual(new Set());
    expect(cardDialects({ protocolVersion: '0.3.0', supportedInterfaces: [{ url: 'x', protocolBinding: 'JSONRPC', protocolVersion: '1.0' }] })).toEqual(new Set(['v1', 'v0.3']));
    expect(cardDialects(null)).toEqual(new Set());
    const rpc = (dialect: A2ADialect | null) => ({ dialect, kind: 'send' as const, id: 1, request: { jsonrpc: '2.0' as const, id: 1, method: 'x', params: {} } });
    expect(bridgeTo(rpc('v1'), { protocolVersion: '0.3.0' })).toBe('v0.3');
    expect(bridgeTo(rpc('v0.3'), { supportedInterfaces: [{ protocolBinding: 'JSONRPC', protocolVersion: '1.0' }] })).toBe('v1');
    expect(bridgeTo(rpc('v1'), { protocolVersion: '0.3.0', supportedInterfaces: [{ protocolBinding: 'JSONRPC', protocolVersion: '1.0' }] })).toBeUndefined();
    expect(bridgeTo(rpc(null), { protocolVersion: '0.3.0' })).toBeUndefined();
    expect(bridgeTo(rpc('v1'), undefined)).toBeUndefined();
  });
});
