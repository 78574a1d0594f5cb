import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import {
  client,
  ndJsonStream,
  PROTOCOL_VERSION,
  type ClientConnection,
  type McpServer,
  type NewSessionRequest,
  type NewSessionResponse,
  type RequestPermissionRequest,
  type RequestPermissionResponse,
  type SessionNotification,
} from '@agentclientprotocol/sdk';
import type { AcpConfig } from '../config-file.js';
import { ContextIds } from './context-ids.js';
import { platformMcp, type PlatformMcpLaunch, type PlatformMcpOptions } from './platform-mcp.js';
import { EventQueue, IdleWatch, TurnError, turnFailure } from './turn.js';
import type { Adapter, AdapterContext, AdapterEvent, AdapterInput } from './types.js';

export interface AcpAdapterOptions extends AcpConfig, PlatformMcpOptions {
  workspaceDir: string;
  idleMs: number;
}

/** Where the context -> ACP session map is kept, so a restart loads the same sessions. */
export const ACP_SESSIONS_FILE = path.join('.molecule', 'acp', 'sessions.json');
/** Tool kinds a `read_only` policy lets the agent run without asking anyone. */
const READ_ONLY_KINDS: ReadonlySet<string> = new Set(['read', 'search', 'think']);
/** A starting agent (a CLI loading its bundle) gets this long to answer `initialize`, whatever model_timeout_seconds says. */
const INIT_TIMEOUT_MS = 30_000;

/** The running ACP agent process and its connection. */
interface Proc {
  child: ChildProcess;
  conn: ClientConnection;
  loadSession: boolean;
  /** Why the process ended, once it has. */
  exited?: string;
}

interface Turn {
  queue: EventQueue;
  watch: IdleWatch;
  /** tool_call id -> what was announced, reported once it completes or fails. */
  tools: Map<string, { name: string; input?: string; started: number }>;
}

/**
 * The name a tool use is reported under: the ACP tool kind (`read`, `edit`, `execute`...) when the
 * agent gives one, else its title (MCP tools come as kind `other`, titled by the tool). Agents title
 * calls by their target (Gemini CLI titles a listing `.`), which goes in the input instead.
 */
function toolName(kind: string | null | undefined, title: string | null | undefined): string {
  return kind && kind !== 'other' ? kind : title || 'tool';
}

/** Why the process ended, waiting a moment for the exit when its connection is already closed. */
async function exitReason(proc: Proc): Promise<string | undefined> {
  if (proc.exited || !proc.conn.signal.aborted) return proc.exited;
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 2000);
    proc.child.once('exit', () => {
      clearTimeout(t);
      setImmediate(resolve);
    });
  });
  return proc.exited;
}

const textOf = (content: unknown): string => {
  const items = Array.isArray(content) ? content : [content];
  return items
    .map((c) => {
      const inner = (c as { content?: unknown })?.content ?? c;
      return (inner as { type?: unknown; text?: unknown })?.type === 'text' ? String((inner as { text: unknown }).text) : '';
    })
    .filter(Boolean)
    .join('\n');
};

/**
 * Any Agent Client Protocol agent (Gemini CLI, claude-code-acp, codex-acp...) as a child process
 * over stdio, through the official SDK's client side. The command comes from the template
 * (`acp.command`, `acp.args`); the workspace directory is its cwd. One ACP session per A2A
 * context, remembered in the workspace directory and loaded again after a restart when the agent
 * supports `session/load`. Message chunks stream as the reply, finished tool calls are reported as
 * tool uses, permission requests are answered by the template's policy (default: read-only kinds
 * allowed, the rest denied), and the platform tools are offered as the molecule-mcp stdio server.
 */
export class AcpAdapter implements Adapter {
  readonly name = 'acp';
  private proc: Proc | undefined;
  private starting: Promise<Proc> | undefined;
  /** context id -> ACP session id. */
  private readonly sessions: ContextIds;
  /** Sessions this process created or loaded (the others must be loaded first). */
  private live = new Set<string>();
  private readonly turns = new Map<string, Turn>();
  private closed = false;
  /** molecule-mcp's launch line, when there is one to offer (checked at start). */
  private mcp: PlatformMcpLaunch | undefined;

  private constructor(private readonly opts: AcpAdapterOptions) {
    this.sessions = new ContextIds(path.join(opts.workspaceDir, ACP_SESSIONS_FILE), 'the ACP session map', opts.log);
  }

