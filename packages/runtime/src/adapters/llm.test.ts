import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';
import { conversation, modelName } from './llm.js';
import { configsDir, startTestAgent, type Json, type TestAgent } from '../test-support/agent.js';
import { startFakeLlm, type FakeLlm } from '../test-support/fake-llm.js';

let agents: TestAgent[] = [];
let llms: FakeLlm[] = [];
afterEach(async () => {
  await Promise.all(agents.map((a) => a.close({ graceMs: 0 })));
  await Promise.all(llms.map((l) => l.close()));
  agents = [];
  llms = [];
});

async function llm(opts: Parameters<typeof startFakeLlm>[0] = {}) {
  const l = await startFakeLlm(opts);
  llms.push(l);
  return l;
}

async function agent(yaml: string, env: Record<string, string>) {
  const a = await startTestAgent({ yaml, env });
  agents.push(a);
  return a;
}

async function send(a: TestAgent, params: Record<string, unknown>): Promise<Json> {
  const res = await fetch(a.url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params }) });
  return ((await res.json()) as Json).result;
}

const OPENAI_YAML = 'name: Assistant\nadapter: openai\nsystem_prompt: Be brief.\nmax_tokens: 256\n';
const ANTHROPIC_YAML = 'name: Assistant\nadapter: anthropic\nsystem_prompt: Be brief.\nmax_tokens: 256\n';

