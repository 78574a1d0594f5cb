import { randomUUID } from 'node:crypto';
import { AgentCard, Role, TaskState, type Message, type SendMessageRequest, type StreamResponse, type Task } from '@a2a-js/sdk';
import { Client, ClientFactory } from '@a2a-js/sdk/client';
import { LegacyJsonRpcTransport } from '@a2a-js/sdk/compat/v0_3/client';
import { afterEach, describe, expect, it } from 'vitest';
import { A2A_IDEMPOTENT_MESSAGES_EXTENSION, declaresIdempotentMessages } from '@molecule/contracts';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { A2A_BUSY_CODE } from './a2a-server.js';
import { DEDUPE_JOURNAL_FILE } from './dedupe.js';
import { startTestAgent, type Json, type TestAgent } from './test-support/agent.js';

const SLOW_SCRIPT = `
name: Scripted
adapter: script
max_concurrent_tasks: 1
script:
  - match: "^slow"
    steps: [{ reply: "started" }, { delay_ms: 30000 }, { reply: "never" }]
  - match: "^fail"
    steps: [{ fail: "scripted failure" }]
  - match: "^chunks"
    steps: [{ reply: "one" }, { reply: "two" }]
  - steps: [{ reply: "done: {{input}}" }]
`;

let agents: TestAgent[] = [];
afterEach(async () => {
  await Promise.all(agents.map((a) => a.close({ graceMs: 0 })));
  agents = [];
});

async function agent(opts: Parameters<typeof startTestAgent>[0] = {}): Promise<TestAgent> {
  const a = await startTestAgent(opts);
  agents.push(a);
  return a;
}

