import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, createExternal, eventually, startTestApp } from '@molecule/server/testing';
import { captureLogger, startTestAgent, type Json, type TestAgent } from '../test-support/agent.js';
import { startFakeLlm, type FakeLlm, type FakeLlmOptions } from '../test-support/fake-llm.js';
import { CodexAdapter } from './codex.js';
import { MCP_BIN } from './platform-mcp.js';
import type { AdapterEvent } from './types.js';

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

  /** A codex adapter whose molecule-mcp starts `delayMs` late (as Node may on a loaded machine), and its events for one message. */
  async function slowMcpTurn(l: FakeLlm, delayMs: number, idleMs: number, text: string): Promise<AdapterEvent[]> {
    const slowBin = path.join(await workspaceDir(), 'slow-mcp.mjs');
    await writeFile(slowBin, `await new Promise((r) => setTimeout(r, ${delayMs}));\nawait import(${JSON.stringify(pathToFileURL(MCP_BIN).href)});\n`);
    const { logger } = captureLogger();
    const adapter = new CodexAdapter({
      apiKey: 'sk-test',
      baseUrl: `${l.url}/v1`,
      model: 'test-model',
      workspaceDir: await workspaceDir(),
      configsDir: await workspaceDir(),
      idleMs,
      platformUrl,
      workspaceId: parent.id,
      token: parent.token,
      log: logger,
      mcpBin: slowBin,
    });
    const events: AdapterEvent[] = [];
    const input = { text, files: [], data: [], taskId: 't', contextId: randomUUID(), messageId: 'm', metadata: {} };
    try {
      for await (const ev of adapter.run(input, { signal: new AbortController().signal, log: logger })) events.push(ev);
    } catch (err) {
      events.push({ type: 'text', text: `failed: ${(err as Error).message}` });
    }
    return events;
  }
  const textOf = (events: AdapterEvent[]) => events.flatMap((e) => (e.type === 'text' ? [e.text] : [])).join('');

  it('a molecule-mcp that takes seconds to start still has its tools offered on the first turn (Codex leaves out an optional MCP server not ready within 1 s unless told to wait)', async () => {
    const marker = `job-${randomUUID().slice(0, 8)}`;
    const l = await llm({ turns: [{ toolCalls: [delegate(marker)] }, { chunks: ['done'] }] });
    const events = await slowMcpTurn(l, 3000, 60_000, `please get the worker to do ${marker}`);
    const offered = (l.requests[0]!.body.tools as Json[]).find((x) => x.name === 'mcp__platform');
    expect((offered?.tools as Json[] | undefined)?.map((x) => x.name)).toContain('delegate_task');
    expect(events.find((e) => e.type === 'tool')).toMatchObject({ name: 'delegate_task', output: expect.stringContaining(`echo: ${marker}`) });
    expect(textOf(events)).toBe('done');
  });

  it('the wait for molecule-mcp is at most half of model_timeout_seconds, so a slower start never ends the turn as the model\'s silence', async () => {
    // 6 s timeout: the turn waits 3 s for a molecule-mcp that needs 10, then goes on without it.
    const l = await llm({ chunks: ['answered'] });
    expect(textOf(await slowMcpTurn(l, 10_000, 6000, 'hi'))).toBe('answered');
  });

  it.each([
    ['answering errors', { failWith: 500 }, /the model server answered HTTP 500|Codex failed or the model server sent an answer it could not read/],
    ['sending a malformed stream', { malformed: true }, /Codex failed or the model server sent an answer it could not read/],
    ['hanging mid-stream', { hang: true }, /did not answer for 2 s/],
    // Codex retries a server it cannot reach forever ("Reconnecting..."): the turn still ends, saying why.
    ['that cannot be reached', { unreachable: true }, /^Agent error: Codex could not reach the model server for 2 s; giving up on this message$/],
  ] as const)('a model server %s fails the message with a safe error, in the heartbeat sample too, and the next message works', async (_what, bad, expected) => {
    const broken = await llm('unreachable' in bad ? {} : { ...bad, chunks: ['partial'] });
    const good = await llm({ chunks: ['fine again'] });
    const dirs: Dirs = { workspace: await workspaceDir() };
    const brokenEnv = 'unreachable' in bad ? { ...env(broken), OPENAI_BASE_URL: 'http://no-such-host.invalid/v1' } : env(broken);
    // A 2 s timeout where the case is silence; elsewhere room for a slow start on a loaded machine,
    // which would otherwise end the turn as silence before the error arrives.
    const timeout = 'hang' in bad || 'unreachable' in bad ? 2 : 30;
    const a = await parentAgent(`${await template('codex')}\nmodel_timeout_seconds: ${timeout}\n`, brokenEnv, dirs);
    const task = await send(a, 'hi');
    expect(task.status.state).toBe('failed');
    const text = String(task.status.message.parts[0].text);
    expect(text).toMatch(expected);
    expect(text).not.toMatch(/127\.0\.0\.1|invalid/);
    expect(a.tracker.snapshot().sampleError).toBe(text.replace(/^Agent error: /, ''));
    await a.close({ graceMs: 0 });
    const b = await parentAgent(await template('codex'), env(good), dirs);
    expect((await send(b, 'hi again')).status).toMatchObject({ state: 'completed', message: { parts: [{ text: 'fine again' }] } });
  });
});