describe('openai adapter (OpenAI-compatible chat completions, official client)', () => {
  it('streams the reply from the endpoint, with the system prompt, history and model', async () => {
    const l = await llm();
    const a = await agent(OPENAI_YAML, { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${l.url}/v1`, MODEL: 'openai:gpt-test' });
    const history = [
      { role: 'user', parts: [{ kind: 'text', text: 'earlier question' }] },
      { role: 'agent', parts: [{ kind: 'text', text: 'earlier answer' }] },
    ];
    const task = await send(a, { message: { content: 'hi' }, metadata: { history } });
    expect(task.status).toMatchObject({ state: 'completed', message: { parts: [{ text: 'Hello there!' }] } });
    const req = l.requests[0]!;
    expect(req.headers.authorization).toBe('Bearer sk-test');
    expect(req.body).toMatchObject({
      model: 'gpt-test',
      stream: true,
      max_completion_tokens: 256,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'earlier question' },
        { role: 'assistant', content: 'earlier answer' },
        { role: 'user', content: 'hi' },
      ],
    });
  });

  it('talks to a keyless local endpoint (Ollama, vLLM) given only a base URL', async () => {
    const l = await llm({ chunks: ['ok'] });
    const a = await agent('adapter: openai\nmodel: "llama3:8b"\n', { OPENAI_BASE_URL: `${l.url}/v1` });
    expect((await send(a, { message: { content: 'hi' } })).status.message.parts[0].text).toBe('ok');
    expect(l.requests[0]!.body.model).toBe('llama3:8b');
  });

  it('fails the task with the endpoint error', async () => {
    const l = await llm({ failWith: 404 });
    const a = await agent(OPENAI_YAML, { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${l.url}/v1` });
    const task = await send(a, { message: { content: 'hi' } });
    expect(task.status.state).toBe('failed');
    expect(task.status.message.parts[0].text).toMatch(/^Agent error: .*model not found/);
    expect(a.tracker.snapshot().errorRate).toBe(1);
  });

  it('aborts the request when the task is canceled', async () => {
    const l = await llm({ hang: true });
    const a = await agent(OPENAI_YAML, { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: `${l.url}/v1` });
    const started = await send(a, { message: { content: 'hi' }, configuration: { blocking: false } });
    await expect.poll(() => l.requests.length).toBe(1);
    const res = await fetch(a.url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tasks/cancel', params: { id: started.id } }) });
    expect(((await res.json()) as Json).result.status.state).toBe('canceled');
    await expect.poll(() => l.requests[0]!.aborted).toBe(true);
    await expect.poll(() => a.tracker.inFlight).toBe(0);
  });
});

describe('anthropic adapter (Messages API, official client)', () => {
  it('streams the reply, sending the key, system prompt, messages and max_tokens', async () => {
    const l = await llm({ chunks: ['Hi', ' from', ' Claude'] });
    const a = await agent(ANTHROPIC_YAML, { ANTHROPIC_API_KEY: 'ak-test', ANTHROPIC_BASE_URL: l.url, MODEL: 'anthropic:claude-test' });
    const task = await send(a, { message: { content: 'hi' } });
    expect(task.status).toMatchObject({ state: 'completed', message: { parts: [{ text: 'Hi from Claude' }] } });
    const req = l.requests[0]!;
    expect(req.path).toBe('/v1/messages');
    // The client sends the key as x-api-key or, in newer releases, as a bearer.
    expect(`${req.headers['x-api-key'] ?? ''} ${req.headers.authorization ?? ''}`).toContain('ak-test');
    expect(req.body).toMatchObject({ model: 'claude-test', max_tokens: 256, system: 'Be brief.', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  });

  it('fails the task with the API error', async () => {
    const l = await llm({ failWith: 400 });
    const a = await agent(ANTHROPIC_YAML, { ANTHROPIC_API_KEY: 'ak-test', ANTHROPIC_BASE_URL: l.url });
    const task = await send(a, { message: { content: 'hi' } });
    expect(task.status.state).toBe('failed');
    expect(task.status.message.parts[0].text).toMatch(/model not found/);
  });
});

describe('LLM adapter configuration', () => {
  const adapterOf = async (yaml: string, env: Record<string, string>) => (await loadConfig({ MOLECULE_CONFIGS_DIR: await configsDir(yaml), ...env })).workspace.adapter;
  const issuesOf = async (yaml: string, env: Record<string, string>) => {
    const err = await loadConfig({ MOLECULE_CONFIGS_DIR: await configsDir(yaml), ...env }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => i.field);
  };

  it('auto follows the model prefix, then the keys present (Anthropic first)', async () => {
    expect(await adapterOf('adapter: auto\n', { ANTHROPIC_API_KEY: 'a', OPENAI_API_KEY: 'o' })).toBe('anthropic');
    expect(await adapterOf('adapter: auto\n', { OPENAI_API_KEY: 'o' })).toBe('openai');
    expect(await adapterOf('adapter: auto\n', { OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' })).toBe('openai');
    expect(await adapterOf('adapter: auto\nmodel: openai:gpt-x\n', { ANTHROPIC_API_KEY: 'a', OPENAI_API_KEY: 'o' })).toBe('openai');
  });

  it.each([
    ['adapter: auto\n', {}, 'config.yaml adapter'],
    ['adapter: openai\n', {}, 'OPENAI_API_KEY'],
    ['adapter: anthropic\n', { OPENAI_API_KEY: 'o' }, 'ANTHROPIC_API_KEY'],
    ['adapter: openai\n', { OPENAI_BASE_URL: 'not a url' }, 'OPENAI_BASE_URL'],
    ['adapter: openai\nbase_url: ftp://x\n', { OPENAI_API_KEY: 'o' }, 'config.yaml base_url'],
    ['adapter: anthropic\nmax_tokens: 0\n', { ANTHROPIC_API_KEY: 'a' }, 'config.yaml max_tokens'],
  ])('rejects %j with %j naming %s', async (yaml, env, field) => {
    expect(await issuesOf(yaml, env)).toContain(field);
  });
});

describe('conversation', () => {
  const input = (text: string, metadata: Record<string, unknown> = {}, files: { name: string; uri?: string; mimeType: string }[] = []) => ({
    text,
    files,
    data: [],
    taskId: 't',
    contextId: 'c',
    messageId: 'm',
    metadata,
  });

  it('keeps the last 20 history turns, merges runs of one role and drops a leading reply', () => {
    const history = [
      { role: 'agent', parts: [{ text: 'stray reply' }] },
      ...Array.from({ length: 30 }, (_, i) => ({ role: i % 2 ? 'agent' : 'user', parts: [{ kind: 'text', text: `t${i}` }] })),
      { role: 'user', parts: ['again'] },
    ];
    const turns = conversation(input('now', { history }));
    expect(turns[0]!.role).toBe('user');
    expect(turns.length).toBeLessThanOrEqual(21);
    expect(turns.at(-1)).toEqual({ role: 'user', content: 'again\n\nnow' });
    for (let i = 1; i < turns.length; i++) expect(turns[i]!.role).not.toBe(turns[i - 1]!.role);
  });

  it('lists attached files after the text', () => {
    const turns = conversation(input('see attached', {}, [{ name: 'a.pdf', uri: 'workspace:/w/a.pdf', mimeType: 'application/pdf' }]));
    expect(turns).toEqual([{ role: 'user', content: 'see attached\n\nAttached files:\n- a.pdf (workspace:/w/a.pdf) [application/pdf]' }]);
  });

  it('strips only the known provider prefix from model names', () => {
    expect(modelName('openai:gpt-4o', 'openai')).toBe('gpt-4o');
    expect(modelName('anthropic:claude-x', 'anthropic')).toBe('claude-x');
    expect(modelName('llama3:8b', 'openai')).toBe('llama3:8b');
  });
});
