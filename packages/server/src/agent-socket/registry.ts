import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { isRecord, parseJson } from '@molecule/contracts';
import type WebSocket from 'ws';

/**
 * The frames of the outbound agent connection (`GET /workspaces/:id/agent-socket`), JSON text each:
 * - platform -> agent `{"type":"a2a_request","id":"<correlation id>","caller_id":<sending workspace or null>,"request":{<JSON-RPC request>}}`;
 * - agent -> platform `{"type":"a2a_response","id":"<the same id>","status":200,"body":{<JSON-RPC answer>}}`
 *   (`status` defaults to 200; any other frame, or an id nobody waits for, is ignored and logged);
 * - platform -> agent `{"type":"a2a_cancel","id":"<id of a request in flight>"}`: the platform gave
 *   up on that request (its idle timeout or ceiling passed): the agent should stop the work; an
 *   answer it still sends is ignored.
 * Liveness is the WebSocket's own ping/pong. Streaming is not carried: a stream request goes over
 * the socket as a plain send and its answer is handed back as one SSE event (see `AgentSockets.post`).
 */
/** An answer as the proxy reads it: the same shape as the HTTP dispatcher's (a2a/dispatch.ts DispatchResponse). */
export interface SocketAnswer {
  status: number;
  contentType: string;
  retryAfter: string | undefined;
  body: Readable;
}

export type AgentSocketFrame =
  | { type: 'a2a_request'; id: string; caller_id: string | null; request: unknown }
  | { type: 'a2a_response'; id: string; status?: number; body: unknown }
  | { type: 'a2a_cancel'; id: string };

/** An agent's answer as its frame carried it. */
export interface SocketExchange {
  status: number;
  body: unknown;
}

/** Close code and reason the older socket gets when the agent connects again (the newer one wins). */
export const AGENT_SOCKET_REPLACED = { code: 4000, reason: 'replaced by a newer connection' } as const;
/** Close code and reason when the platform shuts down. */
export const AGENT_SOCKET_SHUTDOWN = { code: 1001, reason: 'platform shutting down' } as const;

/** The agent's socket closed while a request was in flight: it may or may not have started the work. */
export class AgentSocketLostError extends Error {
  override readonly name = 'AgentSocketLostError';
  constructor() {
    super('the agent socket closed before the answer');
  }
}

/** Reads one agent -> platform frame; undefined when it is not a well-formed `a2a_response`. */
export function parseAgentFrame(data: string): { id: string; status: number; body: unknown } | undefined {
  const v = parseJson(Buffer.from(data));
  if (!isRecord(v) || v.type !== 'a2a_response' || typeof v.id !== 'string' || v.id.length === 0 || v.id.length > 100) return undefined;
  const status = v.status === undefined ? 200 : v.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return undefined;
  return { id: v.id, status, body: v.body ?? null };
}

interface Pending {
  resolve(r: { status: number; body: unknown }): void;
  reject(err: unknown): void;
}

interface Live {
  /** This connection's id: replicas name the socket they replace by it. */
  id: string;
  socket: WebSocket;
  pending: Map<string, Pending>;
}

/** What the registry reports to its owner: a socket attached (queued messages may go now) or went away. */
export interface AgentSocketHooks {
  attached?(workspaceId: string, socketId: string): void;
  detached?(workspaceId: string, socketId: string): void;
  warn?(detail: Record<string, unknown>, msg: string): void;
}

/**
 * The live outbound agent connections this platform process holds, one per workspace: a second
 * connection wins and the older one is closed with AGENT_SOCKET_REPLACED. Requests in flight on a
 * socket that closes reject with AgentSocketLostError (the proxy queues them as busy).
 */
export class AgentSockets {
  readonly #live = new Map<string, Live>();

  constructor(private readonly hooks: AgentSocketHooks = {}) {}

  /** Whether `workspaceId` has a live socket on this process. */
  has(workspaceId: string): boolean {
    return this.#live.has(workspaceId);
  }

  get size(): number {
    return this.#live.size;
  }

  /** The id of `workspaceId`'s live socket on this process, if any. */
  socketId(workspaceId: string): string | undefined {
    return this.#live.get(workspaceId)?.id;
  }

