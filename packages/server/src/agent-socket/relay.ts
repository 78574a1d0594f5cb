import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { isRecord, parseJson } from '@molecule/contracts';
import { AgentSocketLostError, type AgentSockets, type SocketExchange } from './registry.js';

export const AGENT_SOCKET_NAMESPACE = 'molecule:agent-socket';
/** How long a holder's claim on a workspace's socket lives without being refreshed (a replica that died stops holding it). */
export const HOLDER_TTL_MS = 15_000;

/**
 * Messages between replicas on a replica's own channel (`<namespace>:replica:<id>`), JSON each:
 * - `req` a request for the agent socket this replica holds, from replica `from`;
 * - `res` its answer (`lost`: the socket was gone or closed before the answer);
 * - `cancel` the sender gave up on its request (idle timeout, ceiling);
 * - `replace` a newer socket of the workspace opened on another replica: close socket `socket`.
 */
type RelayMessage =
  | { t: 'req'; id: string; from: string; ws: string; caller_id: string | null; request: unknown }
  | { t: 'res'; id: string; status: number; body: unknown }
  | { t: 'res'; id: string; lost: true }
  | { t: 'cancel'; id: string }
  | { t: 'replace'; ws: string; socket: string };

function asRelayMessage(v: unknown): RelayMessage | undefined {
  if (!isRecord(v) || typeof v.t !== 'string') return undefined;
  const str = (x: unknown) => typeof x === 'string' && x.length > 0 && x.length <= 100;
  switch (v.t) {
    case 'req':
      return str(v.id) && str(v.from) && str(v.ws) && (v.caller_id === null || str(v.caller_id)) ? (v as RelayMessage) : undefined;
    case 'res':
      return str(v.id) && (v.lost === true || (typeof v.status === 'number' && Number.isInteger(v.status))) ? (v as RelayMessage) : undefined;
    case 'cancel':
      return str(v.id) ? (v as RelayMessage) : undefined;
    case 'replace':
      return str(v.ws) && str(v.socket) ? (v as RelayMessage) : undefined;
    default:
      return undefined;
  }
}

// The holder key of a workspace names `<replica>/<socket>`.
/** KEYS: holder key. ARGV: value, ttl ms. Takes the key; returns what it named before (false: nobody). */
const CLAIM = `local prev = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return prev`;
/** KEYS: holder key. ARGV: value, ttl ms. Keeps the claim alive (or takes it back if it expired); 0 when another holder has it. */
const REFRESH = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2])) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2])) return 1 end
return 0`;
/** KEYS: holder key. ARGV: value. Drops the claim only if it is still this one. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** KEYS: holder key. ARGV: `<replica>/`. Drops a claim of a replica that is gone, whichever socket it names. */
const DROP_REPLICA = `local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

interface RelayCommands {
  socketDropReplica(key: string, prefix: string): Promise<number>;
  socketClaim(key: string, value: string, ttl: number): Promise<string | null>;
  socketRefresh(key: string, value: string, ttl: number): Promise<number>;
  socketRelease(key: string, value: string): Promise<number>;
}

export interface SocketRelayOptions {
  url: string;
  /** Key and channel prefix; replicas that share one must share this. Tests use a fresh one each. */
  namespace?: string;
  holderTtlMs?: number;
  /** How often a replica waiting on a forwarded request checks that the holder is still connected to Redis. */
  watchMs?: number;
  onError?: (err: unknown, detail?: Record<string, unknown>) => void;
}

/**
 * The agent sockets of every replica (#15), over Redis: the replica holding a workspace's socket
 * advertises it in a key (`<namespace>:holder:<workspace>`, TTL refreshed while the socket lives,
 * dropped when it closes), and answers requests for it that other replicas publish on its channel.
 * Newest wins across replicas as on one: a socket claimed on one replica closes the one another
 * replica held with code 4000. Only the transport crosses replicas: the replica that received the
 * call runs the proxy's rules (idle timeout, busy, queue, spend, activity).
 */
export class SocketRelay {
  readonly replicaId = randomUUID();
  readonly #cmd: Redis & RelayCommands;
  readonly #sub: Redis;
  readonly #ns: string;
  readonly #ttl: number;
  readonly #onError: (err: unknown, detail?: Record<string, unknown>) => void;
  /** Forwarded requests waiting for an answer, by id, with the replica they went to. */
  readonly #waiting = new Map<string, { holder: string; resolve(r: SocketExchange): void; reject(err: unknown): void }>();
  /** Requests from other replicas running on this replica's sockets, by id. */
  readonly #serving = new Map<string, AbortController>();
  /** The sockets this replica holds: workspace -> holder value. */
  readonly #held = new Map<string, string>();
  readonly #timers: NodeJS.Timeout[] = [];
  #local: AgentSockets | undefined;
  #closed = false;

