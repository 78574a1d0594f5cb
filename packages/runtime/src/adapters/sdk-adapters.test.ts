import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, createExternal, eventually, startTestApp } from '@molecule/server/testing';
import { startTestAgent, type Json, type TestAgent } from '../test-support/agent.js';
import { startFakeLlm, type FakeLlm, type FakeLlmOptions } from '../test-support/fake-llm.js';

// The SDK adapters (issue 16: openai-agents, langgraph) against the real platform (PGlite,
// in-process) and a fake OpenAI-compatible model server: a parent workspace whose model delegates
// to its "worker" child, a real echo agent.
const FAST = { heartbeatIntervalMs: 60_000, registerBackoff: { initialMs: 20, maxMs: 80 }, requestTimeoutMs: 5000 };
const TEMPLATES = new URL('../../../../templates/', import.meta.url);
const template = (name: string, file = 'config.yaml') => readFile(new URL(`${name}/${file}`, TEMPLATES), 'utf8');

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

interface Dirs {
  configs?: string;
  workspace: string;
}

async function parentAgent(yaml: string, env: Record<string, string>, dirs: Dirs, files: Record<string, string> = {}): Promise<TestAgent> {
  const a = await startTestAgent({
    ...FAST,
    yaml,
    files,
    ...(dirs.configs ? { dir: dirs.configs } : {}),
    env: { PLATFORM_URL: platformUrl, WORKSPACE_ID: parent.id, MOLECULE_WORKSPACE_TOKEN: parent.token, MOLECULE_WORKSPACE_DIR: dirs.workspace, ...env },
  });
  dirs.configs = a.dir;
  cleanups.push(() => a.close({ graceMs: 0 }));
  return a;
}

async function llm(opts: FakeLlmOptions): Promise<FakeLlm> {
  const l = await startFakeLlm(opts);
  cleanups.push(() => l.close());
  return l;
}

async function send(a: TestAgent, text: string, contextId = randomUUID()): Promise<Json> {
  const res = await fetch(a.url, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', messageId: randomUUID(), contextId, parts: [{ kind: 'text', text }] } } }),
  });
  return ((await res.json()) as Json).result;
}

/** The parent's agent_log rows (its own tool uses, C037) whose request mentions `marker`. */
async function toolRows(marker: string): Promise<Json[]> {
  const r = await t.app.inject({ method: 'GET', url: `/workspaces/${parent.id}/activity?type=agent_log&limit=100`, headers: t.admin });
  return (r.json() as Json[]).filter((row) => JSON.stringify(row.request_body).includes(marker));
}

const userTexts = (body: Json): string[] =>
  (body.messages as Json[]).filter((m) => m.role === 'user').map((m) => (typeof m.content === 'string' ? m.content : (m.content as Json[]).map((c) => c.text).join('')));

const workspaceDir = () => mkdtemp(path.join(os.tmpdir(), 'molecule-ws-'));

const ADAPTERS = [
  { name: 'openai-agents', yaml: () => template('openai-agents'), files: async () => ({}) },
  { name: 'langgraph', yaml: () => template('langgraph'), files: async () => ({ 'graph.mjs': await template('langgraph', 'graph.mjs') }) },
] as const;