  /**
   * Takes `socket` as the agent's connection; an older one is closed with AGENT_SOCKET_REPLACED
   * (its requests fail as lost). Returns the connection's id.
   */
  attach(workspaceId: string, socket: WebSocket): string {
    const older = this.#live.get(workspaceId);
    const live: Live = { id: randomUUID(), socket, pending: new Map() };
    this.#live.set(workspaceId, live);
    if (older) {
      this.#fail(older);
      older.socket.close(AGENT_SOCKET_REPLACED.code, AGENT_SOCKET_REPLACED.reason);
    }
    socket.on('message', (data, isBinary) => {
      const frame = isBinary ? undefined : parseAgentFrame(String(data));
      const waiter = frame && live.pending.get(frame.id);
      if (!frame || !waiter) {
        this.hooks.warn?.({ workspace_id: workspaceId }, 'agent socket: a frame that answers nothing was ignored');
        return;
      }
      live.pending.delete(frame.id);
      waiter.resolve(frame);
    });
    socket.once('close', () => {
      this.#fail(live);
      if (this.#live.get(workspaceId) === live) {
        this.#live.delete(workspaceId);
        this.hooks.detached?.(workspaceId, live.id);
      }
    });
    this.hooks.attached?.(workspaceId, live.id);
    return live.id;
  }

  /**
   * A newer connection of the agent opened on another replica: the socket `socketId` (if it is
   * still `workspaceId`'s here) is closed with AGENT_SOCKET_REPLACED and its requests fail as lost.
   */
  replace(workspaceId: string, socketId: string): void {
    const live = this.#live.get(workspaceId);
    if (!live || live.id !== socketId) return;
    this.#live.delete(workspaceId);
    this.#fail(live);
    live.socket.close(AGENT_SOCKET_REPLACED.code, AGENT_SOCKET_REPLACED.reason);
    this.hooks.detached?.(workspaceId, live.id);
  }

  #fail(live: Live): void {
    const waiting = [...live.pending.values()];
    live.pending.clear();
    for (const p of waiting) p.reject(new AgentSocketLostError());
  }

  /**
   * Sends one JSON-RPC request to the agent over its socket and resolves with its answer shaped as
   * the HTTP dispatcher's (so the proxy's busy, error and spend rules apply unchanged). `callerId`:
   * the sending workspace (null for a user), passed to the agent. `stream`:
   * the caller asked for a stream; the answer comes back as a single SSE `data:` event. Rejects with
   * AgentSocketLostError when there is no socket or it closes first, with the signal's reason when aborted.
   */
  async post(workspaceId: string, request: unknown, signal: AbortSignal, opts: { stream?: boolean; callerId?: string | null } = {}): Promise<SocketAnswer> {
    return socketAnswer(await this.exchange(workspaceId, request, signal, opts.callerId ?? null), opts.stream === true);
  }

  /**
   * The transport of `post`: one `a2a_request` frame out, the agent's `a2a_response` back as it
   * came. When `signal` aborts first the agent is sent `a2a_cancel` for the request and the promise
   * rejects with the signal's reason; AgentSocketLostError when there is no socket or it closes first.
   */
  async exchange(workspaceId: string, request: unknown, signal: AbortSignal, callerId: string | null): Promise<SocketExchange> {
    const live = this.#live.get(workspaceId);
    if (!live) throw new AgentSocketLostError();
    signal.throwIfAborted();
    const id = randomUUID();
    return new Promise<SocketExchange>((resolve, reject) => {
      const onAbort = () => {
        if (!live.pending.delete(id)) return;
        // The work may be under way: the agent is told to stop it (best effort; a closed socket drops it).
        const cancel: AgentSocketFrame = { type: 'a2a_cancel', id };
        if (live.socket.readyState === live.socket.OPEN) live.socket.send(JSON.stringify(cancel), () => undefined);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      live.pending.set(id, {
        resolve: (r) => {
          signal.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      });
      const frame: AgentSocketFrame = { type: 'a2a_request', id, caller_id: callerId, request };
      live.socket.send(JSON.stringify(frame), (err) => {
        if (err && live.pending.delete(id)) {
          signal.removeEventListener('abort', onAbort);
          reject(new AgentSocketLostError());
        }
      });
    });
  }

  /** Closes every socket (shutdown); their in-flight requests fail as lost. */
  close(): void {
    for (const live of this.#live.values()) {
      this.#fail(live);
      live.socket.close(AGENT_SOCKET_SHUTDOWN.code, AGENT_SOCKET_SHUTDOWN.reason);
    }
    this.#live.clear();
  }
}

/** An agent's answer shaped as the HTTP dispatcher's: JSON, or (a stream request answered 2xx) one SSE `data:` event. */
export function socketAnswer(answer: SocketExchange, stream: boolean): SocketAnswer {
  const json = JSON.stringify(answer.body);
  if (stream && answer.status >= 200 && answer.status < 300) {
    return { status: answer.status, contentType: 'text/event-stream', retryAfter: undefined, body: Readable.from([Buffer.from(`data: ${json}\n\n`)]) };
  }
  return { status: answer.status, contentType: 'application/json', retryAfter: undefined, body: Readable.from([Buffer.from(json)]) };
}
