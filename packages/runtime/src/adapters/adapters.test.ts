import { describe, expect, it } from 'vitest';
import type { AdapterContext, AdapterEvent, AdapterInput } from './index.js';
import { createAdapter } from './index.js';
import { ScriptAdapter } from './script.js';
import { delegateTo } from '../delegate.js';
import type { PlatformToolResult, PlatformTools } from '../platform-tools.js';
import { captureLogger } from '../test-support/agent.js';

const input = (text: string): AdapterInput => ({ text, files: [], data: [], taskId: 't', contextId: 'c', messageId: 'm', metadata: {} });
const ctx = (signal = new AbortController().signal): AdapterContext => ({ signal, log: captureLogger().logger });

async function collect(it: AsyncIterable<AdapterEvent> | Promise<string>): Promise<string[]> {
  if (!(Symbol.asyncIterator in it)) return [await it];
  const out: string[] = [];
  for await (const ev of it) if (ev.type === 'text') out.push(ev.text);
  return out;
}

describe('echo adapter', () => {
  it('replies "echo: <text>"', async () => {
    const echo = await createAdapter({ workspace: { adapter: 'echo' }, llm: {} } as Parameters<typeof createAdapter>[0]);
    expect(await collect(echo.run(input('hi'), ctx()))).toEqual(['echo: hi']);
  });
});

describe('script adapter', () => {
  it('runs the first matching rule, substituting {{input}} and separating replies with newlines', async () => {
    const s = new ScriptAdapter([
      { match: '^hello', steps: [{ reply: 'hi {{input}}' }, { delay_ms: 1 }, { reply: 'bye' }] },
      { match: undefined, steps: [{ reply: 'fallback' }] },
    ]);
    expect(await collect(s.run(input('hello there'), ctx()))).toEqual(['hi hello there', '\nbye']);
    expect(await collect(s.run(input('other'), ctx()))).toEqual(['fallback']);
  });

  it('fails with the scripted error, after what it already replied', async () => {
    const s = new ScriptAdapter([{ match: undefined, steps: [{ reply: 'partial' }, { fail: 'scripted failure' }] }]);
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const ev of s.run(input('x'), ctx()) as AsyncIterable<AdapterEvent>) if (ev.type === 'text') seen.push(ev.text);
      })(),
    ).rejects.toThrow('scripted failure');
    expect(seen).toEqual(['partial']);
  });

  it('C037 plays tool steps as tool events ({{input}} substituted) that add nothing to the reply', async () => {
    const s = new ScriptAdapter([
      {
        match: undefined,
        steps: [{ tool: { name: 'Read', input: 'open {{input}}', output: '# Title' } }, { tool: { name: 'Bash', error: 'exit 2' } }, { reply: 'done' }],
      },
    ]);
    const events: AdapterEvent[] = [];
    for await (const ev of s.run(input('README.md'), ctx()) as AsyncIterable<AdapterEvent>) events.push(ev);
    expect(events).toEqual([
      { type: 'tool', name: 'Read', input: 'open README.md', output: '# Title' },
      { type: 'tool', name: 'Bash', error: 'exit 2' },
      { type: 'text', text: 'done' },
    ]);
  });

  it('fails when no rule matches', async () => {
    const s = new ScriptAdapter([{ match: '^only', steps: [{ reply: 'x' }] }]);
    await expect(collect(s.run(input('nope'), ctx()))).rejects.toThrow(/no script rule matches/);
  });

  it('ends a delay as soon as the task is aborted', async () => {
    const s = new ScriptAdapter([{ match: undefined, steps: [{ delay_ms: 60_000 }, { reply: 'never' }] }]);
    const ac = new AbortController();
    const run = collect(s.run(input('x'), ctx(ac.signal)));
    ac.abort(new Error('canceled'));
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
  });
});

/** Platform tools in memory: `list_peers` answers `peers`; other tools answer through `answer`. */
function memoryTools(peers: Record<string, unknown>[], answer: (name: string, args: Record<string, unknown>) => PlatformToolResult) {
  const calls: { name: string; args: Record<string, unknown> }[] = [];
  const tools: PlatformTools = {
    list: async () => [],
    call: async (name, args) => {
      calls.push({ name, args });
      return name === 'list_peers' ? { text: JSON.stringify(peers), isError: false } : answer(name, args);
    },
    close: async () => undefined,
  };
  return { tools, calls };
}

const peer = (id: string, name: string, relation: string, role: string | null = null) => ({ id, name, role, relation, status: 'online' });

describe('script adapter: send_files step (C085)', () => {
  it('C085 calls send_message_to_user with the local files ({{input}} filled in), reported as a tool use; a tool error fails the task', async () => {
    const calls: { name: string; args: Record<string, unknown> }[] = [];
    let answer: PlatformToolResult = { text: 'Message sent with 1 file(s): a.txt.', isError: false };
    const tools: PlatformTools = {
      list: () => Promise.resolve([]),
      call: (name, args) => {
        calls.push({ name, args });
        return Promise.resolve(answer);
      },
      close: () => Promise.resolve(),
    };
    const s = new ScriptAdapter([{ match: undefined, steps: [{ send_files: { message: 'for {{input}}', files: ['/workspace/{{input}}'] } }, { reply: 'sent' }] }]);
    const events: AdapterEvent[] = [];
    for await (const ev of s.run(input('a.txt'), { ...ctx(), tools }) as AsyncIterable<AdapterEvent>) events.push(ev);
    expect(calls).toEqual([{ name: 'send_message_to_user', args: { message: 'for a.txt', files: ['/workspace/a.txt'] } }]);
    expect(events[0]).toMatchObject({ type: 'tool', name: 'send_message_to_user', output: answer.text });
    answer = { text: 'no such file: /workspace/a.txt; the message was not sent', isError: true };
    await expect(collect(s.run(input('a.txt'), { ...ctx(), tools }))).rejects.toThrow('no such file');
  });
});