describe.each(ADAPTERS)('$name adapter (template $name) with the platform tools', ({ yaml, files }) => {
  it('C037 the model delegates to the echo worker through delegate_task, answers with its reply, the use lands in the activity log, and a restart keeps the conversation', async () => {
    const marker = `job-${randomUUID().slice(0, 8)}`;
    const l = await llm({
      turns: [
        { toolCalls: [{ name: 'delegate_task', args: { workspace_id: child.id, task: marker } }] },
        { chunks: ['The worker said: ', `echo: ${marker}`] },
        { chunks: ['I remember.'] },
      ],
    });
    const env = { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${l.url}/v1`, MODEL: 'test-model' };
    const dirs: Dirs = { workspace: await workspaceDir() };
    const contextId = randomUUID();
    const a = await parentAgent(await yaml(), env, dirs, await files());
    const task = await send(a, `please get the worker to do ${marker}`, contextId);
    expect(task.status).toMatchObject({ state: 'completed', message: { parts: [{ text: `The worker said: echo: ${marker}` }] } });
    // Both model requests' tokens (the fake model counts 100 in, one out per chunk or call), for the workspace's budget.
    expect(task.status.message.metadata).toEqual({ usage: { input_tokens: 200, output_tokens: 3 } });
    expect(l.requests[0]!.body.model).toBe('test-model');
    expect((l.requests[0]!.body.tools as Json[]).map((x) => x.function.name)).toContain('delegate_task');
    await expect.poll(async () => (await toolRows(marker)).length).toBe(1);
    expect((await toolRows(marker))[0]).toMatchObject({ method: 'delegate_task', status: 'ok', response_body: { output: `echo: ${marker}` } });

    // A restart on the same directories: the model sees the earlier turn of this conversation.
    await a.close({ graceMs: 0 });
    const b = await parentAgent(await yaml(), env, dirs);
    const again = await send(b, 'do you remember?', contextId);
    expect(again.status).toMatchObject({ state: 'completed', message: { parts: [{ text: 'I remember.' }] } });
    expect(userTexts(l.requests[2]!.body)).toEqual([`please get the worker to do ${marker}`, 'do you remember?']);
    // Another conversation starts empty.
    await send(b, 'fresh', randomUUID());
    expect(userTexts(l.requests[3]!.body)).toEqual(['fresh']);
  });

  it.each([
    ['an HTTP error', { failWith: 500 }, 'the model server answered HTTP 500', 20],
    ['a malformed stream', { malformed: true }, 'could not read', 20],
    ['a hanging stream', { hang: true }, 'did not answer for 1 s', 1],
  ] as const)('a model server sending %s fails the message with a safe error, in the heartbeat sample too, and the next message works', async (_what, bad, expected, timeout) => {
    const broken = await llm({ ...bad, chunks: ['partial'] });
    const good = await llm({ chunks: ['fine again'] });
    const dirs: Dirs = { workspace: await workspaceDir() };
    const withTimeout = `${await yaml()}\nmodel_timeout_seconds: ${timeout}\n`;
    const a = await parentAgent(withTimeout, { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${broken.url}/v1` }, dirs, await files());
    const task = await send(a, 'hi');
    expect(task.status.state).toBe('failed');
    const text = String(task.status.message.parts[0].text);
    expect(text).toContain(expected);
    expect(text).not.toContain('127.0.0.1');
    expect(a.tracker.snapshot().sampleError).toContain(expected);
    await a.close({ graceMs: 0 });
    // The same workspace pointed at a working server answers (the failed turn left nothing stuck).
    const b = await parentAgent(await yaml(), { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${good.url}/v1` }, dirs);
    expect((await send(b, 'hi again')).status).toMatchObject({ state: 'completed', message: { parts: [{ text: 'fine again' }] } });
  });
});

describe('openai-agents adapter on the Responses API (openai_agents.api: responses)', () => {
  it('C037 streams the reply, runs the platform tool the model calls, and keeps the session across a restart', async () => {
    const marker = `job-${randomUUID().slice(0, 8)}`;
    const l = await llm({
      turns: [
        { toolCalls: [{ name: 'delegate_task', args: { workspace_id: child.id, task: marker } }] },
        { chunks: ['The worker said: ', `echo: ${marker}`] },
        { chunks: ['Again.'] },
      ],
    });
    const yaml = (await template('openai-agents')).replace('api: chat_completions', 'api: responses');
    const env = { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${l.url}/v1`, MODEL: 'test-model' };
    const dirs: Dirs = { workspace: await workspaceDir() };
    const contextId = randomUUID();
    const a = await parentAgent(yaml, env, dirs);
    const first = await send(a, `delegate ${marker}`, contextId);
    expect(first.status).toMatchObject({ state: 'completed', message: { parts: [{ text: `The worker said: echo: ${marker}` }], metadata: { usage: { input_tokens: 200, output_tokens: 3 } } } });
    expect(l.requests.map((r) => r.path)).toEqual(['/v1/responses', '/v1/responses']);
    expect((l.requests[1]!.body.input as Json[]).find((i) => i.type === 'function_call_output')).toMatchObject({ output: expect.stringContaining(`echo: ${marker}`) });
    await expect.poll(async () => (await toolRows(marker)).length).toBe(1);
    await a.close({ graceMs: 0 });
    const b = await parentAgent(yaml, env, dirs);
    expect((await send(b, 'and now?', contextId)).status).toMatchObject({ state: 'completed', message: { parts: [{ text: 'Again.' }] } });
    const inputs = (l.requests[2]!.body.input as Json[]).filter((i) => i.role === 'user').map((i) => (typeof i.content === 'string' ? i.content : JSON.stringify(i.content)));
    expect(inputs).toEqual([`delegate ${marker}`, 'and now?']);
  });
});

