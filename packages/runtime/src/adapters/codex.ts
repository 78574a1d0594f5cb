import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Codex, type ThreadEvent, type ThreadItem, type ThreadOptions } from '@openai/codex-sdk';
import { ContextIds } from './context-ids.js';
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
/** How long molecule-mcp may take to start, and a turn waits for it; Codex's defaults are 10 s and 1 s. */
const MCP_STARTUP_TIMEOUT_SEC = 60;
/** A platform tool call (delegate_task waits for the peer's answer) may take this long; Codex's default is 60 s. */
const MCP_TOOL_TIMEOUT_SEC = 3600;

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
  private readonly threads: ContextIds;
  /** molecule-mcp's launch line (undefined: none to offer), looked up on the first message. */
  private mcp: Promise<PlatformMcpLaunch | undefined> | undefined;

  constructor(private readonly opts: CodexAdapterOptions) {
    this.threads = new ContextIds(path.join(opts.workspaceDir, CODEX_THREADS_FILE), 'the Codex thread map', opts.log);
  }

  capabilities() {
    return { session: true };
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
        // molecule-mcp gets 60 s to start rather than Codex's 10 s, and a turn waits for it as long
        // (Codex starts it afresh for every turn): Codex otherwise leaves an MCP server out of a
        // turn's tools when it is not ready within 1 s (mcp_optional_startup_grace_ms), and Node can
        // take longer than that to start on a loaded machine. The wait counts as the model's silence
        // for the idle watch (Codex says nothing meanwhile), so it is at most half of that. A tool
        // call may take as long as a delegation does.
        ...(platform
          ? {
              mcp_optional_startup_grace_ms: Math.min(MCP_STARTUP_TIMEOUT_SEC * 1000, Math.floor(this.opts.idleMs / 2)),
              mcp_servers: { [MCP_NAME]: { ...platform, startup_timeout_sec: MCP_STARTUP_TIMEOUT_SEC, tool_timeout_sec: MCP_TOOL_TIMEOUT_SEC } },
            }
          : {}),
      },
    });
  }

  async *run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    const known = await this.threads.get(input.contextId);
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
    /** The last thing Codex said was that it cannot reach the model server and is retrying. */
    let reconnecting = false;
    const produce = async () => {
      const { events } = await thread.runStreamed(withAttachedFiles(input.text, input.files) || '(empty message)', { signal: watch.signal });
      let spoke = false;
      for await (const ev of events as AsyncIterable<ThreadEvent>) {
        // A stream notice is not progress: Codex retries a model server it cannot reach forever,
        // with a "Reconnecting..." notice each time, which would otherwise keep the turn alive.
        if (ev.type === 'error') {
          ctx.log.debug({ message: ev.message.slice(0, 500) }, 'codex stream notice');
          reconnecting = /reconnect|connection failed|network/i.test(ev.message);
          continue;
        }
        reconnecting = false;
        watch.touch();
        if (ev.type === 'thread.started') {
          await this.threads.set(input.contextId, ev.thread_id);
        } else if (ev.type === 'item.completed') {
          const item = ev.item;
          if (item.type === 'agent_message' && item.text) {
            queue.push({ type: 'text', text: spoke ? `\n\n${item.text}` : item.text });
            spoke = true;
          } else if (item.type === 'error') {
            // A non-fatal error Codex reports in the turn (an MCP server that did not start, say).
            ctx.log.info({ message: item.message.slice(0, 500) }, 'codex reported an error');
          } else {
            const use = toolUseOf(item);
            if (use) queue.push({ type: 'tool', ...use });
          }
        } else if (ev.type === 'turn.completed') {
          queue.push({ type: 'usage', inputTokens: ev.usage.input_tokens, outputTokens: ev.usage.output_tokens });
        } else if (ev.type === 'turn.failed') {
          ctx.log.warn({ message: ev.error.message.slice(0, 1000) }, 'codex turn failed');
          throw modelFailure(ev.error.message);
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
        if (!known) await this.threads.delete(input.contextId).catch(() => undefined);
        queue.end(
          watch.expired && reconnecting
            ? new TurnError(`Codex could not reach the model server for ${Math.round(watch.idleMs / 1000)} s; giving up on this message`)
            : turnFailure(err, watch, 'Codex'),
        );
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
