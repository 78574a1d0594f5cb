import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { ChatFilesError, sendFilesToUser } from './chat-files.js';
import type { Logger } from './log.js';

/** One platform tool as `tools/list` describes it; `inputSchema` is a JSON Schema object. */
export interface PlatformToolInfo {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/** A tool's answer: its text content joined; `isError` when the tool refused or failed (the text says why). */
export interface PlatformToolResult {
  text: string;
  isError: boolean;
  /** The tool's structured result (MCP `structuredContent`), when it sent one. */
  structured?: Record<string, unknown>;
}

/**
 * The platform's agent tools (list_peers, delegate_task...) as adapters see them
 * (`AdapterContext.tools`). Absent when the agent runs without a platform.
 */
export interface PlatformTools {
  /** The tools the platform offers. Throws {@link PlatformToolsError} when the platform cannot be reached. */
  list(signal?: AbortSignal): Promise<PlatformToolInfo[]>;
  /**
   * Calls one tool. A refusal by the tool (bad arguments, hierarchy, failed delegation) is a result
   * with `isError`; not reaching the platform at all (down, timeout, rejected token) throws
   * {@link PlatformToolsError}; an aborted `signal` rejects with its reason.
   */
  call(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<PlatformToolResult>;
  close(): Promise<void>;
}

/** The platform tools could not be reached or did not answer; the message is safe to show. */
export class PlatformToolsError extends Error {
  override name = 'PlatformToolsError';
}

/** The workspace bearer, shared with the registry client so a re-issued token serves both. */
export interface TokenSource {
  current(): string;
  /** Re-reads a file-sourced token; true when it changed. */
  reload(): Promise<boolean>;
}

/** Connecting and listing are quick; a stuck platform must not hold a task for long. */
export const DEFAULT_LIST_TIMEOUT_MS = 15_000;
/**
 * `delegate_task` waits for the other agent's answer. Five minutes is also where Node's fetch gives
 * up waiting for response headers, so a longer wait could not be honoured anyway; long work belongs
 * in `delegate_task_async` + `check_task_status`.
 */
export const DEFAULT_CALL_TIMEOUT_MS = 5 * 60_000;

export interface McpPlatformToolsOptions {
  platformUrl: string;
  workspaceId: string;
  token: TokenSource;
  log: Logger;
  listTimeoutMs?: number;
  callTimeoutMs?: number;
  /** Sent on every request besides the bearer (molecule-mcp sends `Origin: PLATFORM_URL`, C036). */
  headers?: Record<string, string>;
  /** The MCP client's name as the platform sees it (default molecule-agent). */
  clientName?: string;
}

const SEND_TO_USER = 'send_message_to_user';

/** The agent's own addition to send_message_to_user: local files it uploads itself before notifying (C085). */
function withLocalFiles(tool: PlatformToolInfo): PlatformToolInfo {
  if (tool.name !== SEND_TO_USER) return tool;
  const props = (tool.inputSchema.properties ?? {}) as Record<string, unknown>;
  return {
    ...tool,
    description: `${tool.description} To attach files from this workspace, list their absolute paths in \`files\`: they are uploaded first, and nothing is sent if one is missing.`,
    inputSchema: { ...tool.inputSchema, properties: { ...props, files: { type: 'array', items: { type: 'string' }, maxItems: 20, description: 'Absolute paths of local files to attach' } } },
  };
}

/** MCP error codes that mean the platform was not reached or did not answer (anything else is an answer). */
const OUTAGE_CODES: ReadonlySet<number> = new Set([ErrorCode.RequestTimeout, ErrorCode.ConnectionClosed]);

/**
 * The platform tools over MCP (Streamable HTTP, the official SDK client) at
 * `{PLATFORM_URL}/workspaces/{id}/mcp`, as the workspace itself (its bearer). Connects on first
 * use, keeps the connection (the platform's endpoint is stateless, so nothing on its side expires),
 * and connects again after a failed connect. A 401/403 re-reads a file token and, when it changed,
 * retries once with the new one. Every HTTP request is bounded by the call timeout.
 */
export class McpPlatformTools implements PlatformTools {
  private connection: Promise<Client> | undefined;
  private listing: Promise<PlatformToolInfo[]> | undefined;
  private closed = false;
  private readonly listTimeoutMs: number;
  private readonly callTimeoutMs: number;

  constructor(private readonly opts: McpPlatformToolsOptions) {
    this.listTimeoutMs = opts.listTimeoutMs ?? DEFAULT_LIST_TIMEOUT_MS;
    this.callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  }

  get url(): string {
    return `${this.opts.platformUrl}/workspaces/${encodeURIComponent(this.opts.workspaceId)}/mcp`;
  }

  async list(signal?: AbortSignal): Promise<PlatformToolInfo[]> {
    const client = await this.connect(signal);
    // The tools never change while the platform runs: listed once, listed again only after a failure.
    this.listing ??= client
      .listTools(undefined, { timeout: this.listTimeoutMs })
      .then((r) => r.tools.map((t) => withLocalFiles({ name: t.name, description: t.description ?? '', inputSchema: t.inputSchema as Record<string, unknown> })))
      .catch((err: unknown) => {
        this.listing = undefined;
        throw err;
      });
    const listing = this.listing;
    return await this.guard('tools/list', () => listing, signal);
  }