describe('codex adapter (template codex): the Codex SDK and its binary, the platform tools through molecule-mcp', () => {
  const env = (l: FakeLlm) => ({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${l.url}/v1`, MODEL: 'test-model', MOLECULE_RUNTIME: 'codex' });
  // Codex offers an MCP server's tools to the model as a Responses tool namespace, `mcp__<server>`.
  const delegate = (task: string) => ({ name: 'delegate_task', namespace: 'mcp__platform', args: { workspace_id: child.id, task } });

  it('C037 the model delegates to the echo worker through delegate_task, answers with its reply, the use lands in the activity log, the tokens ride on the answer, and a restart resumes the thread', async () => {
    const marker = `job-${randomUUID().slice(0, 8)}`;
    const l = await llm({ turns: [{ toolCalls: [delegate(marker)] }, { chunks: ['The worker said: ', `echo: ${marker}`] }, { chunks: ['I remember.'] }] });
    const dirs: Dirs = { workspace: await workspaceDir() };
    const contextId = randomUUID();
    const a = await parentAgent(await template('codex'), env(l), dirs);
    const task = await send(a, `please get the worker to do ${marker}`, contextId);
    expect(task.status).toMatchObject({ state: 'completed', message: { parts: [{ text: `The worker said: echo: ${marker}` }], metadata: { usage: { input_tokens: 200, output_tokens: 3 } } } });
    const offered = (l.requests[0]!.body.tools as Json[]).find((x) => x.name === 'mcp__platform');
    expect((offered?.tools as Json[]).map((x) => x.name)).toContain('delegate_task');
    expect(JSON.stringify((l.requests[1]!.body.input as Json[]).find((i) => i.type === 'function_call_output'))).toContain(`echo: ${marker}`);
    await expect.poll(async () => (await toolRows(marker)).filter((r) => r.method === 'delegate_task' && r.source_id === parent.id && r.target_id === parent.id).length).toBeGreaterThanOrEqual(1);
    const threads = JSON.parse(await readFile(path.join(dirs.workspace, '.molecule', 'codex', 'threads.json'), 'utf8')) as Record<string, string>;
    expect(threads[contextId]).toBeTruthy();

    // A restart on the same directories resumes the context's thread: the model sees the earlier turn.
    await a.close({ graceMs: 0 });
    const b = await parentAgent(await template('codex'), env(l), dirs);
    expect((await send(b, 'do you remember?', contextId)).status).toMatchObject({ state: 'completed', message: { parts: [{ text: 'I remember.' }] } });
    const users = (l.requests[2]!.body.input as Json[]).filter((i) => i.role === 'user').map((i) => JSON.stringify(i.content));
    expect(users.some((u) => u.includes(`please get the worker to do ${marker}`))).toBe(true);
    expect(users.at(-1)).toContain('do you remember?');
  });

  it('a model server answering errors fails the message with a safe error, in the heartbeat sample too, and the next message works', async () => {
    const broken = await llm({ failWith: 500 });
    const good = await llm({ chunks: ['fine again'] });
    const dirs: Dirs = { workspace: await workspaceDir() };
    const a = await parentAgent(await template('codex'), env(broken), dirs);
    const task = await send(a, 'hi');
    expect(task.status.state).toBe('failed');
    const text = String(task.status.message.parts[0].text);
    expect(text).toMatch(/the model server answered HTTP 500|Codex failed or the model server sent an answer it could not read/);
    expect(text).not.toContain('127.0.0.1');
    expect(a.tracker.snapshot().sampleError).toBe(text.replace(/^Agent error: /, ''));
    await a.close({ graceMs: 0 });
    const b = await parentAgent(await template('codex'), env(good), dirs);
    expect((await send(b, 'hi again')).status).toMatchObject({ state: 'completed', message: { parts: [{ text: 'fine again' }] } });
  });
});
