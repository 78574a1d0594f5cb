import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Codex, type ThreadEvent, type ThreadItem, type ThreadOptions } from '@openai/codex-sdk';
import { platformMcp, type PlatformMcpLaunch, type PlatformMcpOptions } from './platform-mcp.js';
import { withAttachedFiles } from './llm.js';
import { EventQueue, IdleWatch, TurnError, turnFailure } from './turn.js';
import type { Adapter, AdapterContext, AdapterEvent, AdapterInput, ToolUse } from './types.js';

export interface CodexAdapterOptions extends PlatformMcpOptions {
  apiKey: string;
  /** An OpenAI-compatible Responses API (OPENAI_BASE_URL); default OpenAI's. */
  baseUrl: string | undefined;
  model: string;
  /** Codex's working directory; its own state (CODEX_HOME) lives in `.codex` there. */
  workspaceDir: string;
  idleMs: number;
  /** The Codex executable (default: the one @openai/codex ships). */
  executable?: string;
}

/** Where the context -> Codex thread map is kept, so a restart resumes the same threads. */
export const CODEX_THREADS_FILE = path.join('.molecule', 'codex', 'threads.json');
/** The MCP server name the platform tools are offered under. */
const MCP_NAME = 'platform';
const OPENAI_URL = 'https://api.openai.com/v1';

/** Codex's own tool uses (shell commands, file edits, MCP calls) as the tool uses the activity log records. */
function toolUseOf(item: ThreadItem): ToolUse | undefined {
  switch (item.type) {
    case 'mcp_tool_call': {
      const text = item.result?.content.map((c) => ('text' in c && typeof c.text === 'string' ? c.text : '')).join('') ?? '';
      const input = JSON.stringify(item.arguments ?? {});
      return item.status === 'failed' || item.error ? { name: item.tool, input, error: item.error?.message ?? (text || 'failed') } : { name: item.tool, input, output: text };
    }
    case 'command_execution':
      return item.status === 'failed' ? { name: 'shell', input: item.command, error: item.aggregated_output || `exit ${item.exit_code ?? '?'}` } : { name: 'shell', input: item.command, output: item.aggregated_output };
    case 'file_change':
      return { name: 'edit', input: item.changes.map((c) => `${c.kind} ${c.path}`).join('\n'), ...(item.status === 'failed' ? { error: 'the patch was not applied' } : { output: 'applied' }) };
    default:
      return undefined;
  }
}

/**
 * OpenAI Codex through the Codex SDK (`@openai/codex-sdk`, which runs the `codex` binary shipped in
 * an npm package). Each A2A context is one Codex thread, resumed on every later message of that
 * context, also after a restart: thread ids are kept in the workspace directory, Codex's sessions
 * under its CODEX_HOME there. The model server is a Responses API provider of its own (HTTP only,
 * no WebSocket), the platform tools are the molecule-mcp stdio server, and Codex's tool uses (MCP
 * calls, shell commands, edits) are reported as tool uses. It runs without a sandbox or approval
 * prompts: the workspace is the agent's sandbox. The SDK loads on the first message.
 */
export class CodexAdapter implements Adapter {
  readonly name = 'codex';
  private threads: Map<string, string> | undefined;
  /** molecule-mcp's launch line (undefined: none to offer), looked up on the first message. */
  private mcp: Promise<PlatformMcpLaunch | undefined> | undefined;

  constructor(private readonly opts: CodexAdapterOptions) {}

  capabilities() {
    return { session: true };
  }

  private get threadsFile(): string {
    return path.join(this.opts.workspaceDir, CODEX_THREADS_FILE);
  }

  private async loadThreads(): Promise<Map<string, string>> {
    if (this.threads) return this.threads;
    const threads = new Map<string, string>();
    try {
      const saved = JSON.parse(await readFile(this.threadsFile, 'utf8')) as Record<string, unknown>;
      for (const [ctx, id] of Object.entries(saved)) if (typeof id === 'string') threads.set(ctx, id);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.log.warn({ err }, 'the Codex thread map could not be read; starting new threads');
    }
    return (this.threads = threads);
  }

