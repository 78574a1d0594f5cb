import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_TOOLS } from '@molecule/contracts';
import { MAX_TOOL_ROUNDS } from './adapters/llm.js';
import { startTestAgent, type Json, type TestAgent } from './test-support/agent.js';
import { startFakeLlm, type FakeLlm, type FakeTurn } from './test-support/fake-llm.js';
import { type TestApp, createExternal, eventually, freePort, startTestApp } from '@molecule/server/testing';

// Agents using the platform's tools against the real platform (PGlite, in-process): a parent
// workspace whose agent delegates to its "worker" child, a real echo agent.
const FAST = { heartbeatIntervalMs: 60_000, registerBackoff: { initialMs: 20, maxMs: 80 }, requestTimeoutMs: 5000 };
const TEMPLATE = new URL('../../../templates/delegator/config.yaml', import.meta.url);

let t: TestApp;
let platformUrl: string;
let parent: { id: string; token: string };
let child: { id: string; token: string };
let childAgent: TestAgent;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  t = await startTestApp();
  platformUrl = await t.app.listen({ host: '127.0.0.1', port: 0 });
  parent = await createExternal(t, { name: 'front' });
  child = await createExternal(t, { name: 'writer', role: 'worker', parent_id: parent.id });
  childAgent = await startTestAgent({ ...FAST, env: { PLATFORM_URL: platformUrl, WORKSPACE_ID: child.id, MOLECULE_WORKSPACE_TOKEN: child.token } });
  await eventually(async () => childAgent.platform?.state === 'registered', 20_000);
}, 60_000);
afterAll(async () => {
  await childAgent?.close({ graceMs: 0 });
  await t?.close();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function parentAgent(yaml: string, env: Record<string, string> = {}): Promise<TestAgent> {
  const a = await startTestAgent({ ...FAST, yaml, env: { PLATFORM_URL: platformUrl, WORKSPACE_ID: parent.id, MOLECULE_WORKSPACE_TOKEN: parent.token, ...env } });
  cleanups.push(() => a.close({ graceMs: 0 }));
  return a;
}

async function llm(turns: FakeTurn[]): Promise<FakeLlm> {
  const l = await startFakeLlm({ turns });
  cleanups.push(() => l.close());
  return l;
}

async function send(a: TestAgent, text: string): Promise<Json> {
  const res = await fetch(a.url, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } } }),
  });
  return ((await res.json()) as Json).result;
}

/** The parent's agent_log rows (its own tool uses, C037) whose request mentions `marker`. */
async function toolRows(marker: string): Promise<Json[]> {
  const r = await t.app.inject({ method: 'GET', url: `/workspaces/${parent.id}/activity?type=agent_log&limit=100`, headers: t.admin });
  return (r.json() as Json[]).filter((row) => JSON.stringify(row.request_body).includes(marker));
}

const toolNames = (body: Json) => (body.tools as Json[]).map((x) => x.function?.name ?? x.name);

describe('script adapter delegate step against the platform', () => {
  it('templates/delegator hands the message to its worker child through delegate_task and replies with its answer (C037)', async () => {
    const a = await parentAgent(await readFile(TEMPLATE, 'utf8'));
    const marker = `task-${randomUUID().slice(0, 8)}`;
    const task = await send(a, marker);
    expect(task.status).toMatchObject({ state: 'completed', message: { parts: [{ text: `echo: ${marker}` }] } });

    // The parent reported the delegation as its own tool use; the child's log shows the parent as the sender.
    await expect.poll(async () => (await toolRows(marker)).length).toBe(1);
    expect((await toolRows(marker))[0]).toMatchObject({
      source_id: parent.id,
      target_id: parent.id,
      method: 'delegate_task',
      status: 'ok',
      request_body: { tool: 'delegate_task', input: `worker: ${marker}` },
      response_body: { output: `echo: ${marker}` },
    });
    // Activity rows follow the answer (written per tick).
    const childRows = async () =>
      ((await t.app.inject({ method: 'GET', url: `/workspaces/${child.id}/activity?type=a2a_receive&limit=100`, headers: t.admin })).json() as Json[]).filter(
        (r) => r.source_id === parent.id && JSON.stringify(r.request_body).includes(marker),
      );
    await expect.poll(async () => (await childRows()).length).toBe(1);
  });

  it('a peer that does not exist fails the task with a clear message and a failed tool use', async () => {
    const a = await parentAgent('adapter: script\nscript:\n  - delegate: { to: nobody-here }\n');
    const task = await send(a, 'x');
    expect(task.status.state).toBe('failed');
    expect(task.status.message.parts[0].text).toBe('Agent error: no peer named "nobody-here" (peers: writer)');
    await expect.poll(async () => (await toolRows('nobody-here')).map((r) => [r.status, r.error_detail])).toEqual([['error', 'no peer named "nobody-here" (peers: writer)']]);
  });
});

