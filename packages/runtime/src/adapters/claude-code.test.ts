import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLAUDE_CODE_FAILED, CLAUDE_CODE_WEDGED, ClaudeCodeAdapter } from './claude-code.js';
import type { AdapterContext, AdapterEvent, AdapterInput } from './types.js';
import type { PlatformTools } from '../platform-tools.js';
import { captureLogger, startTestAgent, type Json } from '../test-support/agent.js';
import { startFakeLlm, type FakeLlm, type FakeLlmOptions } from '../test-support/fake-llm.js';

// The real Claude Agent SDK (and the Claude Code binary it ships) against a local fake Anthropic
// Messages server over HTTP: streaming, tool_use, errors, malformed streams.
const input = (text: string, contextId = 'ctx-1'): AdapterInput => ({ text, files: [], data: [], taskId: 't', contextId, messageId: 'm', metadata: {} });

function delegateTools() {
  const calls: { name: string; args: Record<string, unknown> }[] = [];
  const tools: PlatformTools = {
    list: async () => [{ name: 'delegate_task', description: 'Hand a task to a peer and wait for its answer', inputSchema: { type: 'object', properties: { workspace_id: { type: 'string' }, task: { type: 'string' } }, required: ['workspace_id', 'task'] } }],
    call: async (name, args) => {
      calls.push({ name, args });
      return { text: `echo: ${String(args.task)}`, isError: false };
    },
    close: async () => undefined,
  };
  return { tools, calls };
}

/** A fresh directory per test and the fake model server the test starts (closed after it). */
function scratch(prefix: string): { dir: string; llm: FakeLlm | undefined } {
  const s: { dir: string; llm: FakeLlm | undefined } = { dir: '', llm: undefined };
  beforeEach(async () => {
    s.dir = await mkdtemp(path.join(tmpdir(), prefix));
  });
  afterEach(async () => {
    await s.llm?.close();
    s.llm = undefined;
    await rm(s.dir, { recursive: true, force: true });
  });
  return s;
}