  async call(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<PlatformToolResult> {
    if (name === SEND_TO_USER && Array.isArray(args.files) && args.files.length > 0) return this.sendFiles(args, signal);
    const client = await this.connect(signal);
    let result: Awaited<ReturnType<Client['callTool']>>;
    try {
      result = await this.guard(name, () => client.callTool({ name, arguments: args }, undefined, { signal, timeout: this.callTimeoutMs }), signal);
    } catch (err) {
      if (isAnswer(err)) return { text: err.message, isError: true };
      throw err;
    }
    const content = Array.isArray(result.content) ? (result.content as { type?: unknown; text?: unknown }[]) : [];
    const text = content
      .filter((p) => p.type === 'text' && typeof p.text === 'string')
      .map((p) => p.text as string)
      .join('\n');
    const structured = result.structuredContent;
    return {
      text,
      isError: result.isError === true,
      ...(typeof structured === 'object' && structured !== null && !Array.isArray(structured) ? { structured: structured as Record<string, unknown> } : {}),
    };
  }

  /**
   * `send_message_to_user` with local `files` (C085): uploaded through the platform first, then
   * notified with what the platform stored; a missing file or a refused upload is the tool's error
   * and nothing reaches the user.
   */
  private async sendFiles(args: Record<string, unknown>, signal?: AbortSignal): Promise<PlatformToolResult> {
    const files = (args.files as unknown[]).filter((f): f is string => typeof f === 'string');
    if (files.length !== (args.files as unknown[]).length) return { text: 'files must be a list of absolute file paths', isError: true };
    if (typeof args.message !== 'string' || args.message.trim() === '') return { text: 'message is required', isError: true };
    try {
      const sent = await sendFilesToUser(
        { platformUrl: this.opts.platformUrl, workspaceId: this.opts.workspaceId, token: () => this.opts.token.current(), ...(signal ? { signal } : {}) },
        args.message,
        files,
      );
      return { text: `Message sent with ${sent.length} file(s): ${sent.map((f) => f.name).join(', ')}.`, isError: false };
    } catch (err) {
      if (err instanceof ChatFilesError) {
        this.opts.log.warn({ reason: err.message }, 'send_message_to_user: files not sent; the message was not shown');
        return { text: `${err.message}; the message was not sent`, isError: true };
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = await this.connection?.catch(() => undefined);
    this.connection = undefined;
    await client?.close();
  }

  private connect(signal?: AbortSignal): Promise<Client> {
    if (this.closed) return Promise.reject(new PlatformToolsError('the agent is shutting down'));
    this.connection ??= this.open().catch((err: unknown) => {
      // Forget a failed connect so the next use tries again (the platform may be back by then).
      this.connection = undefined;
      throw err;
    });
    return raceAbort(this.connection, signal);
  }

  private async open(): Promise<Client> {
    const client = new Client({ name: this.opts.clientName ?? 'molecule-agent', version: '0.1.0' });
    const transport = new StreamableHTTPClientTransport(new URL(this.url), { fetch: this.fetch });
    try {
      await this.guard('connect', () => client.connect(transport, { timeout: this.listTimeoutMs }));
    } catch (err) {
      // Even an answer (a JSON-RPC error to initialize) means there are no tools to use.
      if (isAnswer(err)) throw new PlatformToolsError(`the platform tools are unavailable (connect: ${err.message.slice(0, 200)})`);
      throw err;
    }
    client.onerror = (err) => this.opts.log.debug({ err }, 'platform tools transport error');
    this.opts.log.debug({ url: this.url }, 'connected to the platform tools');
    return client;
  }

  /** Adds the workspace bearer; bounds each request; after a 401/403 retries once if the token file changed. */
  private readonly fetch = async (url: string | URL, init?: RequestInit): Promise<Response> => {
    const send = (token: string) => {
      const headers = new Headers(init?.headers);
      for (const [k, v] of Object.entries(this.opts.headers ?? {})) headers.set(k, v);
      headers.set('authorization', `Bearer ${token}`);
      const timeout = AbortSignal.timeout(this.callTimeoutMs + 5_000);
      return fetch(url, { ...init, headers, signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
    };
    const sent = this.opts.token.current();
    const res = await send(sent);
    if (res.status !== 401 && res.status !== 403) return res;
    // Another call may already have picked up the new token: compare with what this one sent.
    await this.opts.token.reload();
    const fresh = this.opts.token.current();
    if (fresh === sent) return res;
    await res.body?.cancel();
    this.opts.log.info('retrying a platform tool request with the re-issued workspace token');
    return send(fresh);
  };

  /** Turns transport failures into a PlatformToolsError with a readable reason; aborts pass through. */
  private async guard<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await raceAbort(fn(), signal);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (isAnswer(err)) throw err;
      const reason = describe(err);
      this.opts.log.warn({ err, tool: what, url: this.url }, 'platform tools unreachable');
      throw new PlatformToolsError(`the platform tools are unavailable (${what}: ${reason})`);
    }
  }
}

/** The platform answered with a JSON-RPC error (an unknown tool...): the tool's refusal, not an outage. */
function isAnswer(err: unknown): err is McpError {
  return err instanceof McpError && !OUTAGE_CODES.has(err.code);
}

/** `p`, or the signal's reason as soon as it aborts; the listener goes away once either happens. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A short reason for an operator and a model: never a stack, never the token. */
function describe(err: unknown): string {
  if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) return 'no answer in time';
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  if (typeof e.code === 'number' && e.code >= 400 && e.code < 600) {
    return e.code === 401 || e.code === 403 ? `HTTP ${e.code}: the platform refused this workspace's token` : `HTTP ${e.code}`;
  }
  if (typeof e.cause?.code === 'string') return e.cause.code;
  if (e instanceof DOMException && e.name === 'TimeoutError') return 'no answer in time';
  return typeof e.message === 'string' ? e.message.slice(0, 200) : 'unknown error';
}
