import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { ContextIds } from './context-ids.js';
import path from 'node:path';
import type * as ClaudeAgentSdk from '@anthropic-ai/claude-agent-sdk';
import type { SDKMessage } from '@anthropic-ai/claude-agent-sdk';
import type { RuntimeCapability } from '@molecule/contracts';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Adapter, AdapterContext, AdapterEvent, AdapterFile, AdapterInput, ToolUse } from './types.js';
import { inputTokensOf, runToolCall, toolsForModel, withAttachedFiles } from './llm.js';

export interface ClaudeCodeAdapterOptions {
  /** The workspace directory: Claude Code's cwd, and where its sessions live (`.claude`). */
  workspaceDir: string;
  apiKey: string;
  /** ANTHROPIC_BASE_URL, when set (a proxy, or a fake server in tests). */
  baseUrl?: string | undefined;
  model?: string | undefined;
  systemPrompt?: string | undefined;
  /** Model requests per message at most (Claude Code's turns). */
  maxTurns?: number;
  /** How long one model request may take (Claude Code's API_TIMEOUT_MS); its default is 10 minutes. */
  requestTimeoutMs?: number;
  /**
   * Silence (no stream event from Claude Code) after which the turn is given up as hung; default 5
   * minutes. A model stream that stops mid-answer is caught by this, not by Claude Code.
   */
  idleTimeoutMs?: number;
  /** How often Claude Code retries a failed model request (CLAUDE_CODE_MAX_RETRIES); its default is 10. */
  maxRetries?: number;
  /** The Claude Code executable to run (the SDK's pathToClaudeCodeExecutable); default: the one the SDK ships. */
  executable?: string | undefined;
}

/** The MCP server name the platform tools are offered under: the model sees `mcp__platform__<tool>`. */
const MCP_NAME = 'platform';
const SESSIONS_FILE = '.molecule-claude-sessions.json';

/** What the user sees when Claude Code fails; the details go to the agent's log only. */
export const CLAUDE_CODE_FAILED = 'Claude Code could not answer this message (the model API failed or answered something it could not read); try again';
/** The heartbeat's sample error while Claude Code fails to start (C033: `runtime_state` is `wedged`). */
export const CLAUDE_CODE_WEDGED = 'Claude Code did not start: it never finished initializing; restart the workspace if the next message fails too';

type SdkModule = typeof ClaudeAgentSdk;

/**
 * Claude Code through the Claude Agent SDK (issue #16). Each A2A context is one Claude Code session,
 * resumed on every later message of that context, also after a restart: session ids are kept in the
 * workspace directory, and Claude Code's own session files under its `.claude` folder there
 * (CLAUDE_CONFIG_DIR). The platform tools are offered as an in-process MCP server; every tool use
 * (platform tools and Claude Code's own) is reported as a `tool` event. Claude Code owns the
 * conversation, so the adapter declares the `session` capability (C045). The SDK loads on first use.
 */
export class ClaudeCodeAdapter implements Adapter {
  readonly name = 'claude-code';
  private sdk: Promise<SdkModule> | undefined;
  private sessions: ContextIds | undefined;
  /** Set when a turn failed before Claude Code said anything (it never initialized); cleared by the next answered turn (C033). */
  private wedged: string | undefined;

  constructor(private readonly opts: ClaudeCodeAdapterOptions) {}

  capabilities(): Partial<Record<RuntimeCapability, boolean>> {
    return { session: true };
  }

  wedgedReason(): string | undefined {
    return this.wedged;
  }