describe('claude-code adapter (Claude Agent SDK against a fake Anthropic server)', () => {
  const s = scratch('cc-adapter-');

  const start = async (opts: FakeLlmOptions) => {
    s.llm = await startFakeLlm(opts);
    return new ClaudeCodeAdapter({ workspaceDir: s.dir, apiKey: 'sk-test', baseUrl: s.llm.url, model: 'claude-sonnet-4-5', maxTurns: 5 });
  };
  const run = async (a: ClaudeCodeAdapter, inp: AdapterInput, extra: Partial<AdapterContext> = {}) => {
    const events: AdapterEvent[] = [];
    for await (const ev of a.run(inp, { signal: AbortSignal.timeout(120_000), log: captureLogger().logger, ...extra }) as AsyncIterable<AdapterEvent>) events.push(ev);
    return events;
  };

  it('C045 answers from the model, calls delegate_task through the platform MCP server (a tool event), and resumes the session of the context after a new adapter starts', async () => {
    const a = await start({
      turns: [
        { toolCalls: [{ id: 'toolu_1', name: 'mcp__platform__delegate_task', args: { workspace_id: 'child-1', task: 'say hi' } }] },
        { chunks: ['The child said: ', 'echo: say hi'] },
      ],
    });
    expect(a.capabilities()).toEqual({ session: true });
    const { tools, calls } = delegateTools();
    const events = await run(a, input('ask the child to say hi'), { tools });
    expect(calls).toEqual([{ name: 'delegate_task', args: { workspace_id: 'child-1', task: 'say hi' } }]);
    expect(events.find((e) => e.type === 'tool')).toMatchObject({ type: 'tool', name: 'delegate_task', output: 'echo: say hi' });
    expect(events.filter((e) => e.type === 'text').map((e) => (e as { text: string }).text).join('')).toContain('The child said: echo: say hi');
    // Claude Code's count of the turn's tokens: at least the two model requests (100 in each, from the fake model).
    const usage = events.filter((e) => e.type === 'usage');
    expect(usage).toHaveLength(1);
    expect(usage[0]).toMatchObject({ inputTokens: expect.any(Number), outputTokens: expect.any(Number) });
    expect((usage[0] as { inputTokens: number }).inputTokens).toBeGreaterThanOrEqual(200);
    const sessions = JSON.parse(await readFile(path.join(s.dir, '.molecule-claude-sessions.json'), 'utf8')) as Record<string, string>;
    expect(sessions['ctx-1']).toMatch(/^[0-9a-f-]{36}$/);

    // A new adapter (a restarted agent) resumes the context's session: the model sees the earlier turns.
    const seen = s.llm!.requests.length;
    const b = new ClaudeCodeAdapter({ workspaceDir: s.dir, apiKey: 'sk-test', baseUrl: s.llm!.url, model: 'claude-sonnet-4-5', maxTurns: 5 });
    await run(b, input('and again?'), { tools });
    const later = s.llm!.requests.slice(seen).filter((r) => r.path === '/v1/messages' && JSON.stringify(r.body).includes('and again?'));
    expect(later.length).toBeGreaterThan(0);
    expect(JSON.stringify(later.at(-1)!.body.messages)).toContain('ask the child to say hi');
  }, 180_000);

  it('attached files are listed where Claude Code can open them: a stored file at its path, inline bytes saved in the workspace first', async () => {
    const a = await start({ chunks: ['read them'] });
    const withFiles: AdapterInput = {
      ...input('summarise these'),
      files: [
        { uri: 'workspace:/workspace/.molecule/chat-uploads/1-report.pdf', name: 'report.pdf', mimeType: 'application/pdf' },
        { bytes: Buffer.from('line one\n').toString('base64'), name: '../notes?.txt', mimeType: 'text/plain' },
        { uri: 'https://example.com/spec.md', name: 'spec.md', mimeType: 'text/markdown' },
      ],
    };
    expect((await run(a, withFiles)).some((e) => e.type === 'text')).toBe(true);
    const sent = JSON.stringify(s.llm!.requests.find((r) => r.path === '/v1/messages' && JSON.stringify(r.body).includes('summarise these'))!.body);
    expect(sent).toContain('- report.pdf (/workspace/.molecule/chat-uploads/1-report.pdf) [application/pdf]');
    expect(sent).toContain('- spec.md (https://example.com/spec.md) [text/markdown]');
    const saved = /- \.\.\/notes\?\.txt \(([^)]+)\) \[text\/plain\]/.exec(sent.replace(/\\n/g, '\n'))?.[1];
    expect(saved?.startsWith(path.join(s.dir, '.molecule', 'attachments') + path.sep)).toBe(true);
    expect(path.basename(saved!)).toMatch(/^[0-9a-f]{8}-notes_\.txt$/);
    expect(await readFile(saved!, 'utf8')).toBe('line one\n');
  }, 180_000);

  it('a model server answering errors fails the turn with a safe message', async () => {
    const a = await start({ failWith: 400 });
    await expect(run(a, input('hello'))).rejects.toThrow(CLAUDE_CODE_FAILED);
  }, 180_000);
});

