import { describe, expect, it } from 'vitest';
import type { AdapterContext, AdapterEvent, AdapterInput } from './adapter.js';
import { createAdapter } from './adapter.js';
import { ScriptAdapter } from './adapter-script.js';
import { captureLogger } from './test-support/agent.js';

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
