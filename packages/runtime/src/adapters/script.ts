import { setTimeout as sleep } from 'node:timers/promises';
import type { Adapter, AdapterContext, AdapterEvent, AdapterInput } from './types.js';
import type { MemoryScope } from '@molecule/contracts';
import type { ScriptRule, ScriptStep } from '../config.js';
import { delegateTo } from '../delegate.js';

/** The error a `fail` step throws; its message becomes the task's error. */
export class ScriptedFailure extends Error {
  override name = 'ScriptedFailure';
}

/**
 * Fills a script text: `{{input}}` is the message text, `{{now}}` the current time (ISO 8601, UTC),
 * `{{1}}`..`{{9}}` the groups the rule's `match` captured (empty when none).
 */
export function expand(text: string, input: string, m?: RegExpExecArray | null): string {
  return text.replace(/\{\{(input|now|[1-9])\}\}/g, (_, key: string) => {
    if (key === 'input') return input;
    if (key === 'now') return new Date().toISOString();
    return m?.[Number(key)] ?? '';
  });
}

/**
 * Runs one rule's steps for a message (`m`: what its `match` captured): `reply` text; `delay_ms`;
 * `fail`; `tool`, a tool use the agent reports to the platform; `delegate`, the task handed to a
 * peer through the platform tools, whose answer is the reply; `send_files`. Delays end early when
 * the task is canceled. The script adapter and plugin commands both run steps here.
 */
export async function* runSteps(steps: ScriptStep[], input: AdapterInput, ctx: AdapterContext, m?: RegExpExecArray | null): AsyncIterable<AdapterEvent> {
  const fill = (text: string) => expand(text, input.text, m);
  let replied = false;
  for (const step of steps) {
    ctx.signal.throwIfAborted();
    if ('reply' in step) {
      const text = fill(step.reply);
      yield { type: 'text', text: replied ? `\n${text}` : text };
      replied = true;
    } else if ('delay_ms' in step) {
      await sleep(step.delay_ms, undefined, { signal: ctx.signal });
    } else if ('delegate' in step) {
      yield* delegate(fill(step.delegate.to), fill(step.delegate.task), ctx, replied);
      replied = true;
    } else if ('send_files' in step) {
      yield* sendFiles(fill(step.send_files.message), step.send_files.files.map((f) => expand(f, input.text.trim(), m)), ctx);
    } else if ('remember' in step) {
      yield* remember(fill(step.remember.content), step.remember.scope, ctx);
    } else if ('recall' in step) {
      yield* recall(fill(step.recall.query), step.recall.scope, ctx, replied);
      replied = true;
    } else if ('tool' in step) {
      const { name, input: toolInput, output, error } = step.tool;
      yield {
        type: 'tool',
        name,
        ...(toolInput !== undefined ? { input: fill(toolInput) } : {}),
        ...(output !== undefined ? { output } : {}),
        ...(error !== undefined ? { error } : {}),
      };
    } else {
      throw new ScriptedFailure(step.fail || 'scripted failure');
    }
  }
}

/**
 * Plays a scripted conversation: the first rule whose `match` finds the input text runs its steps
 * (see `runSteps`). For demos, delegating front agents, and tests that need slow, failing or
 * multi-chunk agents.
 */
export class ScriptAdapter implements Adapter {
  readonly name = 'script';
  private readonly rules: { match: RegExp | undefined; steps: ScriptStep[] }[];

  constructor(rules: ScriptRule[]) {
    this.rules = rules.map((r) => ({ match: r.match === undefined ? undefined : new RegExp(r.match), steps: r.steps }));
  }

  async *run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    for (const rule of this.rules) {
      const m = rule.match ? rule.match.exec(input.text) : undefined;
      if (rule.match && !m) continue;
      yield* runSteps(rule.steps, input, ctx, m);
      return;
    }
    throw new ScriptedFailure('no script rule matches this message');
  }
}

/**
 * A `send_files` step (C085): `send_message_to_user` with local files, uploaded through the platform
 * before the notify; a missing file or a refused upload fails the task and nothing is shown.
 */