function userMessage(text: string): Message {
  return {
    messageId: randomUUID(),
    contextId: '',
    taskId: '',
    role: Role.ROLE_USER,
    parts: [{ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
}

function sendRequest(text: string, returnImmediately = false): SendMessageRequest {
  return {
    tenant: '',
    message: userMessage(text),
    configuration: { acceptedOutputModes: [], taskPushNotificationConfig: undefined, returnImmediately },
    metadata: undefined,
  };
}

function textOf(m: Message | undefined): string {
  return (m?.parts ?? []).map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');
}

function asTask(r: Message | Task): Task {
  expect('messageId' in r).toBe(false);
  return r as Task;
}

async function rpc(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Json };
}

/** The JSON payloads of an SSE body. */
function sseEvents(text: string): Json[] {
  return text
    .split('\n\n')
    .map((block) => block.split('\n').find((l) => l.startsWith('data: ')))
    .filter((l): l is string => l !== undefined)
    .map((l) => JSON.parse(l.slice(6)) as Json);
}

describe('A2A server: agent card', () => {
  it('serves the card at both well-known paths, readable by v1 and v0.3 clients', async () => {
    const a = await agent({ yaml: 'name: Carded\ndescription: Has a card\nskills: [search]\n' });
    for (const p of ['/.well-known/agent-card.json', '/.well-known/agent.json']) {
      const res = await fetch(`${a.url}${p}`);
      expect(res.status).toBe(200);
      const card = (await res.json()) as Json;
      expect(card).toMatchObject({
        name: 'Carded',
        description: 'Has a card',
        url: a.url,
        protocolVersion: '0.3.0',
        preferredTransport: 'JSONRPC',
        capabilities: { streaming: true, extensions: [expect.objectContaining({ uri: A2A_IDEMPOTENT_MESSAGES_EXTENSION })] },
        skills: [{ id: 'search', name: 'search', description: '', tags: [] }],
        supportedInterfaces: [
          { url: a.url, protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
          { url: a.url, protocolBinding: 'JSONRPC', protocolVersion: '0.3' },
        ],
      });
      expect(declaresIdempotentMessages(card)).toBe(true);
    }
    const client = await new ClientFactory().createFromUrl(a.url);
    expect((await client.getAgentCard()).name).toBe('Carded');
  });
});

describe('A2A server: a repeated messageId is processed once', () => {
  const send = (url: string, id: string | number, messageId: string, text: string, method = 'message/send') =>
    rpc(url, { jsonrpc: '2.0', id, method, params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text }] } } });
  const accepted = (a: TestAgent, messageId: string) => a.logs().filter((l) => l.msg === 'message accepted' && l.message_id === messageId).length;

  it('a repeat, sequential or concurrent, gets the first answer under its own JSON-RPC id and runs nothing', async () => {
    const a = await agent({ yaml: 'name: Slowish\nadapter: script\nmax_concurrent_tasks: 4\nscript:\n  - steps: [{ delay_ms: 200 }, { reply: "done: {{input}}" }]\n' });
    const mid = randomUUID();
    const [first, concurrent] = await Promise.all([send(a.url, 1, mid, 'one'), send(a.url, 2, mid, 'one')]);
    const later = await send(a.url, 'x', mid, 'one');
    expect(first.status).toBe(200);
    const result = first.json().result;
    expect(result.status.state).toBe('completed');
    expect(concurrent.json()).toEqual({ jsonrpc: '2.0', id: 2, result });
    expect(later.json()).toEqual({ jsonrpc: '2.0', id: 'x', result });
    expect(accepted(a, mid)).toBe(1);
    // Another messageId is another message.
    expect((await send(a.url, 3, randomUUID(), 'two')).json().result.status.message.parts[0].text).toBe('done: two');
  });

  it('the same messageId with another message is refused (-32600, HTTP 200, the field named); the first stands and ran once', async () => {
    const a = await agent({ yaml: 'name: Slowish\nadapter: script\nmax_concurrent_tasks: 4\nscript:\n  - steps: [{ delay_ms: 100 }, { reply: "done: {{input}}" }]\n' });
    const mid = randomUUID();
    const [first, other] = await Promise.all([send(a.url, 1, mid, 'one'), send(a.url, 2, mid, 'not one')]);
    expect(first.json().result.status.message.parts[0].text).toBe('done: one');
    expect(other.status).toBe(200);
    expect(other.json()).toMatchObject({ id: 2, error: { code: -32600, data: { field: 'params.message.messageId' } } });
    expect(accepted(a, mid)).toBe(1);
    // The first message under its id still answers from its result.
    expect((await send(a.url, 3, mid, 'one')).json().result.status.message.parts[0].text).toBe('done: one');
  });

  it('a repeat after a restart is answered from the answers kept in the configs dir and runs nothing', async () => {
    const first = await agent({ yaml: 'name: Slowish\nadapter: script\nscript:\n  - steps: [{ reply: "done: {{input}}" }]\n' });
    const mid = randomUUID();
    const answer = (await send(first.url, 1, mid, 'once')).json();
    expect(answer.result.status.message.parts[0].text).toBe('done: once');
    await first.close();
    const again = await agent({ dir: first.dir });
    expect((await send(again.url, 7, mid, 'once')).json()).toEqual({ ...answer, id: 7 });
    expect(accepted(again, mid)).toBe(0);
    // The journal still tells a reused messageId apart from a resend.
    expect((await send(again.url, 8, mid, 'not once')).json()).toMatchObject({ id: 8, error: { code: -32600 } });
    const journal = await readFile(path.join(first.dir, DEDUPE_JOURNAL_FILE), 'utf8');
    expect(journal.trim().split('\n')).toHaveLength(1);
    expect((await stat(path.join(first.dir, DEDUPE_JOURNAL_FILE))).mode & 0o777).toBe(0o600);
  });

  it('a busy refusal is not remembered: the repeat runs once a slot is free', async () => {
    const a = await agent({ yaml: SLOW_SCRIPT });
    const client = await new ClientFactory().createFromUrl(a.url);
    const slow = asTask(await client.sendMessage(sendRequest('slow', true)));
    const mid = randomUUID();
    expect((await send(a.url, 1, mid, 'hi')).status).toBe(503);
    await client.cancelTask({ tenant: '', id: slow.id, metadata: undefined });
    await expect.poll(() => a.tracker.inFlight).toBe(0);
    const r = await send(a.url, 2, mid, 'hi');
    expect(r.json().result.status.message.parts[0].text).toBe('done: hi');
    expect(accepted(a, mid)).toBe(1);
  });
});

