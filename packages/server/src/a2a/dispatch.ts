import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { Agent, errors as undiciErrors, request } from 'undici';
import WebSocket from 'ws';
import { readCapped } from '../net/read-capped.js';
import { checkAgentUrl, classifyAddress, type AgentUrlPolicy } from '../ssrf/agent-url.js';
import { AgentSocketLostError } from '../agent-socket/registry.js';

/** Transport limits of the outbound A2A client (C049). There is no overall timeout: long work is bounded by the idle timer. */
export const CONNECT_TIMEOUT_MS = 10_000;
export const HEADERS_TIMEOUT_MS = 60_000;
/** Largest agent answer the proxy reads (streams are passed through unbuffered). */
export const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/** The agent URL is not one the platform may dial (C050); nothing was sent. */
export class UnsafeAgentUrlError extends Error {
  override readonly name = 'UnsafeAgentUrlError';
  constructor(readonly detail: string) {
    super('agent URL is not allowed');
  }
}

/** No event from the target for the idle window (C041): the request was cancelled. */
export class IdleTimeoutError extends Error {
  override readonly name = 'IdleTimeoutError';
  constructor(readonly seconds: number) {
    super(`no activity from the agent for ${seconds} s`);
  }
}

/** The absolute ceiling of an agent-to-agent dispatch passed (C042). */
export class CeilingTimeoutError extends Error {
  override readonly name = 'CeilingTimeoutError';
  constructor(readonly seconds: number) {
    super(`agent-to-agent request exceeded ${seconds} s`);
  }
}

/** The agent's answer is larger than MAX_RESPONSE_BYTES. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
  constructor() {
    super(`agent response larger than ${MAX_RESPONSE_BYTES} bytes`);
  }
}

/**
 * Why a dispatch failed, decided from error types and codes only, never from message text (C043).
 * - `idle_timeout` / `ceiling`: our own timers cancelled it; the agent may have started the work;
 * - `unreachable`: no connection was made (refused, no route, connect timeout): nothing was sent;
 * - `headers_timeout`: connected and sent, but no answer headers within HEADERS_TIMEOUT_MS;
 * - `connection_lost`: the connection broke after the request went out (reset, EOF);
 * - `socket_lost`: the agent's outbound socket closed with the request in flight;
 * - `unsafe_url`, `too_large`, `other`.
 */
export type DispatchFailure = 'idle_timeout' | 'ceiling' | 'unreachable' | 'headers_timeout' | 'connection_lost' | 'socket_lost' | 'unsafe_url' | 'too_large' | 'other';

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);
const LOST_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

export function classifyDispatchError(err: unknown): DispatchFailure {
  // Walk the cause chain: undici and our timers wrap the error that decides.
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof IdleTimeoutError) return 'idle_timeout';
    if (e instanceof CeilingTimeoutError) return 'ceiling';
    if (e instanceof UnsafeAgentUrlError) return 'unsafe_url';
    if (e instanceof AgentSocketLostError) return 'socket_lost';
    if (e instanceof ResponseTooLargeError) return 'too_large';
    if (e instanceof undiciErrors.HeadersTimeoutError) return 'headers_timeout';
    if (e instanceof undiciErrors.ConnectTimeoutError) return 'unreachable';
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (UNREACHABLE_CODES.has(code)) return 'unreachable';
      if (LOST_CODES.has(code)) return 'connection_lost';
    }
  }
  return 'other';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A DNS lookup for the socket layer that applies the agent-URL policy to every address it hands
 * out, so the address dialled is the address checked: a DNS answer that changes between the check
 * and the connect (rebinding) cannot reach a blocked range.
 */
export function guardedLookup(policyOf: () => AgentUrlPolicy) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    const policy = policyOf();
    policy.resolve(hostname).then(
      (addresses) => {
        const allowed = addresses.filter((a) => {
          const cls = classifyAddress(a);
          return cls === 'public' || (cls === 'private' && policy.allowPrivate);
        });
        if (allowed.length === 0 || allowed.length !== addresses.length) {
          const err: NodeJS.ErrnoException = new UnsafeAgentUrlError(`${hostname} resolves to a disallowed address`);
          err.code = 'EMOLECULEUNSAFE';
          return callback(err, []);
        }
        const list = allowed.map((address) => ({ address, family: isIP(address) }));
        if (options.all) return callback(null, list);
        const first = list.find((a) => !options.family || a.family === options.family) ?? list[0]!;
        return callback(null, first.address, first.family);
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), []),
    );
  };
}

export interface DispatchResponse {
  status: number;
  contentType: string;
  retryAfter: string | undefined;
  body: Readable;
}

/** An agent's answer to a forwarded request: status, headers (lower-case names) and the unread body. */
export interface ForwardResponse {
  status: number;
  headers: Record<string, string>;
  body: Readable;
}

/**
 * The outbound A2A client: one keep-alive pool per agent origin, connect 10 s, answer headers
 * 60 s, no overall or body timeout (C049). Every connection's address is checked (C050).
 */
export class A2ADispatcher {
  readonly #agent: Agent;

