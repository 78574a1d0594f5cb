import { access } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as messages from '@langchain/core/messages';
import { DynamicStructuredTool, type StructuredToolInterface } from '@langchain/core/tools';
import * as langgraph from '@langchain/langgraph';
import * as prebuilt from '@langchain/langgraph/prebuilt';
import { ChatOpenAI } from '@langchain/openai';
import type { LangGraphConfig } from '../config-file.js';
import { CHECKPOINTS_DIR, FileCheckpointSaver } from './langgraph-checkpoint.js';
import { toolsForModel } from './llm.js';
import { callPlatformTool, EventQueue, IdleWatch, TurnError, turnFailure } from './turn.js';
import type { Adapter, AdapterContext, AdapterEvent, AdapterInput } from './types.js';

/**
 * What a graph module's default export receives: the libraries (the module lives in the configs
 * dir, where `import '@langchain/langgraph'` would not resolve), a chat model on the workspace's
 * OpenAI-compatible endpoint, and the platform tools as LangChain tools.
 */
export interface GraphKit {
  model: ChatOpenAI;
  tools: StructuredToolInterface[];
  systemPrompt: string | undefined;
  langgraph: typeof langgraph;
  prebuilt: typeof prebuilt;
  messages: typeof messages;
}

/** A graph builder (compiled here with the workspace's checkpointer) or an already compiled graph. */
interface Compilable {
  compile(opts: { checkpointer: FileCheckpointSaver }): Runnable;
}
interface Runnable {
  checkpointer?: unknown;
  stream(input: unknown, options: Record<string, unknown>): Promise<AsyncIterable<unknown>>;
}
type GraphFactory = (kit: GraphKit) => Compilable | Runnable | Promise<Compilable | Runnable>;

export interface LangGraphAdapterOptions {
  apiKey: string;
  baseUrl: string | undefined;
  model: string;
  systemPrompt: string | undefined;
  maxTokens: number;
  workspaceDir: string;
  configsDir: string;
  idleMs: number;
  graph: LangGraphConfig;
}

/**
 * A LangGraph.js graph exported by a module in the workspace's configs (`langgraph.graph`), run
 * with its checkpointer in the workspace directory and `thread_id` = the A2A context, so a
 * conversation goes on across messages and restarts. The graph is built per message (the platform
 * tools' calls report to that message); model tokens stream as the reply, each platform tool call
 * is reported as a tool use.
 */
export class LangGraphAdapter implements Adapter {
  readonly name = 'langgraph';
  private readonly saver: FileCheckpointSaver;

  private constructor(
    private readonly opts: LangGraphAdapterOptions,
    private readonly factory: GraphFactory,
  ) {
    this.saver = new FileCheckpointSaver(path.join(opts.workspaceDir, CHECKPOINTS_DIR));
  }

  /**
   * Imports the graph module. Throws, naming the file, when it is missing, outside the configs dir,
   * fails to load or exports no function: the agent refuses to start rather than fail every message.
   */
  static async load(opts: LangGraphAdapterOptions): Promise<LangGraphAdapter> {
    const file = path.resolve(opts.configsDir, opts.graph.graph);
    const rel = path.relative(opts.configsDir, file);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`config.yaml langgraph.graph must be a file inside the configs dir (got ${opts.graph.graph})`);
    try {
      await access(file);
    } catch {
      throw new Error(`config.yaml langgraph.graph: ${opts.graph.graph} does not exist in the configs dir`);
    }
    let mod: { default?: unknown; createGraph?: unknown };
    try {
      mod = (await import(pathToFileURL(file).href)) as typeof mod;
    } catch (err) {
      throw new Error(`config.yaml langgraph.graph: ${opts.graph.graph} could not be loaded (${(err as Error).message.split('\n')[0]})`);
    }
    const factory = mod.default ?? mod.createGraph;
    if (typeof factory !== 'function') throw new Error(`config.yaml langgraph.graph: ${opts.graph.graph} must export a function (default or createGraph) that builds the graph`);
    return new LangGraphAdapter(opts, factory as GraphFactory);
  }

  capabilities() {
    return { session: true };
  }

  private async graph(kit: GraphKit): Promise<Runnable> {
    const built = await this.factory(kit);
    if (built && typeof (built as Compilable).compile === 'function') return (built as Compilable).compile({ checkpointer: this.saver });
    if (built && typeof (built as Runnable).stream === 'function') {
      (built as Runnable).checkpointer = this.saver;
      return built as Runnable;
    }
    throw new TurnError('the graph module did not build a graph');
  }

  async *run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    const watch = new IdleWatch(ctx.signal, this.opts.idleMs);
    const queue = new EventQueue();
    const turnCtx: AdapterContext = { ...ctx, signal: watch.signal };
    const tools = (await toolsForModel(ctx)).map(
      (t) =>
        new DynamicStructuredTool({
          name: t.name,
          description: t.description,
          schema: t.inputSchema,
          func: (args: unknown) => callPlatformTool(turnCtx, watch, queue, t.name, args),
        }),
    );
    const model = new ChatOpenAI({
      model: this.opts.model,
      apiKey: this.opts.apiKey || 'not-needed',
      configuration: { baseURL: this.opts.baseUrl },
      maxTokens: this.opts.maxTokens,
      streaming: true,
      maxRetries: 1,
    });
    const produce = async () => {
      const graph = await this.graph({ model, tools, systemPrompt: this.opts.systemPrompt, langgraph, prebuilt, messages });
      const stream = await graph.stream(
        { messages: [new messages.HumanMessage(input.text || '(empty message)')] },
        { configurable: { thread_id: input.contextId }, streamMode: 'messages', signal: watch.signal, recursionLimit: this.opts.graph.recursion_limit },
      );
      for await (const item of stream) {
        watch.touch();
        const [chunk] = item as [messages.BaseMessage, unknown];
        if (!messages.AIMessageChunk.isInstance(chunk)) continue;
        if (typeof chunk.content === 'string' && chunk.content) queue.push({ type: 'text', text: chunk.content });
        // The model's last chunk of each request carries its token counts.
        if (chunk.usage_metadata) queue.push({ type: 'usage', inputTokens: chunk.usage_metadata.input_tokens, outputTokens: chunk.usage_metadata.output_tokens });
      }
      if (watch.signal.aborted) throw watch.signal.reason;
    };
    produce().then(
      () => queue.end(),
      (err: unknown) => {
        if (ctx.signal.aborted) return queue.end(err);
        ctx.log.warn({ err, context_id: input.contextId }, 'langgraph turn failed');
        queue.end(turnFailure(err, watch, err instanceof langgraph.GraphRecursionError ? 'the graph' : 'the model server or the graph'));
      },
    );
    try {
      yield* queue;
    } finally {
      watch.dispose();
    }
  }
}
