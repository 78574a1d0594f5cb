import WebSocket from 'ws';
import type { Logger } from './log.js';

/**
 * One A2A request the platform pushed; answer with the agent's JSON-RPC answer (and its HTTP-like
 * status). `signal` aborts when the platform gives up on the request (an `a2a_cancel` frame: its
 * idle timeout or ceiling passed): stop the work; the answer is then not sent.
 */
export type AgentSocketHandler = (request: unknown, meta: { callerId: string | null; signal: AbortSignal }) => Promise<{ status: number; body: unknown }>;

export interface AgentSocketClientOptions {
  platformUrl: string;
  workspaceId: string;
  /** Read at every (re)connect, so a refreshed token is used. */
  token: () => string;
  handle: AgentSocketHandler;
  log: Logger;
  /** Reconnect backoff: doubling from `initialMs` up to `maxMs`, each wait drawn at random from its upper half (jitter). */
  backoff?: { initialMs: number; maxMs: number };
  /** How often the client pings; a socket that missed the previous pong is cut and reconnected. */
  pingMs?: number;
  /** Largest frame accepted from the platform. */
  maxPayload?: number;
  /** The platform refused the connection for good (401/403/404/409/410): the client stops. */
  onRefused?: (status: number) => void;
  onOpen?: () => void;
}

/** Refusals that no retry will change: the client stops and reports them. */
const FINAL_STATUSES = new Set([401, 403, 404, 409, 410]);

/** The wait before reconnect attempt `n` (0-based): exponential, capped, with jitter in its upper half. */
export function backoffDelay(n: number, b: { initialMs: number; maxMs: number }, random: () => number = Math.random): number {
  const ceiling = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(n, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The agent-socket URL for a platform URL (http -> ws, https -> wss). */
export function agentSocketUrl(platformUrl: string, workspaceId: string): string {
  const u = new URL(`/workspaces/${encodeURIComponent(workspaceId)}/agent-socket`, platformUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

/**
 * The agent half of the outbound connection (#15): connects to the platform's
 * `/workspaces/:id/agent-socket` with the workspace token, answers every `a2a_request` frame through
 * `handle`, pings, and reconnects with exponential backoff and jitter whenever the connection drops
 * (a final refusal, 401/403/404/409/410, stops it). Requests run concurrently; an answer whose socket
 * closed meanwhile is dropped (the platform queued the request and delivers it again); an
 * `a2a_cancel` frame aborts its request's handler signal.
 */
export class AgentSocketClient {
  #socket: WebSocket | undefined;
  #attempt = 0;
  #stopped = false;
  #retry: NodeJS.Timeout | undefined;
  #connectedOnce: ((ok: boolean) => void)[] = [];

  constructor(private readonly opts: AgentSocketClientOptions) {}

  /** Whether a socket is open now. */
  get connected(): boolean {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.#connect();
  }

  /** Resolves true once a socket is open (false when the client stopped first). */
  opened(): Promise<boolean> {
    if (this.connected) return Promise.resolve(true);
    if (this.#stopped) return Promise.resolve(false);
    return new Promise((resolve) => this.#connectedOnce.push(resolve));
  }

  #settle(ok: boolean): void {
    const waiting = this.#connectedOnce;
    this.#connectedOnce = [];
    for (const w of waiting) w(ok);
  }

  #connect(): void {
    if (this.#stopped) return;
    const { opts } = this;
    const url = agentSocketUrl(opts.platformUrl, opts.workspaceId);
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${opts.token()}`, origin: new URL(opts.platformUrl).origin }, maxPayload: opts.maxPayload ?? 16 * 1024 * 1024, followRedirects: false });
    this.#socket = socket;
    /** This socket's requests being handled, by frame id: an `a2a_cancel` aborts one. */
    const running = new Map<string, AbortController>();
    let alive = true;
    let ping: NodeJS.Timeout | undefined;
    socket.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      if (FINAL_STATUSES.has(status)) {
        opts.log.error({ status }, 'the platform refused the agent socket: not reconnecting');
        this.#stopped = true;
        this.#settle(false);
        opts.onRefused?.(status);
      } else {
        opts.log.warn({ status }, 'the platform refused the agent socket; retrying');
      }
      socket.terminate();
    });
    socket.on('error', (err) => opts.log.debug({ err }, 'agent socket error'));
    socket.on('open', () => {
      this.#attempt = 0;
      opts.log.info('agent socket connected: the platform pushes requests over it');
      ping = setInterval(() => {
        if (!alive) {
          opts.log.warn('agent socket missed a pong: reconnecting');
          socket.terminate();
          return;
        }
        alive = false;
        socket.ping();
      }, opts.pingMs ?? 20_000);
      ping.unref();
      opts.onOpen?.();
      this.#settle(true);
    });
    socket.on('pong', () => (alive = true));
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      let frame: unknown;
      try {
        frame = JSON.parse(String(data));
      } catch {
        opts.log.warn('agent socket: a frame that is not JSON was ignored');
        return;
      }
      const f = frame as { type?: unknown; id?: unknown; request?: unknown; caller_id?: unknown };
      if (typeof f.id !== 'string') return;
      const id = f.id;
      if (f.type === 'a2a_cancel') {
        const ctl = running.get(id);
        if (!ctl) return;
        running.delete(id);
        opts.log.info('agent socket: the platform gave up on a request; cancelling it');
        ctl.abort(new Error('the platform cancelled the request'));
        return;
      }
      if (f.type !== 'a2a_request') return;
      const ctl = new AbortController();
      running.set(id, ctl);
      opts.handle(f.request, { callerId: typeof f.caller_id === 'string' ? f.caller_id : null, signal: ctl.signal }).then(
        (answer) => {
          running.delete(id);
          // Nobody waits for the answer of a cancelled request, nor on a socket that closed.
          if (ctl.signal.aborted || socket.readyState !== WebSocket.OPEN) return;
          socket.send(JSON.stringify({ type: 'a2a_response', id, status: answer.status, body: answer.body }));
        },
        (err: unknown) => {
          running.delete(id);
          if (ctl.signal.aborted) return;
          opts.log.error({ err }, 'agent socket: the request could not be handled');
          if (socket.readyState !== WebSocket.OPEN) return;
          socket.send(JSON.stringify({ type: 'a2a_response', id, status: 500, body: { jsonrpc: '2.0', id: (f.request as { id?: unknown } | null)?.id ?? null, error: { code: -32603, message: 'internal error' } } }));
        },
      );
    });
    socket.on('close', (code, reason) => {
      clearInterval(ping);
      if (this.#socket === socket) this.#socket = undefined;
      if (this.#stopped) return;
      const wait = backoffDelay(this.#attempt++, opts.backoff ?? { initialMs: 500, maxMs: 30_000 });
      opts.log.info({ code, reason: reason.toString('utf8'), retry_in_ms: wait }, 'agent socket closed; reconnecting');
      this.#retry = setTimeout(() => this.#connect(), wait);
    });
  }

  /** Stops for good: no reconnect; the open socket is closed. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#settle(false);
    this.#socket?.close(1000, 'agent stopping');
    this.#socket = undefined;
  }
}
