import os from 'node:os';
import path from 'node:path';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { INBOX_MAX_WAIT_SECONDS, InboxResponse, type HeartbeatBody, type InboxMessage, type RegisterBody } from '@molecule/contracts';
import type { Logger } from './log.js';
import { PlatformToolsError, type PlatformToolInfo, type PlatformTools } from './platform-tools.js';

/** C036: the bridge beats every 20 s (the in-workspace agent's interval is its own setting). */
export const BRIDGE_HEARTBEAT_INTERVAL_MS = 20_000;
/** How long `wait_for_messages` waits when the agent names no timeout. */
export const DEFAULT_WAIT_SECONDS = 30;

/** What `molecule-mcp` runs with: the env contract of C269 plus a few optional settings. */
export interface BridgeConfig {
  workspaceId: string;
  platformUrl: string;
  token: string;
  /** Where the platform's inbound secret is kept (CONFIGS_DIR, default ~/.molecule-workspace/<id>). */
  configsDir: string;
  agentName: string;
  agentDescription: string;
  skills: string[];
  /** MOLECULE_MCP_DISABLE_HEARTBEAT=1: neither register nor heartbeat (C036). */
  registerAndBeat: boolean;
  /** MOLECULE_MCP_SOCKET=0 turns it off: otherwise messages are pushed over an outbound socket (#15), the poll inbox the fallback. */
  socket: boolean;
  /**
   * MOLECULE_MCP_INBOX=0: the platform's tools only, with no inbox tools and no socket. molecule-agent
   * starts it so for the agent processes it runs (ACP agents, Codex), whose messages come over A2A.
   */
  inbox: boolean;
  logLevel: string;
}

/** The environment cannot run the bridge; the message names what to fix. */
export class BridgeConfigError extends Error {
  override name = 'BridgeConfigError';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Reads the bridge's environment (C269: WORKSPACE_ID, PLATFORM_URL, MOLECULE_WORKSPACE_TOKEN; no
 * MOLECULE_ORG_ID). Throws {@link BridgeConfigError} naming every missing or malformed variable.
 */