  /**
   * Starts the agent process and initializes the protocol. Throws a message naming the command when
   * it cannot be run or does not speak ACP, so the agent fails at boot rather than on every message.
   */
  static async start(opts: AcpAdapterOptions): Promise<AcpAdapter> {
    const a = new AcpAdapter(opts);
    if (opts.platform_tools) a.mcp = await platformMcp(opts, 'the ACP agent');
    await a.sessions.load();
    await a.ensure();
    return a;
  }

  capabilities() {
    return { session: true };
  }

  /** The running process, started again when it died (the next message recovers). */
  private ensure(): Promise<Proc> {
    if (this.proc && !this.proc.exited) return Promise.resolve(this.proc);
    this.starting ??= this.spawn().finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async spawn(): Promise<Proc> {
    const { command, args } = this.opts;
    const env: Record<string, string | undefined> = { ...process.env, ...this.opts.env };
    // The agent reaches the platform through molecule-mcp only; it does not need the bearer itself.
    delete env.MOLECULE_WORKSPACE_TOKEN;
    const child = spawn(command, args, { cwd: this.opts.workspaceDir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(
        code === 'ENOENT'
          ? `acp.command ${JSON.stringify(command)} was not found (is it installed and on PATH?)`
          : `acp.command ${JSON.stringify(command)} could not be started (${code ?? 'error'})`,
      );
    }
    let stderrTail = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderrTail = (stderrTail + String(d)).slice(-2000);
    });
    const conn = client({ name: 'molecule-agent' })
      .onRequest('session/request_permission', ({ params }) => this.permission(params))
      .onNotification('session/update', ({ params }) => this.update(params))
      .connect(ndJsonStream(Writable.toWeb(child.stdin!) as WritableStream<Uint8Array>, Readable.toWeb(child.stdout!) as ReadableStream<Uint8Array>));
    const proc: Proc = { child, conn, loadSession: false };
    child.once('exit', (code, signal) => {
      proc.exited = `the ACP agent exited (${signal ?? `code ${code}`})`;
      this.live.clear();
      if (!this.closed) this.opts.log.warn({ code, signal, stderr: stderrTail }, 'the ACP agent process exited');
      conn.close(new TurnError(proc.exited));
      for (const t of this.turns.values()) t.queue.end(new TurnError(proc.exited));
    });
    try {
      const init = await conn.agent.request(
        'initialize',
        { protocolVersion: PROTOCOL_VERSION, clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false }, clientInfo: { name: 'molecule-agent', version: '1' } },
        { cancellationSignal: AbortSignal.timeout(INIT_TIMEOUT_MS), stopWaitingOnCancel: true } as never,
      );
      proc.loadSession = init.agentCapabilities?.loadSession === true;
    } catch (err) {
      this.opts.log.warn({ err, stderr: stderrTail }, 'the ACP agent did not initialize');
      child.kill('SIGKILL');
      throw new Error(`acp.command ${JSON.stringify(command)} did not answer the ACP initialize request (is it an ACP agent? see the agent log)`);
    }
    this.proc = proc;
    return proc;
  }

  private mcpServers(): McpServer[] {
    if (!this.mcp) return [];
    const { command, args, env } = this.mcp;
    return [{ name: 'molecule', command, args, env: Object.entries(env).map(([name, value]) => ({ name, value })) }];
  }

  /** The ACP session of a context: loaded after a restart when the agent can, else a new one. */
  private async session(proc: Proc, contextId: string, signal: AbortSignal): Promise<string> {
    const known = await this.sessions.get(contextId);
    if (known && this.live.has(known)) return known;
    const base = { cwd: this.opts.workspaceDir, mcpServers: this.mcpServers() };
    if (known && proc.loadSession) {
      try {
        // The agent replays the history as updates: no turn is routed for this id yet, so they are dropped.
        await proc.conn.agent.request('session/load', { ...base, sessionId: known }, { cancellationSignal: signal, stopWaitingOnCancel: true });
        this.live.add(known);
        return known;
      } catch (err) {
        if (signal.aborted) throw err;
        this.opts.log.warn({ err, context_id: contextId }, 'the ACP agent could not load the session; starting a new one');
      }
    }
    const created = (await proc.conn.agent.request('session/new', base satisfies NewSessionRequest, { cancellationSignal: signal, stopWaitingOnCancel: true })) as NewSessionResponse;
    this.live.add(created.sessionId);
    await this.sessions.set(contextId, created.sessionId);
    return created.sessionId;
  }

  private permission(params: RequestPermissionRequest): RequestPermissionResponse {
    const policy = this.opts.permissions;
    const kind = params.toolCall.kind ?? 'other';
    const allow = policy === 'allow_all' || (policy === 'read_only' && READ_ONLY_KINDS.has(kind));
    const option = params.options.find((o) => (allow ? o.kind === 'allow_once' || o.kind === 'allow_always' : o.kind === 'reject_once' || o.kind === 'reject_always'));
    this.opts.log.info({ tool: params.toolCall.title, kind, allowed: allow }, 'answered an ACP permission request');
    return { outcome: option ? { outcome: 'selected', optionId: option.optionId } : { outcome: 'cancelled' } };
  }

  private update(n: SessionNotification): void {
    const turn = this.turns.get(n.sessionId);
    if (!turn) return;
    turn.watch.touch();
    const u = n.update;
    if (u.sessionUpdate === 'agent_message_chunk') {
      if (u.content.type === 'text' && u.content.text) turn.queue.push({ type: 'text', text: u.content.text });
      return;
    }
    if (u.sessionUpdate === 'tool_call') {
      turn.tools.set(u.toolCallId, { name: toolName(u.kind, u.title), input: u.rawInput === undefined ? u.title : JSON.stringify(u.rawInput), started: performance.now() });
      if (u.status === 'completed' || u.status === 'failed') this.finishTool(turn, u.toolCallId, u.status, u.content, u.rawOutput);
      return;
    }
    if (u.sessionUpdate === 'tool_call_update') {
      const known = turn.tools.get(u.toolCallId);
      if (!known) turn.tools.set(u.toolCallId, { name: toolName(u.kind, u.title), ...(u.title ? { input: u.title } : {}), started: performance.now() });
      else if (u.rawInput !== undefined && known.input === undefined) known.input = JSON.stringify(u.rawInput);
      if (u.status === 'completed' || u.status === 'failed') this.finishTool(turn, u.toolCallId, u.status, u.content, u.rawOutput);
    }
  }

  private finishTool(turn: Turn, id: string, status: 'completed' | 'failed', content: unknown, rawOutput: unknown): void {
    const t = turn.tools.get(id);
    if (!t) return;
    turn.tools.delete(id);
    const text = textOf(content ?? []) || (rawOutput === undefined ? '' : JSON.stringify(rawOutput));
    turn.queue.push({
      type: 'tool',
      name: t.name,
      ...(t.input !== undefined ? { input: t.input } : {}),
      ...(status === 'failed' ? { error: text || 'failed' } : { output: text }),
      durationMs: performance.now() - t.started,
    });
  }

  async *run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    const watch = new IdleWatch(ctx.signal, this.opts.idleMs);
    const queue = new EventQueue();
    let sessionId: string | undefined;
    const produce = async () => {
      const proc = await this.ensure();
      sessionId = await this.session(proc, input.contextId, watch.signal);
      if (this.turns.has(sessionId)) throw new TurnError('this conversation already has a message in progress; send the next one when it is answered');
      this.turns.set(sessionId, { queue, watch, tools: new Map() });
      const id = sessionId;
      const onAbort = () => void proc.conn.agent.notify('session/cancel', { sessionId: id }).catch(() => undefined);
      watch.signal.addEventListener('abort', onAbort, { once: true });
      try {
        const r = await proc.conn.agent.request('session/prompt', { sessionId: id, prompt: [{ type: 'text', text: input.text || '(empty message)' }] }, { cancellationSignal: watch.signal, stopWaitingOnCancel: true });
        if (r.stopReason === 'refusal') throw new TurnError('the ACP agent refused to answer this message');
        if (r.stopReason === 'max_tokens' || r.stopReason === 'max_turn_requests') ctx.log.info({ stop_reason: r.stopReason }, 'the ACP agent stopped early');
      } finally {
        watch.signal.removeEventListener('abort', onAbort);
      }
    };
    produce().then(
      () => queue.end(),
      async (err: unknown) => {
        if (ctx.signal.aborted) return queue.end(err);
        ctx.log.warn({ err, context_id: input.contextId }, 'ACP turn failed');
        // A dying agent closes its stdout (failing the request) just before its exit is reported.
        const exited = this.proc ? await exitReason(this.proc) : undefined;
        queue.end(exited ? new TurnError(exited) : turnFailure(err, watch, 'the ACP agent'));
      },
    );
    try {
      yield* queue;
    } finally {
      watch.dispose();
      if (sessionId && this.turns.get(sessionId)?.queue === queue) this.turns.delete(sessionId);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const p = this.proc;
    if (!p || p.exited) return;
    p.conn.close();
    p.child.kill('SIGTERM');
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        p.child.kill('SIGKILL');
        resolve();
      }, 3000);
      p.child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