describe('A2A server: echo through the SDK client', () => {
  it('answers "echo: hi" to SendMessage (v1)', async () => {
    const a = await agent();
    const client = await new ClientFactory().createFromUrl(a.url);
    const task = asTask(await client.sendMessage(sendRequest('hi')));
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(textOf(task.status?.message)).toBe('echo: hi');
    expect(task.artifacts.map((x) => textOf({ parts: x.parts } as Message))).toEqual(['echo: hi']);
  });

  it('streams "echo: hi" over SSE for SendStreamingMessage (v1)', async () => {
    const a = await agent();
    const client = await new ClientFactory().createFromUrl(a.url);
    const events: StreamResponse[] = [];
    for await (const ev of client.sendMessageStream(sendRequest('hi'))) events.push(ev);
    const cases = events.map((e) => e.payload?.$case);
    expect(cases[0]).toBe('task');
    expect(cases).toContain('artifactUpdate');
    const last = events.at(-1)!.payload;
    expect(last?.$case).toBe('statusUpdate');
    if (last?.$case !== 'statusUpdate') return;
    expect(last.value.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(textOf(last.value.status?.message)).toBe('echo: hi');
  });

  it('answers message/send and message/stream from the SDK v0.3 client', async () => {
    const a = await agent();
    const card = AgentCard.fromJSON(await (await fetch(`${a.url}/.well-known/agent-card.json`)).json());
    const legacy = new Client(new LegacyJsonRpcTransport({ endpoint: a.url }), card);
    const task = asTask(await legacy.sendMessage(sendRequest('hi')));
    expect(textOf(task.status?.message)).toBe('echo: hi');
    const events: StreamResponse[] = [];
    for await (const ev of legacy.sendMessageStream(sendRequest('hi'))) events.push(ev);
    const last = events.at(-1)!.payload;
    expect(last?.$case === 'statusUpdate' && textOf(last.value.status?.message)).toBe('echo: hi');
    const got = await legacy.getTask({ tenant: '', id: task.id, historyLength: undefined });
    expect(got.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
  });
});

describe('A2A server: other shapes on the wire', () => {
  it('accepts v0.2 message/send with string content and answers in v0.3 shape', async () => {
    const a = await agent();
    const r = await rpc(a.url, { jsonrpc: '2.0', id: 7, method: 'message/send', params: { message: { role: 'user', content: 'hi' } } });
    expect(r.status).toBe(200);
    const body = r.json();
    expect(body.id).toBe(7);
    expect(body.result).toMatchObject({ kind: 'task', status: { state: 'completed', message: { role: 'agent', parts: [{ kind: 'text', text: 'echo: hi' }] } } });
  });

  it('accepts v0.2 parts tagged with `type` on message/stream at /a2a', async () => {
    const a = await agent();
    const r = await rpc(`${a.url}/a2a`, { jsonrpc: '2.0', id: 'x', method: 'message/stream', params: { message: { parts: [{ type: 'text', text: 'hi' }] } } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/event-stream');
    const events = sseEvents(r.text);
    expect(events[0]!.result.kind).toBe('task');
    expect(events.at(-1)!.result).toMatchObject({ kind: 'status-update', final: true, status: { state: 'completed', message: { parts: [{ text: 'echo: hi' }] } } });
  });

  it('accepts v1 method names with v0.3-shaped parts, and without a Content-Type', async () => {
    const a = await agent();
    const res = await fetch(a.url, {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SendMessage', params: { message: { role: 'user', messageId: 'm', parts: [{ kind: 'text', text: 'hi' }] } } }),
    });
    const body = (await res.json()) as Json;
    expect(body.result.task.status).toMatchObject({ state: 'TASK_STATE_COMPLETED', message: { role: 'ROLE_AGENT', parts: [{ text: 'echo: hi' }] } });
  });

  it('answers tasks/get for a finished task and TaskNotFound for an unknown one', async () => {
    const a = await agent();
    const sent = (await rpc(a.url, { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { content: 'hi' } } })).json();
    const got = (await rpc(a.url, { jsonrpc: '2.0', id: 2, method: 'tasks/get', params: { id: sent.result.id } })).json();
    expect(got.result).toMatchObject({ id: sent.result.id, status: { state: 'completed' } });
    const missing = (await rpc(a.url, { jsonrpc: '2.0', id: 3, method: 'GetTask', params: { id: 'nope' } })).json();
    expect(missing.error.code).toBe(-32001);
  });

  it.each([
    ['invalid JSON', '{"jsonrpc": "2.0",', 200, -32700],
    ['an unknown method', { jsonrpc: '2.0', id: 1, method: 'tasks/explode', params: {} }, 200, -32601],
    ['a message without content or parts (C055)', { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user' } } }, 200, -32602],
    ['an integer content (C055)', { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { content: 3 } } }, 200, -32602],
    ['a negative historyLength', { jsonrpc: '2.0', id: 1, method: 'tasks/get', params: { id: 'x', historyLength: -1 } }, 200, -32602],
    ['an invalid timestamp', { jsonrpc: '2.0', id: 1, method: 'ListTasks', params: { statusTimestampAfter: 'not a time' } }, 200, -32602],
  ])('rejects %s with a JSON-RPC error in HTTP 200, as A2A clients expect', async (_name, body, status, code) => {
    const a = await agent();
    const r = await rpc(a.url, body);
    expect(r.status).toBe(status);
    expect(r.json()).toMatchObject({ jsonrpc: '2.0', error: { code } });
    expect(a.tracker.inFlight).toBe(0);
  });

  it('answers 404 JSON for other paths', async () => {
    const a = await agent();
    const res = await fetch(`${a.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not found' });
  });
});

describe('A2A server: script adapter, busy and cancel', () => {
  it('streams several chunks and ends with the whole reply', async () => {
    const a = await agent({ yaml: SLOW_SCRIPT });
    const r = await rpc(a.url, { jsonrpc: '2.0', id: 1, method: 'message/stream', params: { message: { content: 'chunks' } } });
    const events = sseEvents(r.text).map((e) => e.result);
    const chunks = events.filter((e) => e.kind === 'artifact-update');
    expect(chunks.map((c) => [c.artifact.parts[0].text, c.append, c.lastChunk])).toEqual([
      ['one', false, false],
      ['\ntwo', true, false],
      ['one\ntwo', false, true],
    ]);
    expect(events.at(-1)).toMatchObject({ status: { state: 'completed', message: { parts: [{ text: 'one\ntwo' }] } } });
  });

  it('fails the task with the adapter error and keeps serving', async () => {
    const a = await agent({ yaml: SLOW_SCRIPT });
    const client = await new ClientFactory().createFromUrl(a.url);
    const task = asTask(await client.sendMessage(sendRequest('fail now')));
    expect(task.status?.state).toBe(TaskState.TASK_STATE_FAILED);
    expect(textOf(task.status?.message)).toBe('Agent error: scripted failure');
    expect(a.tracker.snapshot()).toMatchObject({ errorRate: 1, sampleError: 'scripted failure' });
    expect(textOf(asTask(await client.sendMessage(sendRequest('ok'))).status?.message)).toBe('done: ok');
  });

  it('answers busy (HTTP 503, Retry-After, code and data.busy) beyond max_concurrent_tasks', async () => {
    const a = await agent({ yaml: SLOW_SCRIPT });
    const client = await new ClientFactory().createFromUrl(a.url);
    const slow = asTask(await client.sendMessage(sendRequest('slow', true)));
    expect(slow.status?.state).not.toBe(TaskState.TASK_STATE_COMPLETED);
    expect(a.tracker.snapshot()).toMatchObject({ activeTasks: 1, currentTask: 'slow' });

    for (const [method, params] of [
      ['message/send', { message: { content: 'hi' } }],
      ['SendStreamingMessage', { message: { parts: [{ text: 'hi' }] } }],
    ] as const) {
      const r = await rpc(a.url, { jsonrpc: '2.0', id: 'b1', method, params });
      expect(r.status).toBe(503);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(r.json()).toEqual({
        jsonrpc: '2.0',
        id: 'b1',
        error: {
          code: A2A_BUSY_CODE,
          message: expect.stringContaining('busy'),
          data: { busy: true, retry_after_ms: expect.any(Number), active_tasks: 1, max_concurrent_tasks: 1 },
        },
      });
    }
    await expect(client.sendMessage(sendRequest('hi'))).rejects.toThrow(/busy/);
    // Bookkeeping calls never count against the limit.
    expect((await client.getTask({ tenant: '', id: slow.id, historyLength: undefined })).status?.state).toBe(TaskState.TASK_STATE_WORKING);
  });

  it('cancels a running task (CancelTask and tasks/cancel), which frees its slot', async () => {
    const a = await agent({ yaml: SLOW_SCRIPT });
    const client = await new ClientFactory().createFromUrl(a.url);
    const slow = asTask(await client.sendMessage(sendRequest('slow', true)));
    const canceled = await client.cancelTask({ tenant: '', id: slow.id, metadata: undefined });
    expect(canceled.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    await expect.poll(() => a.tracker.inFlight).toBe(0);
    expect((await client.getTask({ tenant: '', id: slow.id, historyLength: undefined })).status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    expect(a.tracker.snapshot().errorRate).toBe(0);

    // The v0.3 spelling, against a task whose blocking stream is still open.
    const stream = rpc(a.url, { jsonrpc: '2.0', id: 's', method: 'message/stream', params: { message: { content: 'slow again' } } });
    await expect.poll(() => a.tracker.snapshot().activeTasks).toBe(1);
    const busy = (await rpc(a.url, { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { content: 'x' } } })).json();
    expect(busy.error.data.busy).toBe(true);
    const listed = await client.listTasks({ tenant: '', contextId: '', status: 0, pageSize: undefined, pageToken: '', historyLength: undefined, statusTimestampAfter: undefined, includeArtifacts: undefined });
    const running = listed.tasks.find((t) => t.status?.state === TaskState.TASK_STATE_WORKING)!;
    const r = (await rpc(a.url, { jsonrpc: '2.0', id: 2, method: 'tasks/cancel', params: { id: running.id } })).json();
    expect(r.result.status.state).toBe('canceled');
    const events = sseEvents((await stream).text);
    expect(events.at(-1)!.result).toMatchObject({ kind: 'status-update', status: { state: 'canceled' } });
    expect(a.tracker.inFlight).toBe(0);
  });

  it('keeps the task (and its slot) when a stream client goes away', async () => {
    const a = await agent({ yaml: SLOW_SCRIPT });
    const ac = new AbortController();
    const res = await fetch(a.url, {
      method: 'POST',
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/stream', params: { message: { content: 'slow' } } }),
      signal: ac.signal,
    });
    const reader = res.body!.getReader();
    await reader.read(); // the first event: the task exists
    ac.abort();
    await reader.read().catch(() => undefined);
    const client = await new ClientFactory().createFromUrl(a.url);
    await expect.poll(async () => (await rpc(a.url, { jsonrpc: '2.0', id: 2, method: 'message/send', params: { message: { content: 'x' } } })).status).toBe(503);
    expect(a.tracker.snapshot()).toMatchObject({ activeTasks: 1, currentTask: 'slow' });
    const listed = await client.listTasks({ tenant: '', contextId: '', status: 0, pageSize: undefined, pageToken: '', historyLength: undefined, statusTimestampAfter: undefined, includeArtifacts: undefined });
    expect(listed.tasks.map((t) => t.status?.state)).toEqual([TaskState.TASK_STATE_WORKING]);
  });

  it('cancels running tasks when closed with no grace left', async () => {
    const a = await startTestAgent({ yaml: SLOW_SCRIPT });
    const client = await new ClientFactory().createFromUrl(a.url);
    await client.sendMessage(sendRequest('slow', true));
    await a.close({ graceMs: 50 });
    expect(a.tracker.inFlight).toBe(0);
    expect(a.logs().some((l) => l.msg === 'shutdown grace elapsed; canceling running tasks')).toBe(true);
  });
});
