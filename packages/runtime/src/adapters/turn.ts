import { runToolCall } from './llm.js';
import type { AdapterContext, AdapterEvent } from './types.js';

/**
 * Plumbing the SDK-driven adapters (openai-agents, langgraph, acp) share: an SDK reports through
 * callbacks and its own stream at once, a model or agent that goes quiet must end the turn, and
 * whatever goes wrong reaches the user as a canned message (the detail goes to the log).
 */

/** A failure whose message is safe to show in the A2A answer and the heartbeat's sample error. */
export class TurnError extends Error {
  override name = 'TurnError';
}

/**
 * Events pushed by callbacks (tool uses) and by the SDK's stream, read in order by the adapter's
 * generator. `end(err)` makes the reader throw `err` after the events already pushed.
 */
export class EventQueue {
  private readonly items: AdapterEvent[] = [];
  private done = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  push(ev: AdapterEvent): void {
    if (this.done) return;
    this.items.push(ev);
    this.wake?.();
  }

  end(err?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.failure = err;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AdapterEvent> {
    for (;;) {
      const next = this.items.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.done) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

/**
 * Ends a turn whose model (or agent process) stays silent for `idleMs`: its `signal` aborts then,
 * and when the turn's own signal aborts. `touch()` on every sign of life; `pause()` while a
 * platform tool runs (a delegation may rightly take minutes), `resume()` after.
 */
export class IdleWatch {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private paused = 0;
  expired = false;

  constructor(
    parent: AbortSignal,
    readonly idleMs: number,
  ) {
    if (parent.aborted) this.controller.abort(parent.reason);
    else parent.addEventListener('abort', () => this.controller.abort(parent.reason), { once: true });
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    clearTimeout(this.timer);
    if (this.paused > 0 || this.controller.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(new TurnError(`no answer for ${Math.round(this.idleMs / 1000)} s`));
    }, this.idleMs);
    this.timer.unref();
  }

  pause(): void {
    this.paused++;
    clearTimeout(this.timer);
  }

  resume(): void {
    this.paused = Math.max(0, this.paused - 1);
    this.touch();
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

/** An HTTP status carried by an SDK error (the OpenAI client's APIError, LangChain's wrappers). */
function statusOf(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const status = (e as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 600) return status;
  }
  return undefined;
}

/**
 * The canned message for a failed turn: the model server's HTTP status, silence past the idle
 * limit, or an answer that could not be read (a malformed stream). Never the SDK's own text,
 * which can carry URLs, keys' prefixes or the server's body.
 */
export function turnFailure(err: unknown, watch: IdleWatch | undefined, what: string): TurnError {
  if (watch?.expired) return new TurnError(`${what} did not answer for ${Math.round(watch.idleMs / 1000)} s; giving up on this message`);
  if (err instanceof TurnError) return err;
  const status = statusOf(err);
  if (status !== undefined) return new TurnError(`the model server answered HTTP ${status}`);
  return new TurnError(`${what} failed or sent an answer this agent could not read (details in the agent log)`);
}

/**
 * A platform tool called from inside an SDK's own tool loop: the idle watch pauses while it runs (a
 * delegation may rightly take minutes), its use becomes a `tool` event, and the model gets its text
 * (an error prefixed, since these SDKs' tool results carry no error flag).
 */
export async function callPlatformTool(ctx: AdapterContext, watch: IdleWatch, queue: EventQueue, name: string, args: unknown): Promise<string> {
  watch.pause();
  try {
    const r = await runToolCall(ctx, name, args);
    queue.push({ type: 'tool', ...r.use });
    return r.isError ? `Error: ${r.text}` : r.text;
  } finally {
    watch.resume();
  }
}
