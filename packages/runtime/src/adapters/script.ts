import { setTimeout as sleep } from 'node:timers/promises';
import type { Adapter, AdapterContext, AdapterEvent, AdapterInput } from './types.js';
import type { ScriptRule } from '../config.js';
import { delegateTo } from '../delegate.js';

/** The error a `fail` step throws; its message becomes the task's error. */
export class ScriptedFailure extends Error {
  override name = 'ScriptedFailure';
}

/**
 * Plays a scripted conversation: the first rule whose `match` finds the input text runs its steps
 * (`reply` text, with `{{input}}` replaced by the input; `delay_ms`; `fail`; `tool`, a tool
 * use the agent reports to the platform; `delegate`, the task handed to a peer through the
 * platform tools, whose answer is the reply). For demos, delegating front agents, and
 * tests that need slow, failing or multi-chunk agents. Delays end early when the task is canceled.
 */
export class ScriptAdapter implements Adapter {
  readonly name = 'script';
  private readonly rules: { match: RegExp | undefined; steps: ScriptRule['steps'] }[];

  constructor(rules: ScriptRule[]) {
    this.rules = rules.map((r) => ({ match: r.match === undefined ? undefined : new RegExp(r.match), steps: r.steps }));
  }

  async *run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    const rule = this.rules.find((r) => !r.match || r.match.test(input.text));
    if (!rule) throw new ScriptedFailure('no script rule matches this message');
    let replied = false;
    for (const step of rule.steps) {
      ctx.signal.throwIfAborted();
      if ('reply' in step) {
        const text = step.reply.replaceAll('{{input}}', input.text);
        yield { type: 'text', text: replied ? `\n${text}` : text };
        replied = true;
      } else if ('delay_ms' in step) {
        await sleep(step.delay_ms, undefined, { signal: ctx.signal });
      } else if ('delegate' in step) {
        yield* this.delegate(step.delegate.to, step.delegate.task.replaceAll('{{input}}', input.text), ctx, replied);
        replied = true;
      } else if ('send_files' in step) {
        yield* this.sendFiles(step.send_files.message.replaceAll('{{input}}', input.text), step.send_files.files.map((f) => f.replaceAll('{{input}}', input.text.trim())), ctx);
      } else if ('tool' in step) {
        const { name, input: toolInput, output, error } = step.tool;
        yield {
          type: 'tool',
          name,
          ...(toolInput !== undefined ? { input: toolInput.replaceAll('{{input}}', input.text) } : {}),
          ...(output !== undefined ? { output } : {}),
          ...(error !== undefined ? { error } : {}),
        };
      } else {
        throw new ScriptedFailure(step.fail || 'scripted failure');
      }
    }
  }

  /**
   * A `send_files` step (C085): `send_message_to_user` with local files, uploaded through the platform
   * before the notify; a missing file or a refused upload fails the task and nothing is shown.
   */
  private async *sendFiles(message: string, files: string[], ctx: AdapterContext): AsyncIterable<AdapterEvent> {
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

  /** A `delegate` step: the peer's answer is the reply chunk; the call is reported as a tool use (C037). */
  private async *delegate(to: string, task: string, ctx: AdapterContext, replied: boolean): AsyncIterable<AdapterEvent> {
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
}