  private constructor(cmd: Redis, sub: Redis, opts: SocketRelayOptions) {
    this.#cmd = cmd as Redis & RelayCommands;
    this.#sub = sub;
    this.#ns = opts.namespace ?? AGENT_SOCKET_NAMESPACE;
    this.#ttl = opts.holderTtlMs ?? HOLDER_TTL_MS;
    this.#onError = opts.onError ?? (() => undefined);
    const refresh = setInterval(() => this.#refreshAll(), Math.max(50, Math.floor(this.#ttl / 3)));
    const watch = setInterval(() => this.#watchHolders(), opts.watchMs ?? 2_000);
    refresh.unref();
    watch.unref();
    this.#timers.push(refresh, watch);
  }

  /** Connects to Redis and listens on this replica's channel. */
  static async connect(opts: SocketRelayOptions): Promise<SocketRelay> {
    // No offline queue: while Redis is down a forward fails at once (the request is then treated as a lost socket).
    const cmd = new Redis(opts.url, { lazyConnect: true, maxRetriesPerRequest: 3, enableAutoPipelining: true, enableOfflineQueue: false });
    const sub = new Redis(opts.url, { lazyConnect: true });
    cmd.defineCommand('socketClaim', { numberOfKeys: 1, lua: CLAIM });
    cmd.defineCommand('socketRefresh', { numberOfKeys: 1, lua: REFRESH });
    cmd.defineCommand('socketRelease', { numberOfKeys: 1, lua: RELEASE });
    cmd.defineCommand('socketDropReplica', { numberOfKeys: 1, lua: DROP_REPLICA });
    const relay = new SocketRelay(cmd, sub, opts);
    cmd.on('error', (err) => relay.#onError(err));
    sub.on('error', (err) => relay.#onError(err));
    await cmd.connect();
    await sub.connect();
    sub.on('message', (_ch: string, message: string) => relay.#receive(message));
    await sub.subscribe(relay.#channel(relay.replicaId));
    return relay;
  }

  /** The local sockets requests from other replicas are served on (set once, when the A2A services are built). */
  bind(local: AgentSockets): void {
    this.#local = local;
  }

  #channel(replica: string): string {
    return `${this.#ns}:replica:${replica}`;
  }

  #key(workspaceId: string): string {
    return `${this.#ns}:holder:${workspaceId}`;
  }

  async #publish(replica: string, m: RelayMessage): Promise<number> {
    return this.#cmd.publish(this.#channel(replica), JSON.stringify(m));
  }

  /** A socket of `workspaceId` attached here: this replica holds it now; a holder elsewhere is told to close its own. */
  async claim(workspaceId: string, socketId: string): Promise<void> {
    const value = `${this.replicaId}/${socketId}`;
    this.#held.set(workspaceId, value);
    const prev = await this.#cmd.socketClaim(this.#key(workspaceId), value, this.#ttl);
    if (!prev) return;
    const [replica, socket] = prev.split('/');
    if (replica && socket && replica !== this.replicaId) await this.#publish(replica, { t: 'replace', ws: workspaceId, socket });
  }

  /** The socket `socketId` of `workspaceId` closed here: the claim is dropped if it is still this socket's. */
  async release(workspaceId: string, socketId: string): Promise<void> {
    const value = `${this.replicaId}/${socketId}`;
    if (this.#held.get(workspaceId) === value) this.#held.delete(workspaceId);
    await this.#cmd.socketRelease(this.#key(workspaceId), value);
  }

  /** The replica holding `workspaceId`'s socket, other than this one, and that socket's id; undefined when none does. */
  async holder(workspaceId: string): Promise<{ replica: string; socket: string } | undefined> {
    const v = await this.#cmd.get(this.#key(workspaceId));
    const [replica, socket] = v?.split('/') ?? [];
    return replica && socket && replica !== this.replicaId ? { replica, socket } : undefined;
  }

  /**
   * Sends `request` to the agent socket `holder` holds for `workspaceId` and resolves with the
   * agent's answer. Rejects with AgentSocketLostError when the holder has no socket for it, the
   * socket closes first, or the holder is gone (nobody listens on its channel); with the signal's
   * reason when `signal` aborts (the holder is told to cancel).
   */
  async forward(holder: string, workspaceId: string, request: unknown, signal: AbortSignal, callerId: string | null): Promise<SocketExchange> {
    signal.throwIfAborted();
    const id = randomUUID();
    return new Promise<SocketExchange>((resolve, reject) => {
      const settle = () => {
        this.#waiting.delete(id);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        if (!this.#waiting.has(id)) return;
        settle();
        this.#publish(holder, { t: 'cancel', id }).catch((err: unknown) => this.#onError(err, { workspace_id: workspaceId }));
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.set(id, {
        holder,
        resolve: (r) => {
          settle();
          resolve(r);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      });
      this.#publish(holder, { t: 'req', id, from: this.replicaId, ws: workspaceId, caller_id: callerId, request }).then(
        (listeners) => {
          if (listeners > 0) return;
          // Nobody listens on the holder's channel: that replica is gone (killed, or cut from
          // Redis), and its socket with it. Its claim goes too, so the next message takes the
          // workspace's usual path instead of waiting for the claim's TTL.
          this.#waiting.get(id)?.reject(new AgentSocketLostError());
          this.#cmd.socketDropReplica(this.#key(workspaceId), `${holder}/`).catch((err: unknown) => this.#onError(err, { workspace_id: workspaceId }));
        },
        (err: unknown) => {
          this.#onError(err, { workspace_id: workspaceId });
          this.#waiting.get(id)?.reject(new AgentSocketLostError());
        },
      );
    });
  }

  #receive(message: string): void {
    const m = asRelayMessage(parseJson(Buffer.from(message)));
    if (!m) {
      this.#onError(new Error('a malformed message on the agent socket relay channel was ignored'));
      return;
    }
    switch (m.t) {
      case 'res': {
        const w = this.#waiting.get(m.id);
        if (!w) return;
        if ('lost' in m) w.reject(new AgentSocketLostError());
        else w.resolve({ status: m.status, body: m.body });
        return;
      }
      case 'cancel':
        this.#serving.get(m.id)?.abort(new Error('the replica that sent the request gave up on it'));
        return;
      case 'replace':
        this.#local?.replace(m.ws, m.socket);
        return;
      case 'req':
        this.#serve(m);
        return;
    }
  }

  /** Runs another replica's request on the socket held here and publishes the answer back. */
  #serve(m: Extract<RelayMessage, { t: 'req' }>): void {
    const ctl = new AbortController();
    this.#serving.set(m.id, ctl);
    const local = this.#local;
    const exchange = local ? local.exchange(m.ws, m.request, ctl.signal, m.caller_id) : Promise.reject(new AgentSocketLostError());
    exchange
      .then(
        (answer): RelayMessage => ({ t: 'res', id: m.id, status: answer.status, body: answer.body }),
        (err: unknown): RelayMessage | undefined => {
          // Cancelled by the sender: it answers its caller itself.
          if (ctl.signal.aborted) return undefined;
          if (!(err instanceof AgentSocketLostError)) this.#onError(err, { workspace_id: m.ws });
          return { t: 'res', id: m.id, lost: true };
        },
      )
      .then((reply) => (reply ? this.#publish(m.from, reply) : 0))
      .catch((err: unknown) => this.#onError(err, { workspace_id: m.ws }))
      .finally(() => this.#serving.delete(m.id));
  }

  /** Keeps this replica's claims alive; a claim another replica took meanwhile closes the socket here (newest wins). */
  #refreshAll(): void {
    for (const [workspaceId, value] of this.#held) {
      this.#cmd.socketRefresh(this.#key(workspaceId), value, this.#ttl).then(
        (kept) => {
          if (kept === 1 || this.#held.get(workspaceId) !== value) return;
          this.#held.delete(workspaceId);
          this.#local?.replace(workspaceId, value.slice(this.replicaId.length + 1));
        },
        (err: unknown) => this.#onError(err, { workspace_id: workspaceId }),
      );
    }
  }

  /** Fails the forwarded requests of a holder that no longer listens on its channel (it stopped or lost Redis). */
  #watchHolders(): void {
    const holders = new Set([...this.#waiting.values()].map((w) => w.holder));
    for (const holder of holders) {
      (this.#cmd.pubsub('NUMSUB', this.#channel(holder)) as Promise<(string | number)[]>).then(
        (reply) => {
          if (Number(reply[1]) > 0) return;
          for (const w of [...this.#waiting.values()]) if (w.holder === holder) w.reject(new AgentSocketLostError());
        },
        (err: unknown) => this.#onError(err),
      );
    }
  }

  /** Stops listening and drops this replica's claims; requests waiting on other replicas fail as lost. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    for (const w of [...this.#waiting.values()]) w.reject(new AgentSocketLostError());
    for (const ctl of this.#serving.values()) ctl.abort(new Error('platform shutting down'));
    await Promise.allSettled([...this.#held].map(([ws, value]) => this.#cmd.socketRelease(this.#key(ws), value)));
    this.#held.clear();
    this.#sub.disconnect();
    await this.#cmd.quit().catch(() => this.#cmd.disconnect());
  }
}