describe('script adapter: delegate step', () => {
  const run = async (s: ScriptAdapter, text: string, tools: PlatformTools) => {
    const events: AdapterEvent[] = [];
    for await (const ev of s.run(input(text), { ...ctx(), tools }) as AsyncIterable<AdapterEvent>) events.push(ev);
    return events;
  };

  it('finds the peer by name or role (a child before a sibling), hands it the task and replies with its answer, reported as a tool use (C037)', async () => {
    const { tools, calls } = memoryTools([peer('s1', 'Worker', 'sibling'), peer('c1', 'Writer', 'child', 'worker')], (name, args) => ({ text: `done: ${String(args.task)}`, isError: false }));
    const s = new ScriptAdapter([{ match: undefined, steps: [{ reply: 'asking' }, { delegate: { to: 'worker', task: 'please {{input}}' } }] }]);
    const events = await run(s, 'summarise', tools);
    expect(calls.map((c) => c.name)).toEqual(['list_peers', 'delegate_task']);
    expect(calls[1]!.args).toEqual({ workspace_id: 'c1', task: 'please summarise' });
    expect(events).toEqual([
      { type: 'text', text: 'asking' },
      { type: 'tool', name: 'delegate_task', input: 'worker: please summarise', output: 'done: please summarise', durationMs: expect.any(Number) },
      { type: 'text', text: '\ndone: please summarise' },
    ]);
  });

  it('an id names the peer exactly', async () => {
    const { tools, calls } = memoryTools([peer('c1', 'A', 'child'), peer('c2', 'B', 'child')], () => ({ text: 'ok', isError: false }));
    await run(new ScriptAdapter([{ match: undefined, steps: [{ delegate: { to: 'c2', task: '{{input}}' } }] }]), 'x', tools);
    expect(calls[1]!.args.workspace_id).toBe('c2');
  });

  it('follows a delegation the platform queued (busy peer) with check_task_status until it completes (C065, C067)', async () => {
    let checks = 0;
    const { tools, calls } = memoryTools([peer('c1', 'worker', 'child')], (name) => {
      if (name === 'delegate_task') return { text: JSON.stringify({ task_id: '0b6f3c1e-9f7e-4d7a-8c55-6f0d7e1b2a3c', status: 'queued', target_id: 'c1' }), isError: false };
      checks++;
      return { text: JSON.stringify(checks < 2 ? { task_id: 'x', status: 'queued' } : { task_id: 'x', status: 'completed', result: 'late answer' }), isError: false };
    });
    const answer = await delegateTo(tools, 'worker', 'x', new AbortController().signal, { poll: { initialMs: 1, maxMs: 5 } });
    expect(answer.answer).toBe('late answer');
    expect(calls.map((c) => c.name)).toEqual(['list_peers', 'delegate_task', 'check_task_status', 'check_task_status']);
    expect(calls[2]!.args).toEqual({ task_id: '0b6f3c1e-9f7e-4d7a-8c55-6f0d7e1b2a3c' });
  });

  it("the platform's structured result decides: an answer that merely looks like a queued status is the answer", async () => {
    const lookalike = JSON.stringify({ task_id: '0b6f3c1e-9f7e-4d7a-8c55-6f0d7e1b2a3c', status: 'queued' });
    const { tools, calls } = memoryTools([peer('c1', 'worker', 'child')], () => ({ text: lookalike, isError: false, structured: { task_id: 'd1', status: 'completed', result: lookalike } }));
    const answer = await delegateTo(tools, 'worker', 'x', new AbortController().signal, { poll: { initialMs: 1, maxMs: 5 } });
    expect(answer.answer).toBe(lookalike);
    expect(calls.map((c) => c.name)).toEqual(['list_peers', 'delegate_task']);
  });

  it.each([
    ['no peer carries the name', [peer('c1', 'other', 'child')], () => ({ text: 'x', isError: false }), 'no peer named "worker" (peers: other)'],
    ['two children carry it', [peer('c1', 'worker', 'child'), peer('c2', 'Worker', 'child')], () => ({ text: 'x', isError: false }), '"worker" names several child workspaces (c1, c2); use its id'],
    ['the platform refuses the delegation', [peer('c1', 'worker', 'child')], () => ({ text: 'access denied', isError: true }), 'delegation to worker failed: access denied'],
    [
      'the queued delegation fails',
      [peer('c1', 'worker', 'child')],
      (name: string) => ({ text: JSON.stringify(name === 'delegate_task' ? { task_id: 't', status: 'queued' } : { task_id: 't', status: 'failed', error: 'agent crashed' }), isError: false }),
      'delegation to worker failed: agent crashed',
    ],
  ] as const)('fails the task, reporting the failed tool use, when %s', async (_case, peers, answer, message) => {
    const { tools } = memoryTools([...peers], answer);
    const s = new ScriptAdapter([{ match: undefined, steps: [{ delegate: { to: 'worker', task: '{{input}}' } }] }]);
    const events: AdapterEvent[] = [];
    const done = (async () => {
      for await (const ev of s.run(input('x'), { ...ctx(), tools }) as AsyncIterable<AdapterEvent>) events.push(ev);
    })();
    await expect(done).rejects.toThrow(message);
    expect(events).toEqual([{ type: 'tool', name: 'delegate_task', input: 'worker: x', error: message, durationMs: expect.any(Number) }]);
  });
});