  private async saveThreads(threads: Map<string, string>): Promise<void> {
    await mkdir(path.dirname(this.threadsFile), { recursive: true, mode: 0o700 });
    const tmp = `${this.threadsFile}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(Object.fromEntries(threads)), { mode: 0o600 });
    await rename(tmp, this.threadsFile);
  }

  private async codex(): Promise<Codex> {
    const home = path.join(this.opts.workspaceDir, '.codex');
    await mkdir(home, { recursive: true, mode: 0o700 });
    const platform = await (this.mcp ??= platformMcp(this.opts, 'Codex'));
    return new Codex({
      ...(this.opts.executable ? { codexPathOverride: this.opts.executable } : {}),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.opts.workspaceDir, CODEX_HOME: home, MOLECULE_CODEX_API_KEY: this.opts.apiKey || 'not-needed' },
      config: {
        model_provider: 'molecule',
        model_providers: {
          molecule: {
            name: 'Molecule model server',
            base_url: this.opts.baseUrl ?? OPENAI_URL,
            env_key: 'MOLECULE_CODEX_API_KEY',
            wire_api: 'responses',
            supports_websockets: false,
            request_max_retries: 1,
            stream_max_retries: 1,
            stream_idle_timeout_ms: this.opts.idleMs,
          },
        },
        ...(platform ? { mcp_servers: { [MCP_NAME]: { ...platform } } } : {}),
      },
    });
  }

  async *run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    const threads = await this.loadThreads();
    const known = threads.get(input.contextId);
    const codex = await this.codex();
    const options: ThreadOptions = {
      model: this.opts.model,
      workingDirectory: this.opts.workspaceDir,
      skipGitRepoCheck: true,
      // The workspace is the agent's sandbox (a container, or a process of the operator's choosing).
      sandboxMode: 'danger-full-access',
      approvalPolicy: 'never',
      webSearchMode: 'disabled',
    };
    const thread = known ? codex.resumeThread(known, options) : codex.startThread(options);
    const watch = new IdleWatch(ctx.signal, this.opts.idleMs);
    const queue = new EventQueue();
    const produce = async () => {
      const { events } = await thread.runStreamed(withAttachedFiles(input.text, input.files) || '(empty message)', { signal: watch.signal });
      let spoke = false;
      for await (const ev of events as AsyncIterable<ThreadEvent>) {
        watch.touch();
        if (ev.type === 'thread.started' && threads.get(input.contextId) !== ev.thread_id) {
          threads.set(input.contextId, ev.thread_id);
          await this.saveThreads(threads);
        } else if (ev.type === 'item.completed') {
          const item = ev.item;
          if (item.type === 'agent_message' && item.text) {
            queue.push({ type: 'text', text: spoke ? `\n\n${item.text}` : item.text });
            spoke = true;
          } else if (item.type === 'error') {
            ctx.log.debug({ message: item.message.slice(0, 500) }, 'codex notice');
          } else {
            const use = toolUseOf(item);
            if (use) queue.push({ type: 'tool', ...use });
          }
        } else if (ev.type === 'turn.completed') {
          queue.push({ type: 'usage', inputTokens: ev.usage.input_tokens, outputTokens: ev.usage.output_tokens });
        } else if (ev.type === 'turn.failed') {
          ctx.log.warn({ message: ev.error.message.slice(0, 1000) }, 'codex turn failed');
          throw modelFailure(ev.error.message);
        } else if (ev.type === 'error') {
          // Reconnect notices and the like: the turn goes on (a fatal one ends it as turn.failed or an exit).
          ctx.log.debug({ message: ev.message.slice(0, 500) }, 'codex stream notice');
        }
      }
      if (watch.signal.aborted) throw watch.signal.reason;
    };
    produce().then(
      () => queue.end(),
      async (err: unknown) => {
        if (ctx.signal.aborted) return queue.end(err);
        if (!(err instanceof TurnError)) ctx.log.warn({ err, context_id: input.contextId }, 'codex turn failed');
        // A failed first turn must not stick to the context: the next message starts afresh.
        if (!known && threads.delete(input.contextId)) await this.saveThreads(threads).catch(() => undefined);
        queue.end(turnFailure(err, watch, 'Codex'));
      },
    );
    try {
      yield* queue;
    } finally {
      watch.dispose();
    }
  }
}

/** A safe message for a turn Codex gave up on: the model server's HTTP status when Codex names one, never its text. */
function modelFailure(message: string): TurnError {
  const status = /\b(?:status|HTTP)\s*:?\s*([45]\d\d)\b/i.exec(message)?.[1];
  return new TurnError(status ? `the model server answered HTTP ${status}` : 'Codex failed or the model server sent an answer it could not read (details in the agent log)');
}