  async *run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    const sdk = await (this.sdk ??= import('@anthropic-ai/claude-agent-sdk'));
    const sessions = (this.sessions ??= new ContextIds(path.join(this.opts.workspaceDir, SESSIONS_FILE), 'the Claude Code session map', ctx.log));
    const resume = await sessions.get(input.contextId);
    const keep = (p: Promise<void>) => p.catch((err: unknown) => ctx.log.warn({ err }, 'could not keep the claude code session ids; a restart starts new sessions'));
    const pending: AdapterEvent[] = [];
    const platform = await this.platformServer(ctx, (use) => pending.push({ type: 'tool', ...use }));
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const configDir = path.join(this.opts.workspaceDir, '.claude');
    await mkdir(configDir, { recursive: true });
    // Claude Code's own tool uses, by tool_use id, until their result arrives.
    const ownTools = new Map<string, { name: string; input: string; started: number }>();
    const prompt = await this.promptOf(input).catch((err: unknown) => {
      ctx.log.warn({ err }, 'could not save the attached files');
      throw new Error('the attached files could not be saved in the workspace');
    });
    let answered = false;
    let started = false;
    let hung = false;
    let idle: NodeJS.Timeout | undefined;
    const quiet = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        hung = true;
        abort.abort();
      }, this.opts.idleTimeoutMs ?? 5 * 60_000);
    };
    quiet();
    try {
      const q = sdk.query({
        prompt,
        options: {
          cwd: this.opts.workspaceDir,
          abortController: abort,
          ...(resume ? { resume } : {}),
          ...(this.opts.model ? { model: this.opts.model } : {}),
          ...(this.opts.executable ? { pathToClaudeCodeExecutable: this.opts.executable } : {}),
          ...(this.opts.systemPrompt ? { systemPrompt: this.opts.systemPrompt } : {}),
          maxTurns: this.opts.maxTurns ?? 20,
          // Stream events only keep the idle watchdog quiet; text is taken from whole messages.
          includePartialMessages: true,
          // The workspace is the agent's own sandbox: every tool is allowed (bypassPermissions refuses to run as root).
          canUseTool: async (_tool: string, toolInput: Record<string, unknown>) => ({ behavior: 'allow' as const, updatedInput: toolInput }),
          settingSources: [],
          ...(platform ? { mcpServers: { [MCP_NAME]: platform } } : {}),
          env: {
            PATH: process.env.PATH,
            HOME: this.opts.workspaceDir,
            CLAUDE_CONFIG_DIR: configDir,
            ANTHROPIC_API_KEY: this.opts.apiKey,
            ...(this.opts.baseUrl ? { ANTHROPIC_BASE_URL: this.opts.baseUrl } : {}),
            ...(this.opts.requestTimeoutMs ? { API_TIMEOUT_MS: String(this.opts.requestTimeoutMs) } : {}),
            ...(this.opts.maxRetries !== undefined ? { CLAUDE_CODE_MAX_RETRIES: String(this.opts.maxRetries) } : {}),
            DISABLE_AUTOUPDATER: '1',
            DISABLE_TELEMETRY: '1',
            DISABLE_ERROR_REPORTING: '1',
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          },
          stderr: (line: string) => ctx.log.debug({ line: line.slice(0, 500) }, 'claude code stderr'),
        },
      });
      for await (const msg of q as AsyncIterable<SDKMessage>) {
        started = true;
        quiet();
        yield* pending.splice(0);
        if ('session_id' in msg && typeof msg.session_id === 'string' && msg.session_id) await keep(sessions.set(input.contextId, msg.session_id));
        if (msg.type === 'assistant') {
          for (const block of msg.message.content) {
            if (block.type === 'text' && block.text) {
              yield { type: 'text', text: answered ? `\n\n${block.text}` : block.text };
              answered = true;
            } else if (block.type === 'tool_use' && !block.name.startsWith(`mcp__${MCP_NAME}__`)) {
              ownTools.set(block.id, { name: block.name, input: JSON.stringify(block.input ?? {}), started: performance.now() });
            }
          }
        } else if (msg.type === 'user' && Array.isArray(msg.message.content)) {
          for (const block of msg.message.content) {
            if (typeof block !== 'object' || block === null || block.type !== 'tool_result') continue;
            const own = ownTools.get(block.tool_use_id);
            if (!own) continue;
            ownTools.delete(block.tool_use_id);
            const text = typeof block.content === 'string' ? block.content : JSON.stringify(block.content ?? '');
            yield { type: 'tool', name: own.name, input: own.input, ...(block.is_error ? { error: text } : { output: text }), durationMs: performance.now() - own.started };
          }
        } else if (msg.type === 'result') {
          yield* pending.splice(0);
          if (msg.subtype !== 'success' || msg.is_error) {
            ctx.log.warn({ subtype: msg.subtype, errors: 'errors' in msg ? msg.errors : undefined }, 'claude code ended the turn with an error');
            // A failed resume must not stick to the context: the next message starts afresh.
            if (!answered) await keep(sessions.delete(input.contextId));
            throw new Error(CLAUDE_CODE_FAILED);
          }
          if (!answered && msg.result) yield { type: 'text', text: msg.result };
          if (answered || msg.result) this.wedged = undefined;
          yield { type: 'usage', inputTokens: inputTokensOf(msg.usage), outputTokens: msg.usage.output_tokens };
          return;
        }
      }
      yield* pending.splice(0);
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (!started) this.wedged = CLAUDE_CODE_WEDGED;
      if (hung) ctx.log.warn('claude code went silent; the turn is given up');
      throw new Error(CLAUDE_CODE_FAILED);
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      if (!started) this.wedged = CLAUDE_CODE_WEDGED;
      if (hung) ctx.log.warn('claude code went silent; the turn is given up');
      if (err instanceof Error && err.message === CLAUDE_CODE_FAILED) throw err;
      ctx.log.warn({ err }, 'claude code failed');
      throw new Error(CLAUDE_CODE_FAILED);
    } finally {
      clearTimeout(idle);
      ctx.signal.removeEventListener('abort', onAbort);
      abort.abort();
    }
  }

  /**
   * The message with its attached files listed where Claude Code can open them: a file the workspace
   * stored (`workspace:<path>`) at its path, inline bytes written under `.molecule/attachments` in
   * the workspace first, a URL as it is.
   */
  private async promptOf(input: AdapterInput): Promise<string> {
    const local = new Map<AdapterFile, string>();
    for (const f of input.files) {
      if (f.uri?.startsWith('workspace:')) local.set(f, f.uri.slice('workspace:'.length));
      else if (f.bytes !== undefined) {
        const dir = path.join(this.opts.workspaceDir, '.molecule', 'attachments');
        await mkdir(dir, { recursive: true });
        const file = path.join(dir, `${randomUUID().slice(0, 8)}-${path.basename(f.name).replace(/[^\w.-]/g, '_') || 'file'}`);
        await writeFile(file, Buffer.from(f.bytes, 'base64'));
        local.set(f, file);
      }
    }
    return withAttachedFiles(input.text, input.files, (f) => local.get(f) ?? f.uri);
  }

  /** The platform tools as an in-process MCP server, their schemas passed through as the platform lists them. */
  private async platformServer(ctx: AdapterContext, report: (use: ToolUse) => void) {
    const tools = await toolsForModel(ctx);
    if (tools.length === 0) return undefined;
    const server = new McpServer({ name: MCP_NAME, version: '1.0.0' }, { capabilities: { tools: {} } });
    server.server.setRequestHandler(ListToolsRequestSchema, () => ({
      tools: tools.map((t) => ({ name: t.name, description: t.description, inputSchema: { ...t.inputSchema, type: 'object' as const } })),
    }));
    server.server.setRequestHandler(CallToolRequestSchema, async (req) => {
      const r = await runToolCall(ctx, req.params.name, req.params.arguments ?? {});
      report(r.use);
      return { content: [{ type: 'text' as const, text: r.text }], ...(r.isError ? { isError: true } : {}) };
    });
    return { type: 'sdk' as const, name: MCP_NAME, instance: server };
  }
}