describe.each(['openai', 'anthropic'] as const)('%s adapter with the platform tools', (provider) => {
  const env = (l: FakeLlm): Record<string, string> =>
    provider === 'openai' ? { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${l.url}/v1` } : { ANTHROPIC_API_KEY: 'ak-test', ANTHROPIC_BASE_URL: l.url };
  const yaml = `adapter: ${provider}\nmodel: test-model\nmax_tokens: 256\n`;
  /** The tool results the model was sent back in a request, in order (`Error: ` marks a failed call). */
  const toolResults = (body: Json): { text: string; isError: boolean }[] =>
    provider === 'openai'
      ? (body.messages as Json[]).filter((m) => m.role === 'tool').map((m) => ({ text: String(m.content).replace(/^Error: /, ''), isError: String(m.content).startsWith('Error: ') }))
      : (body.messages as Json[])
          .flatMap((m) => (Array.isArray(m.content) ? (m.content as Json[]) : []))
          .filter((b) => b.type === 'tool_result')
          .map((b) => ({ text: String(b.content), isError: b.is_error === true }));

  it('offers the platform tools, runs the calls the model makes, feeds the results back and reports each call (C037)', async () => {
    const marker = `job-${randomUUID().slice(0, 8)}`;
    const l = await llm([
      { toolCalls: [{ name: 'list_peers', args: { q: 'worker' } }] },
      { chunks: ['Asking the worker.'], toolCalls: [{ name: 'delegate_task', args: { workspace_id: child.id, task: marker } }] },
      { chunks: ['The worker said: ', `echo: ${marker}`] },
    ]);
    const a = await parentAgent(yaml, env(l));
    const task = await send(a, 'please get the worker to do it');
    expect(task.status).toMatchObject({ state: 'completed', message: { parts: [{ text: `Asking the worker.\n\nThe worker said: echo: ${marker}` }] } });

    expect(l.requests).toHaveLength(3);
    const first = l.requests[0]!.body;
    expect(toolNames(first)).toEqual([...PLATFORM_TOOLS]);
    const delegateDef = (first.tools as Json[]).find((x) => (x.function?.name ?? x.name) === 'delegate_task');
    const schema = provider === 'openai' ? delegateDef.function.parameters : delegateDef.input_schema;
    expect(schema).toMatchObject({ type: 'object', properties: { workspace_id: { type: 'string' }, task: { type: 'string' } }, required: ['workspace_id', 'task'] });
    expect(first).not.toHaveProperty('tool_choice');

    const peers = toolResults(l.requests[1]!.body);
    expect(peers).toHaveLength(1);
    expect(peers[0]!.isError).toBe(false);
    expect(JSON.parse(peers[0]!.text)).toEqual([expect.objectContaining({ id: child.id, name: 'writer', role: 'worker', relation: 'child' })]);
    expect(toolResults(l.requests[2]!.body)).toEqual([peers[0], { text: `echo: ${marker}`, isError: false }]);

    await expect.poll(async () => (await toolRows(marker)).length).toBe(1);
    expect((await toolRows(marker))[0]).toMatchObject({ method: 'delegate_task', status: 'ok', target_id: parent.id, response_body: { output: `echo: ${marker}` } });
  });

  it('bad arguments and refused calls go back to the model as errors, and the turn still completes', async () => {
    const l = await llm([
      { toolCalls: [{ name: 'delegate_task', args: '{"workspace_id": ' }] },
      { toolCalls: [{ name: 'delegate_task', args: { workspace_id: 'not-a-uuid', task: 'x' } }] },
      { chunks: ['I could not delegate.'] },
    ]);
    const a = await parentAgent(yaml, env(l));
    const task = await send(a, 'delegate badly');
    expect(task.status).toMatchObject({ state: 'completed', message: { parts: [{ text: 'I could not delegate.' }] } });
    // OpenAI sends the arguments as text, so bad JSON reaches the adapter; Anthropic's client parses
    // them itself and hands over what it could (here nothing), which the platform then refuses.
    expect(toolResults(l.requests[1]!.body)).toEqual([
      provider === 'openai' ? { text: 'the tool arguments are not valid JSON', isError: true } : { text: expect.stringContaining('workspace_id'), isError: true },
    ]);
    expect(toolResults(l.requests[2]!.body)[1]).toMatchObject({ isError: true, text: expect.stringContaining('workspace_id must be a workspace UUID') });
  });

  it(`stops a model that keeps calling tools: the ${MAX_TOOL_ROUNDS}th request forbids tools, and a tool call then fails the task`, async () => {
    const l = await llm([{ toolCalls: [{ name: 'get_workspace_info', args: {} }] }]);
    const a = await parentAgent(yaml, env(l));
    const task = await send(a, 'loop forever');
    expect(task.status.state).toBe('failed');
    expect(task.status.message.parts[0].text).toBe(`Agent error: the model still asked for tools after ${MAX_TOOL_ROUNDS} requests; giving up on this message`);
    expect(l.requests).toHaveLength(MAX_TOOL_ROUNDS);
    expect(l.requests.slice(0, -1).every((r) => r.body.tool_choice === undefined)).toBe(true);
    expect(l.requests.at(-1)!.body.tool_choice).toEqual(provider === 'openai' ? 'none' : { type: 'none' });
    const info = JSON.parse(toolResults(l.requests[1]!.body)[0]!.text) as Json;
    expect(info).toMatchObject({ id: parent.id, name: 'front', children: [expect.objectContaining({ id: child.id })] });
  });

  it("a turn's model tokens ride on its answer and reach the workspace's spend through the proxy, sent and streamed", async () => {
    const l = await llm([{ toolCalls: [{ name: 'list_peers', args: {} }] }, { chunks: ['two ', 'chunks'] }, { chunks: ['streamed'] }]);
    const a = await parentAgent(yaml, env(l));
    await eventually(async () => a.platform?.state === 'registered', 20_000);
    const spent = async () => {
      const r = await t.db.query<{ i: string; o: string }>(`SELECT coalesce(sum(input_tokens), 0)::text AS i, coalesce(sum(output_tokens), 0)::text AS o FROM workspace_spend WHERE workspace_id = $1`, [parent.id]);
      return { input: Number(r.rows[0]!.i), output: Number(r.rows[0]!.o) };
    };
    const before = await spent();
    const message = (text: string, method: string) => ({ jsonrpc: '2.0', id: text, method, params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } } });
    // Two model requests (a tool round, then the answer): 100 + 100 input tokens, 1 + 2 output tokens (the fake model's counts).
    const sent = await t.app.inject({ method: 'POST', url: `/workspaces/${parent.id}/a2a`, headers: { ...t.admin, 'content-type': 'application/json' }, payload: message('sent', 'message/send') });
    expect(sent.statusCode, sent.body).toBe(200);
    expect(sent.json().result.status.message.metadata).toEqual({ usage: { input_tokens: 200, output_tokens: 3 } });
    await expect.poll(spent).toEqual({ input: before.input + 200, output: before.output + 3 });
    // A streamed answer: its last event carries the turn's one request.
    const streamed = await t.app.inject({ method: 'POST', url: `/workspaces/${parent.id}/a2a`, headers: { ...t.admin, 'content-type': 'application/json', accept: 'text/event-stream' }, payload: message('streamed', 'message/stream') });
    expect(streamed.statusCode, streamed.body).toBe(200);
    expect(streamed.body).toContain('streamed');
    await expect.poll(spent).toEqual({ input: before.input + 300, output: before.output + 4 });
  });

  it('answers without tools when the platform cannot list them (fail-open)', async () => {
    const l = await llm([{ chunks: ['fine without tools'] }]);
    const a = await parentAgent(yaml, { ...env(l), PLATFORM_URL: `http://127.0.0.1:${await freePort()}` });
    const task = await send(a, 'hi');
    expect(task.status).toMatchObject({ state: 'completed', message: { parts: [{ text: 'fine without tools' }] } });
    expect(l.requests[0]!.body).not.toHaveProperty('tools');
    expect(a.logs().some((line) => line.msg === 'answering without the platform tools: they could not be listed')).toBe(true);
  });
});