  /** `policy` is read per request, so a changed policy (tests) applies at once. */
  constructor(private readonly policy: () => AgentUrlPolicy) {
    this.#agent = new Agent({
      connect: { timeout: CONNECT_TIMEOUT_MS, lookup: guardedLookup(policy) },
      headersTimeout: HEADERS_TIMEOUT_MS,
      bodyTimeout: 0,
      keepAliveTimeout: 30_000,
      connections: 64,
    });
  }

  /**
   * POSTs `body` to the agent URL exactly as stored. Re-checks the URL first (C050): an unsafe URL
   * throws UnsafeAgentUrlError and nothing is sent. Rejects with the signal's reason when aborted.
   */
  async post(rawUrl: string, body: string, signal: AbortSignal, accept = 'application/json'): Promise<DispatchResponse> {
    const check = await checkAgentUrl(rawUrl, this.policy());
    if (!check.ok) throw new UnsafeAgentUrlError(`${check.reason}: ${check.detail}`);
    const res = await request(check.url, {
      method: 'POST',
      dispatcher: this.#agent,
      headers: { 'content-type': 'application/json', accept },
      body,
      signal,
    });
    const header = (name: string) => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    return { status: res.statusCode, contentType: header('content-type') ?? '', retryAfter: header('retry-after'), body: res.body };
  }

  /**
   * Sends one plain HTTP request to `rawUrl` (an agent's internal endpoint: chat files) through the
   * same guarded pool: the URL is re-checked first (C050; UnsafeAgentUrlError, nothing sent) and
   * every connection's address is checked. `body` is streamed as it comes, never buffered; the
   * answer's body is handed back unread.
   */
  async forward(rawUrl: string, opts: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: Readable; signal?: AbortSignal }): Promise<ForwardResponse> {
    const check = await checkAgentUrl(rawUrl, this.policy());
    if (!check.ok) throw new UnsafeAgentUrlError(`${check.reason}: ${check.detail}`);
    const res = await request(check.url, { method: opts.method, dispatcher: this.#agent, headers: opts.headers, body: opts.body ?? null, ...(opts.signal ? { signal: opts.signal } : {}) });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    return { status: res.statusCode, headers, body: res.body };
  }

  /**
   * Opens a WebSocket to an agent's endpoint (`rawUrl` is http(s), as agent URLs are stored; it is
   * dialled as ws(s)) under the same rules as `forward`: the URL is re-checked first
   * (UnsafeAgentUrlError, nothing sent) and the connection's address by the guarded lookup.
   * Resolves with the open socket; an answer other than the upgrade rejects with
   * `WebSocketRefusedError` (its status and at most 512 bytes of its body); a transport error or
   * no upgrade within CONNECT_TIMEOUT_MS rejects with that error; `signal` aborts the attempt.
   */
  async websocket(rawUrl: string, opts: { headers: Record<string, string>; maxPayload: number; signal: AbortSignal }): Promise<WebSocket> {
    const check = await checkAgentUrl(rawUrl, this.policy());
    if (!check.ok) throw new UnsafeAgentUrlError(`${check.reason}: ${check.detail}`);
    opts.signal.throwIfAborted();
    const url = new URL(check.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url, { headers: opts.headers, maxPayload: opts.maxPayload, handshakeTimeout: CONNECT_TIMEOUT_MS, lookup: guardedLookup(this.policy), followRedirects: false });
    // An error always comes with a 'close' after it: that is what users of the socket watch.
    socket.on('error', () => undefined);
    return new Promise<WebSocket>((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        opts.signal.removeEventListener('abort', abort);
        socket.terminate();
        reject(err);
      };
      const abort = () => fail(opts.signal.reason);
      opts.signal.addEventListener('abort', abort, { once: true });
      socket.once('unexpected-response', (_req, res) => {
        readCapped(res, 512).then(
          ({ bytes }) => fail(new WebSocketRefusedError(res.statusCode ?? 0, bytes.toString('utf8'))),
          (err: unknown) => fail(err),
        );
      });
      socket.once('error', fail);
      socket.once('open', () => {
        if (settled) return;
        settled = true;
        opts.signal.removeEventListener('abort', abort);
        socket.removeListener('error', fail);
        resolve(socket);
      });
    });
  }

  close(): Promise<void> {
    return this.#agent.close();
  }

  /** Closes at once: requests still in flight fail (shutdown, after their grace). */
  destroy(): Promise<void> {
    return this.#agent.destroy();
  }
}

/** An agent answered a WebSocket upgrade with a plain HTTP answer (a refusal: 401, 400, 503...). */
export class WebSocketRefusedError extends Error {
  override readonly name = 'WebSocketRefusedError';
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`the agent answered the upgrade with HTTP ${status}`);
  }
}

/** Reads a whole answer, refusing more than `max` bytes (the stream is destroyed): ResponseTooLargeError. */
export async function readAnswer(body: Readable, max = MAX_RESPONSE_BYTES): Promise<Buffer> {
  const { bytes, truncated } = await readCapped(body, max);
  if (truncated) throw new ResponseTooLargeError();
  return bytes;
}
