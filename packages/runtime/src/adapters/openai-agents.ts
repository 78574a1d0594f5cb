import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, setTracingDisabled, tool, type AgentInputItem, type Session } from '@openai/agents';
import OpenAI from 'openai';
import type { OpenAIAgentsConfig } from '../config-file.js';
import { toolsForModel } from './llm.js';
import { callPlatformTool, EventQueue, IdleWatch, turnFailure } from './turn.js';
import type { Adapter, AdapterContext, AdapterEvent, AdapterInput } from './types.js';

export interface OpenAIAgentsAdapterOptions {
  apiKey: string;
  baseUrl: string | undefined;
  model: string;
  instructions: string | undefined;
  name: string;
  /** Sessions live here, one JSON file per A2A context. */
  workspaceDir: string;
  idleMs: number;
  agent: OpenAIAgentsConfig;
}

/** The sessions' folder inside the workspace directory. */
export const SESSIONS_DIR = path.join('.molecule', 'openai-agents', 'sessions');
/** User turns a session keeps (older ones are dropped, each with what answered it), so a long conversation never outgrows the model's context. */
export const SESSION_MAX_USER_TURNS = 50;

/** The items from the start of the `keep`-th last user message on: whole turns, so no tool output loses its call. */
export function lastTurns(items: AgentInputItem[], keep: number): AgentInputItem[] {
  let seen = 0;
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i] as { role?: unknown; type?: unknown };
    if (item.role === 'user' && (item.type === undefined || item.type === 'message') && ++seen === keep) return items.slice(i);
  }
  return items;
}

/**
 * An OpenAI Agents SDK session kept in one JSON file (the items of the conversation), so a restarted
 * agent goes on with the same history: its last {@link SESSION_MAX_USER_TURNS} user turns. Writes go through a temp file and a rename, so a crash
 * never leaves half a file; calls on one session are serialized.
 */
export class FileSession implements Session {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly id: string,
  ) {}

  /** One file per context, named by a hash: a context id never becomes a path. */
  static forContext(workspaceDir: string, contextId: string): FileSession {
    const name = createHash('sha256').update(contextId).digest('hex').slice(0, 32);
    return new FileSession(path.join(workspaceDir, SESSIONS_DIR, `${name}.json`), contextId);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async read(): Promise<AgentInputItem[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const parsed = JSON.parse(text) as { items?: unknown };
    return Array.isArray(parsed.items) ? (parsed.items as AgentInputItem[]) : [];
  }

  private async write(items: AgentInputItem[]): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ context_id: this.id, items }), { mode: 0o600 });
    await rename(tmp, this.file);
  }

  getSessionId(): Promise<string> {
    return Promise.resolve(this.id);
  }

  getItems(limit?: number): Promise<AgentInputItem[]> {
    return this.serial(async () => {
      const items = await this.read();
      return limit === undefined ? items : items.slice(-limit);
    });
  }

  addItems(items: AgentInputItem[]): Promise<void> {
    return this.serial(async () => this.write(lastTurns([...(await this.read()), ...items], SESSION_MAX_USER_TURNS)));
  }

  popItem(): Promise<AgentInputItem | undefined> {
    return this.serial(async () => {
      const items = await this.read();
      const last = items.pop();
      await this.write(items);
      return last;
    });
  }

  clearSession(): Promise<void> {
    return this.serial(async () => this.write([]));
  }
}

/**
 * An OpenAI Agents SDK (`@openai/agents`) agent defined by the template: its instructions, model and
 * the platform tools as function tools, run by the SDK's runner against any OpenAI-compatible
 * endpoint (Chat Completions, or the Responses API with `openai_agents.api: responses`). One
 * session per A2A context, kept in the workspace directory. Text deltas stream as the reply; each
 * platform tool call is reported as a tool use.
 */
export class OpenAIAgentsAdapter implements Adapter {
  readonly name = 'openai-agents';
  private readonly client: OpenAI;
  private readonly runner: Runner;

  constructor(private readonly opts: OpenAIAgentsAdapterOptions) {
    // Tracing would upload every run to OpenAI: never from a workspace.
    setTracingDisabled(true);
    this.client = new OpenAI({ apiKey: opts.apiKey || 'not-needed', baseURL: opts.baseUrl, maxRetries: 1 });
    this.runner = new Runner({ tracingDisabled: true });
  }

  capabilities() {
    return { session: true };
  }

  async *run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    const watch = new IdleWatch(ctx.signal, this.opts.idleMs);
    const queue = new EventQueue();
    const turnCtx: AdapterContext = { ...ctx, signal: watch.signal };
    const tools = (await toolsForModel(ctx)).map((t) =>
      tool({
        name: t.name,
        description: t.description,
        parameters: { type: 'object', properties: {}, ...t.inputSchema, additionalProperties: true } as never,
        strict: false,
        execute: (args: unknown) => callPlatformTool(turnCtx, watch, queue, t.name, args),
      }),
    );
    const model =
      this.opts.agent.api === 'responses'
        ? new OpenAIResponsesModel(this.client, this.opts.model)
        : new OpenAIChatCompletionsModel(this.client, this.opts.model);
    const agent = new Agent({ name: this.opts.name, instructions: this.opts.instructions ?? '', model, tools });
    const session = FileSession.forContext(this.opts.workspaceDir, input.contextId);
    const produce = async () => {
      const result = await this.runner.run(agent, input.text || '(empty message)', {
        stream: true,
        session,
        signal: watch.signal,
        maxTurns: this.opts.agent.max_turns,
      });
      for await (const ev of result) {
        watch.touch();
        if (ev.type === 'raw_model_stream_event' && ev.data.type === 'output_text_delta' && ev.data.delta) queue.push({ type: 'text', text: ev.data.delta });
      }
      await result.completed;
      if (result.error) throw result.error;
      const { inputTokens, outputTokens } = result.runContext.usage;
      queue.push({ type: 'usage', inputTokens, outputTokens });
      // The runner ends a canceled run quietly; a turn cut short by silence or a cancel must not look answered.
      if (watch.signal.aborted) throw watch.signal.reason;
    };
    produce().then(
      () => queue.end(),
      (err: unknown) => {
        if (ctx.signal.aborted) return queue.end(err);
        ctx.log.warn({ err, context_id: input.contextId }, 'openai-agents turn failed');
        queue.end(turnFailure(err, watch, 'the model server'));
      },
    );
    try {
      yield* queue;
    } finally {
      watch.dispose();
    }
  }
}