describe('claude-code adapter: failures (bad model servers, a Claude Code that never starts)', () => {
  const s = scratch('cc-adapter-');
  const adapter = (url: string) => new ClaudeCodeAdapter({ workspaceDir: s.dir, apiKey: 'sk-test', baseUrl: url, model: 'claude-sonnet-4-5', maxTurns: 3, maxRetries: 0, requestTimeoutMs: 3000, idleTimeoutMs: 3000 });
  const run = async (a: ClaudeCodeAdapter, inp: AdapterInput) => {
    const out: string[] = [];
    for await (const ev of a.run(inp, { signal: AbortSignal.timeout(120_000), log: captureLogger().logger }) as AsyncIterable<AdapterEvent>) if (ev.type === 'text') out.push(ev.text);
    return out.join('');
  };

  it.each([
    ['errors (500)', { failWith: 500 }],
    ['a malformed stream', { malformed: true }],
    ['a hang', { hang: true, chunks: ['partial'] }],
  ] as [string, FakeLlmOptions][])('a model server answering %s fails the turn with a safe message; the next message, on a working server, is answered', async (_label, opts) => {
    s.llm = await startFakeLlm(opts);
    const bad = adapter(s.llm.url);
    const err = await run(bad, input('hello', 'ctx-bad')).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toBe(CLAUDE_CODE_FAILED);
    await s.llm.close();
    s.llm = await startFakeLlm({ chunks: ['fine ', 'now'] });
    expect(await run(adapter(s.llm.url), input('hello again', 'ctx-bad'))).toBe('fine now');
  }, 180_000);

  it('C033 a turn Claude Code never answers marks the adapter wedged (the heartbeat reports it); the next answered turn clears it', async () => {
    s.llm = await startFakeLlm({ chunks: ['up ', 'again'] });
    // The first launch stays silent (it never answers the SDK's initialize), later ones run the real binary.
    const real = path.join(path.dirname(createRequire(import.meta.url).resolve('@anthropic-ai/claude-agent-sdk-linux-x64/package.json')), 'claude');
    const marker = path.join(s.dir, 'launched-once');
    const executable = path.join(s.dir, 'claude-wrapper.sh');
    await writeFile(executable, `#!/bin/sh\nif [ ! -e '${marker}' ]; then : > '${marker}'; exec sleep 120; fi\nexec '${real}' "$@"\n`);
    await chmod(executable, 0o755);
    const a = new ClaudeCodeAdapter({ workspaceDir: s.dir, apiKey: 'sk-test', baseUrl: s.llm.url, model: 'claude-sonnet-4-5', maxTurns: 3, maxRetries: 0, idleTimeoutMs: 2000, executable });
    const run = async (text: string) => {
      const out: string[] = [];
      for await (const ev of a.run(input(text, 'ctx-wedge'), { signal: AbortSignal.timeout(120_000), log: captureLogger().logger }) as AsyncIterable<AdapterEvent>) if (ev.type === 'text') out.push(ev.text);
      return out.join('');
    };
    expect(a.wedgedReason()).toBeUndefined();
    await expect(run('hello')).rejects.toThrow(CLAUDE_CODE_FAILED);
    expect(a.wedgedReason()).toBe(CLAUDE_CODE_WEDGED);
    expect(await run('hello again')).toBe('up again');
    expect(a.wedgedReason()).toBeUndefined();
  }, 180_000);

  it('a model server failing after Claude Code started does not mark it wedged', async () => {
    s.llm = await startFakeLlm({ failWith: 500 });
    const a = new ClaudeCodeAdapter({ workspaceDir: s.dir, apiKey: 'sk-test', baseUrl: s.llm.url, model: 'claude-sonnet-4-5', maxTurns: 3, maxRetries: 0, requestTimeoutMs: 3000 });
    const err = await (async () => {
      for await (const _ of a.run(input('hello'), { signal: AbortSignal.timeout(120_000), log: captureLogger().logger }) as AsyncIterable<AdapterEvent>) void _;
    })().then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toBe(CLAUDE_CODE_FAILED);
    expect(a.wedgedReason()).toBeUndefined();
  }, 180_000);
});

describe('claude-code in molecule-agent: a failing model server', () => {
  const s = scratch('cc-agent-');

  it('an error from the model server fails the message with the safe text, which is the heartbeat sample error too, and the next message is answered', async () => {
    // 400: Claude Code does not retry it, so the turn fails at once (a 500 is retried for minutes).
    const opts: FakeLlmOptions = { failWith: 400, chunks: ['back ', 'again'] };
    s.llm = await startFakeLlm(opts);
    const a = await startTestAgent({ yaml: 'name: CC\nadapter: claude-code\n', env: { ANTHROPIC_API_KEY: 'sk-test', ANTHROPIC_BASE_URL: s.llm.url, MOLECULE_WORKSPACE_DIR: s.dir } });
    try {
      const send = async (text: string): Promise<Json> => {
        const r = await fetch(a.url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', messageId: randomUUID(), contextId: 'ctx-hb', parts: [{ kind: 'text', text }] } } }) });
        return ((await r.json()) as Json).result;
      };
      const failed = await send('hello');
      expect(failed.status.state).toBe('failed');
      const text = String(failed.status.message.parts[0].text);
      expect(text).toContain(CLAUDE_CODE_FAILED);
      expect(text).not.toContain('127.0.0.1');
      expect(text).not.toContain('model not found');
      expect(a.tracker.snapshot().sampleError).toBe(CLAUDE_CODE_FAILED);

      opts.failWith = undefined;
      const answered = await send('hello again');
      expect(answered.status).toMatchObject({ state: 'completed', message: { parts: [{ text: 'back again' }] } });
    } finally {
      await a.close({ graceMs: 0 });
    }
  }, 180_000);
});