export function loadBridgeConfig(env: NodeJS.ProcessEnv): BridgeConfig {
  const problems: string[] = [];
  const workspaceId = env.WORKSPACE_ID?.trim() ?? '';
  if (workspaceId === '') problems.push('WORKSPACE_ID is not set (the workspace id the platform gave you)');
  else if (!UUID.test(workspaceId)) problems.push(`WORKSPACE_ID must be a workspace id (a UUID), got "${workspaceId.slice(0, 60)}"`);
  const rawUrl = env.PLATFORM_URL?.trim() ?? '';
  let platformUrl = '';
  if (rawUrl === '') problems.push('PLATFORM_URL is not set (e.g. http://localhost:8080)');
  else {
    try {
      const u = new URL(rawUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      platformUrl = rawUrl.replace(/\/+$/, '');
    } catch {
      problems.push(`PLATFORM_URL must be an http(s) URL, got "${rawUrl.slice(0, 100)}"`);
    }
  }
  const token = env.MOLECULE_WORKSPACE_TOKEN?.trim() ?? '';
  if (token === '') problems.push("MOLECULE_WORKSPACE_TOKEN is not set (the workspace's token, shown once when it was created or minted)");
  if (problems.length > 0) throw new BridgeConfigError(problems.join('; '));
  const skills = (env.MOLECULE_AGENT_SKILLS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return {
    workspaceId,
    platformUrl,
    token,
    configsDir: env.CONFIGS_DIR?.trim() || path.join(os.homedir(), '.molecule-workspace', workspaceId),
    agentName: env.MOLECULE_AGENT_NAME?.trim() || `molecule-mcp-${workspaceId.slice(0, 8)}`,
    agentDescription: env.MOLECULE_AGENT_DESCRIPTION?.trim() || 'An agent connected through molecule-mcp',
    skills,
    registerAndBeat: env.MOLECULE_MCP_DISABLE_HEARTBEAT !== '1',
    inbox: env.MOLECULE_MCP_INBOX?.trim() !== '0',
    socket: env.MOLECULE_MCP_SOCKET?.trim() !== '0' && env.MOLECULE_MCP_INBOX?.trim() !== '0',
    logLevel: env.MOLECULE_MCP_LOG_LEVEL?.trim() || (env.MOLECULE_MCP_VERBOSE === '1' ? 'debug' : 'info'),
  };
}

/** The register body of an external poll-mode agent: no URL (the platform never dials it). */
export function bridgeRegisterBody(cfg: BridgeConfig): RegisterBody {
  return {
    id: cfg.workspaceId,
    url: '',
    delivery_mode: 'poll',
    agent_card: {
      name: cfg.agentName,
      description: cfg.agentDescription,
      version: '0.1.0',
      skills: cfg.skills.map((s) => ({ id: s, name: s, description: s, tags: [] })),
    },
  };
}

/** A heartbeat of the bridge: it runs no tasks of its own, so it reports only that it is alive. */
export function bridgeHeartbeat(cfg: BridgeConfig, startedAt: number, now = Date.now()): HeartbeatBody {
  return {
    workspace_id: cfg.workspaceId,
    error_rate: 0,
    sample_error: '',
    active_tasks: 0,
    uptime_seconds: Math.max(0, Math.floor((now - startedAt) / 1000)),
    current_task: '',
    runtime_state: '',
  };
}

/** The platform answered an inbox call with an error; the message is the platform's own (safe to show). */
export class InboxError extends Error {
  override name = 'InboxError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The workspace's poll inbox over HTTP (`GET /workspaces/:id/inbox`, `POST .../inbox/:message_id/reply`), as the workspace. */
export class InboxClient {
  constructor(private readonly opts: { platformUrl: string; workspaceId: string; token: () => string; headers?: Record<string, string> }) {}

  private url(suffix: string): string {
    return `${this.opts.platformUrl}/workspaces/${encodeURIComponent(this.opts.workspaceId)}/inbox${suffix}`;
  }

  private async request(url: string, init: RequestInit, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const headers = { ...this.opts.headers, authorization: `Bearer ${this.opts.token()}`, ...(init.body ? { 'content-type': 'application/json' } : {}) };
    const bound = AbortSignal.timeout(timeoutMs);
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers, signal: signal ? AbortSignal.any([signal, bound]) : bound });
    } catch (err) {
      if (signal?.aborted) throw signal.reason as Error;
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new InboxError(`the platform could not be reached (${cause ?? (err as Error).message})`, 0);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const error = typeof (body as { error?: unknown })?.error === 'string' ? (body as { error: string }).error : `HTTP ${res.status}`;
      throw new InboxError(res.status === 401 || res.status === 403 ? `the platform refused this workspace's token (HTTP ${res.status}): ${error}` : error, res.status);
    }
    return body;
  }

  /** Unanswered messages, after `sinceId` when given, waiting up to `waitSeconds` for one to arrive. */
  async read(opts: { waitSeconds: number; sinceId?: string; signal?: AbortSignal }): Promise<InboxResponse> {
    const q = new URLSearchParams({ wait: String(opts.waitSeconds) });
    if (opts.sinceId !== undefined) q.set('since_id', opts.sinceId);
    const body = await this.request(this.url(`?${q}`), { method: 'GET' }, (opts.waitSeconds + 15) * 1000, opts.signal);
    const parsed = InboxResponse.safeParse(body);
    if (!parsed.success) throw new InboxError('the platform answered the inbox read with an unexpected shape', 502);
    return parsed.data;
  }

  /** Answers one message: the sender's waiting `message/send` completes with `text`. */
  async reply(messageId: string, text: string, signal?: AbortSignal): Promise<void> {
    await this.request(this.url(`/${encodeURIComponent(messageId)}/reply`), { method: 'POST', body: JSON.stringify({ text }) }, 30_000, signal);
  }
}

/** The bridge's own tools: the inbox. The platform's tools come from the platform itself. */
export const INBOX_TOOLS: readonly PlatformToolInfo[] = [
  {
    name: 'wait_for_messages',
    description:
      "Waits for new messages from teammates (other workspaces) or users, up to timeout_secs, and returns them (an empty list when none came). Call it whenever you are idle. Answer each with reply(message_id, text): the sender is waiting for that answer.",
    inputSchema: {
      type: 'object',
      properties: { timeout_secs: { type: 'integer', minimum: 0, maximum: INBOX_MAX_WAIT_SECONDS, description: `How long to wait, 0-${INBOX_MAX_WAIT_SECONDS} seconds (default ${DEFAULT_WAIT_SECONDS})` } },
      additionalProperties: false,
    },
  },
  {
    name: 'get_messages',
    description: 'Returns every message still waiting for your reply, at once (no waiting), including ones wait_for_messages already showed you.',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
  },
  {
    name: 'reply',
    description: "Answers one inbox message with text. The sender's request completes with it. Each message takes one reply.",
    inputSchema: {
      type: 'object',
      properties: {
        message_id: { type: 'string', description: 'The id of the message, as wait_for_messages or get_messages gave it' },
        text: { type: 'string', minLength: 1, description: 'Your answer' },
      },
      required: ['message_id', 'text'],
      additionalProperties: false,
    },
  },
];
const INBOX_TOOL_NAMES: ReadonlySet<string> = new Set(INBOX_TOOLS.map((t) => t.name));

const text = (s: string, isError = false): CallToolResult => ({ content: [{ type: 'text', text: s }], ...(isError ? { isError: true } : {}) });