async function* sendFiles(message: string, files: string[], ctx: AdapterContext): AsyncIterable<AdapterEvent> {
  if (!ctx.tools) throw new ScriptedFailure('the send_files step needs the platform tools: this agent runs without a platform (no PLATFORM_URL)');
  const started = performance.now();
  const use = { type: 'tool' as const, name: 'send_message_to_user', input: `${message} [${files.join(', ')}]` };
  const r = await ctx.tools.call('send_message_to_user', { message, files }, ctx.signal);
  if (r.isError) {
    yield { ...use, error: r.text, durationMs: performance.now() - started };
    throw new ScriptedFailure(r.text);
  }
  yield { ...use, output: r.text, durationMs: performance.now() - started };
}

/** The namespace of `scope` among those this workspace may read or write (asked of the platform). */
async function namespaceOf(ctx: AdapterContext, scope: MemoryScope, which: 'readable' | 'writable'): Promise<string> {
  const r = await ctx.tools!.call(`list_${which}_namespaces`, {}, ctx.signal);
  if (r.isError) throw new ScriptedFailure(r.text);
  const found = (JSON.parse(r.text) as { name: string; scope: string }[]).find((n) => n.scope === scope);
  if (!found) throw new ScriptedFailure(`this workspace may not ${which === 'writable' ? 'write' : 'read'} ${scope} memory`);
  return found.name;
}

/** A `remember` step: the text stored in this workspace's, its team's or its org's memory, reported as a tool use. */
async function* remember(content: string, scope: MemoryScope, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
  if (!ctx.tools) throw new ScriptedFailure('the remember step needs the platform tools: this agent runs without a platform (no PLATFORM_URL)');
  const started = performance.now();
  const namespace = await namespaceOf(ctx, scope, 'writable');
  const r = await ctx.tools.call('commit_memory_v2', { content, namespace }, ctx.signal);
  const use = { type: 'tool' as const, name: 'commit_memory_v2', input: `${namespace}: ${content}`, durationMs: performance.now() - started };
  if (r.isError) {
    yield { ...use, error: r.text };
    throw new ScriptedFailure(r.text);
  }
  yield { ...use, output: r.text };
}

/** A `recall` step: the memories found (one per line, newest or best first) are the reply. */
async function* recall(query: string, scope: MemoryScope | undefined, ctx: AdapterContext, replied: boolean): AsyncIterable<AdapterEvent> {
  if (!ctx.tools) throw new ScriptedFailure('the recall step needs the platform tools: this agent runs without a platform (no PLATFORM_URL)');
  const started = performance.now();
  const namespaces = scope ? [await namespaceOf(ctx, scope, 'readable')] : undefined;
  const r = await ctx.tools.call('search_memory', { ...(query.trim() ? { query } : {}), ...(namespaces ? { namespaces } : {}) }, ctx.signal);
  const use = { type: 'tool' as const, name: 'search_memory', input: `${scope ?? 'all'}: ${query}`, durationMs: performance.now() - started };
  if (r.isError) {
    yield { ...use, error: r.text };
    throw new ScriptedFailure(r.text);
  }
  const found = JSON.parse(r.text) as { content: string }[];
  yield { ...use, output: `${found.length} found` };
  const text = found.length === 0 ? 'No memories found.' : found.map((m) => m.content).join('\n');
  yield { type: 'text', text: replied ? `\n${text}` : text };
}

/** A `delegate` step: the peer's answer is the reply chunk; the call is reported as a tool use (C037). */
async function* delegate(to: string, task: string, ctx: AdapterContext, replied: boolean): AsyncIterable<AdapterEvent> {
  if (!ctx.tools) throw new ScriptedFailure('the delegate step needs the platform tools: this agent runs without a platform (no PLATFORM_URL)');
  const started = performance.now();
  const use = { type: 'tool' as const, name: 'delegate_task', input: `${to}: ${task}` };
  let answer: string;
  try {
    ({ answer } = await delegateTo(ctx.tools, to, task, ctx.signal));
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    const error = err instanceof Error ? err.message : String(err);
    yield { ...use, error, durationMs: performance.now() - started };
    throw new ScriptedFailure(error);
  }
  yield { ...use, output: answer, durationMs: performance.now() - started };
  yield { type: 'text', text: replied ? `\n${answer}` : answer };
}