/** What the agent sees of one message. */
function shown(m: InboxMessage): Record<string, unknown> {
  return { message_id: m.id, from: m.kind === 'peer_agent' ? { kind: m.kind, workspace_id: m.from_id } : { kind: m.kind }, text: m.text, received_at: m.created_at };
}

const messagesResult = (messages: InboxMessage[]): CallToolResult => {
  if (messages.length === 0) return { ...text('No new messages.'), structuredContent: { messages: [] } };
  const list = messages.map(shown);
  return { ...text(`${JSON.stringify(list, null, 2)}\nAnswer each with reply(message_id, text).`), structuredContent: { messages: list } };
};

/** Why a tool call could not be served, for the agent (never a stack). */
function failure(err: unknown): CallToolResult {
  if (err instanceof InboxError || err instanceof PlatformToolsError) return text(err.message, true);
  return text('the call failed inside molecule-mcp; see its log', true);
}

/**
 * The MCP server a CLI agent talks to over stdio: the platform's tools (listed and called through
 * the platform's own MCP endpoint, so the set is the platform's, never a copy) plus the inbox tools.
 * `wait_for_messages` moves a cursor past what it returned; `get_messages` shows all unanswered ones.
 * Without `inbox` (an agent the platform runs, whose messages come over A2A) it serves the
 * platform's tools alone, and says so in its instructions.
 */
export function bridgeServer(deps: { tools: PlatformTools; inbox?: Pick<InboxClient, 'read' | 'reply'>; log: Logger; workspaceId: string }): Server {
  let cursor: string | undefined;
  const platformTools = "list_peers, delegate_task (ask a teammate), memory, send_message_to_user, and more";
  const server = new Server(
    { name: 'molecule-mcp', version: '0.1.0' },
    {
      capabilities: { tools: {} },
      instructions: deps.inbox
        ? `You are connected to Molecule as workspace ${deps.workspaceId}. Teammates and users send you messages through your inbox: ` +
          'call wait_for_messages when you are idle, do the work, then answer each message with reply(message_id, text); the sender waits for that answer. ' +
          `The other tools are the platform's: ${platformTools}.`
        : `You are workspace ${deps.workspaceId} of a Molecule org. These are the platform's tools: ${platformTools}.`,
    },
  );
  const inboxTools = deps.inbox ? INBOX_TOOLS : [];
  server.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => {
    let platform: PlatformToolInfo[] = [];
    try {
      platform = (await deps.tools.list(extra.signal)).filter((t) => !INBOX_TOOL_NAMES.has(t.name));
    } catch (err) {
      // The inbox still works when the platform's tool list does not (it is retried on the next listing).
      deps.log.warn({ reason: (err as Error).message }, 'could not list the platform tools; offering the inbox tools only');
    }
    return { tools: [...platform, ...inboxTools].map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema as { type: 'object' } })) };
  });
  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    const args = (req.params.arguments ?? {}) as Record<string, unknown>;
    const inbox = deps.inbox;
    if (!inbox && INBOX_TOOL_NAMES.has(req.params.name)) {
      return text(`${req.params.name} is not offered here: your messages reach you directly, and your answer goes back to the sender`, true);
    }
    try {
      switch (req.params.name) {
        case 'wait_for_messages': {
          const t = args.timeout_secs ?? DEFAULT_WAIT_SECONDS;
          if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > INBOX_MAX_WAIT_SECONDS) {
            return text(`timeout_secs must be a whole number from 0 to ${INBOX_MAX_WAIT_SECONDS}`, true);
          }
          const got = await inbox!.read({ waitSeconds: t, signal: extra.signal, ...(cursor !== undefined ? { sinceId: cursor } : {}) }).catch(async (err: unknown) => {
            // The cursor's message is gone (answered long ago and pruned): start again from everything unanswered.
            if (err instanceof InboxError && err.status === 410) {
              cursor = undefined;
              return inbox!.read({ waitSeconds: t, signal: extra.signal });
            }
            throw err;
          });
          if (got.messages.length > 0) cursor = got.messages.at(-1)!.id;
          return messagesResult(got.messages);
        }
        case 'get_messages':
          return messagesResult((await inbox!.read({ waitSeconds: 0, signal: extra.signal })).messages);
        case 'reply': {
          if (typeof args.message_id !== 'string' || args.message_id === '') return text('message_id is required', true);
          if (typeof args.text !== 'string' || args.text.trim() === '') return text('text is required', true);
          await inbox!.reply(args.message_id, args.text, extra.signal);
          return text('Replied: the sender has your answer.');
        }
        default: {
          const r = await deps.tools.call(req.params.name, args, extra.signal);
          return { ...text(r.text, r.isError), ...(r.structured ? { structuredContent: r.structured } : {}) };
        }
      }
    } catch (err) {
      if (extra.signal.aborted) throw err;
      deps.log.warn({ tool: req.params.name, reason: (err as Error).message }, 'tool call failed');
      return failure(err);
    }
  });
  return server;
}
