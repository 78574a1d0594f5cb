import { Status, WORKSPACE_STATUSES, type PlatformEvent, type WorkspaceStatus } from '@molecule/contracts';
import { LRUCache } from 'lru-cache';
import { generateToken, hashTokenHex, LAST_USED_RESOLUTION_SECONDS, validateWorkspaceTokens } from '../auth/credentials.js';
import type { Queryable } from '../db/port.js';
import { VIEW_NEUTRAL_EVENTS } from '../workspaces/cache.js';
import { denied, platformUnavailable, unauthenticated } from '../errors.js';
import { applyHeartbeats, writeDeferredBeats, type HeartbeatOutcome, type HeartbeatWrite } from './repo.js';

/**
 * What follows a beat once it is in the database: the liveness refresh, its events, the queue's
 * free-slot hint (the registry service's). A beat written at once runs them before it is answered;
 * a deferred beat runs them after its tick's flush, so an event never announces an unwritten row.
 */
export type BeatEffects = (outcome: HeartbeatOutcome) => Promise<void>;

const noEffects: BeatEffects = async () => {};

/** The inbound secret a written beat mints when its workspace has none (C006); only the database path needs one. */
const mintInboundSecret = () => generateToken('inbound');

interface Pending {
  /** The caller's workspace token, checked with the beat; absent when the caller is already authenticated. */
  token: string | undefined;
  /** The token's id, once the database accepted it. */
  tokenId?: string;
  beat: HeartbeatWrite;
  effects: BeatEffects;
  resolve: (outcome: HeartbeatOutcome | undefined) => void;
  reject: (err: unknown) => void;
}

/** What this process knows of a workspace from its last written beat: enough to answer the next one. */
interface Known {
  status: WorkspaceStatus;
  currentTask: string;
  inboundSecret: string;
  maxTasks: number;
  /** Token hash (hex) -> the token's id and when this process last refreshed its last_used_at. */
  tokens: Map<string, { id: string; usedAt: number }>;
}

/** A workspace's beats answered from memory during the current tick. */
interface Deferred {
  /** The latest beat: the row gets its values. */
  beat: HeartbeatWrite;
  expected: WorkspaceStatus;
  /** Every beat's effects with the outcome it was answered with (one WORKSPACE_HEARTBEAT per beat, C003). */
  effects: { run: BeatEffects; outcome: HeartbeatOutcome }[];
}

/** Statuses a beat can leave unchanged while the agent answers: the ones the write-behind path serves. */
const SERVED: readonly WorkspaceStatus[] = [Status.Online, Status.Degraded];

/**
 * Events that change nothing the write-behind path keeps: those that never change a workspace row,
 * and heartbeats (their row changes are the beats themselves). TASK_UPDATED is checked against the
 * task kept instead.
 */
const NEUTRAL_EVENTS: ReadonlySet<PlatformEvent['type']> = new Set<PlatformEvent['type']>([...VIEW_NEUTRAL_EVENTS, 'WORKSPACE_HEARTBEAT']);

/** How long a known workspace may be served from memory without a database round trip (a backstop: invalidation is by event). */
export const KNOWN_TTL_MS = 5 * 60_000;
const MAX_KNOWN = 200_000;

export interface HeartbeatWriterOptions {
  /** Batches in flight at once; beats arriving while all are busy wait and go together. */
  maxInFlight?: number;
  /** Most beats in one batch. */
  maxBatch?: number;
  /** Called when the token check cannot reach the datastore (the beats then get 503). */
  onDatastoreError?: (err: unknown) => void;
  /**
   * The write-behind tick in ms. A beat for a workspace this process knows (from an earlier beat it
   * wrote), with a token it has seen, that changes no status, is answered from memory and written
   * with every other such beat of the tick in one statement. 0 writes every beat before answering.
   */
  flushMs?: number;
  /** Called when a flush, or a deferred beat's effects, fail. */
  onFlushError?: (err: unknown) => void;
  now?: () => number;
}

/**
 * The heartbeat's write path, the platform's hottest (a fleet of 100,000 agents beating every 20 s
 * is 5,000 beats/s). Two layers:
 *
 * **Group commit.** Beats are taken at the end of the event-loop turn that read them, so one
 * arriving alone is written at once, and while `maxInFlight` batches run, arriving beats queue and
 * the next free slot takes the whole queue: one statement checks every token (the shared predicate,
 * `validateWorkspaceTokens`) and one writes every beat (`applyHeartbeats`). Each beat keeps its own
 * token decision (401 unknown/revoked/removed, 403 another workspace's), row lock, evaluation and
 * event. Two beats for one workspace never share a batch (the later one waits for the next), so
 * each sees the row the earlier one left. A failed write is retried beat by beat, so one bad row
 * fails only its own request. A datastore failure during the token check fails closed (503).
 *
 * **Write-behind** (`flushMs` > 0). A written beat leaves what the next one needs in memory: the
 * status, current task, inbound secret, task slots and the token's hash. The next beat, when it
 * changes no status, is answered from there and queued; every `flushMs` one statement writes the
 * tick's beats (`writeDeferredBeats`), then their effects run. A transition is never deferred: it
 * goes through the group commit at once. The memory is dropped for a workspace on every event that
 * can change any of it (status changes, token revocations, updates), from this process and from every
 * other replica through the bus, and wholly when the bus may have missed events or a flush fails,
 * so a revoked token or a paused workspace is refused by the database on its next beat. A row that
 * moved between the beat and the flush (another replica, a liveness expiry) is not written blindly:
 * the beat is applied again through the full statement, which evaluates it against the row as it
 * is then. A crash loses at most one tick of deferred values (last_heartbeat_at, active_tasks,
 * current_task, error_rate) and their ephemeral events; never a status transition.
 */
export class HeartbeatWriter {
  readonly #db: Queryable;
  readonly #maxInFlight: number;
  readonly #maxBatch: number;
  readonly #onDatastoreError: (err: unknown) => void;
  readonly #onFlushError: (err: unknown) => void;
  readonly #flushMs: number;
  readonly #now: () => number;
  readonly #known: LRUCache<string, Known>;
  #queue: Pending[] = [];
  #inFlight = 0;
  #scheduled = false;
  #deferred = new Map<string, Deferred>();
  #tokenTouches = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  /** The flush running now (flushes run one after another), and the workspaces it writes. */
  #flushing: Promise<void> = Promise.resolve();
  #flushingIds = new Set<string>();
  /** Bumped by every invalidation: a group-commit batch remembers its rows only if none came while it ran. */
  #generation = 0;
  #closed = false;

  constructor(db: Queryable, opts: HeartbeatWriterOptions = {}) {
    this.#db = db;
    this.#maxInFlight = opts.maxInFlight ?? 2;
    this.#maxBatch = opts.maxBatch ?? 500;
    this.#onDatastoreError = opts.onDatastoreError ?? (() => {});
    this.#onFlushError = opts.onFlushError ?? (() => {});
    this.#flushMs = opts.flushMs ?? 0;
    this.#now = opts.now ?? (() => performance.now());
    this.#known = new LRUCache<string, Known>({ max: MAX_KNOWN, ttl: KNOWN_TTL_MS, ttlResolution: 0, perf: { now: this.#now } });
  }

  /**
   * Records one beat once `token` (when given) proves to be the beat's workspace's own, then runs
   * `effects` (before resolving when the beat is written at once, after the flush when deferred).
   * Resolves with the outcome, or undefined when the workspace is missing or removed; rejects with
   * the DomainError of a refused token.
   */
  write(beat: HeartbeatWrite, token?: string, effects: BeatEffects = noEffects): Promise<HeartbeatOutcome | undefined> {
    const answered = this.#defer(beat, token, effects);
    if (answered) return Promise.resolve(answered);
    return new Promise((resolve, reject) => {
      this.#queue.push({ token, beat, effects, resolve, reject });
      this.#schedule();
    });
  }

  /** Keeps the write-behind memory true to an event published by this process or arriving from the bus. */
  observe(event: PlatformEvent): void {
    const id = event.workspace_id;
    if (id === null || NEUTRAL_EVENTS.has(event.type)) return;
    if (event.type === 'TASK_UPDATED' && this.#known.get(id)?.currentTask === event.payload.current_task) return;
    this.forget(id);
  }

  /** Drops what this process knows of one workspace, or of all (null): their next beats go to the database. */
  forget(id: string | null): void {
    this.#generation++;
    if (id === null) this.#known.clear();
    else this.#known.delete(id);
  }

  /** Writes the beats deferred so far and runs their effects. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const run = this.#flushing.then(() => this.#flushOnce());
    this.#flushing = run;
    return run;
  }

  /** Stops answering from memory and writes what is deferred (shutdown; the database is still open). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#known.clear();
    await this.flush();
  }

  /** Answers a beat from memory and defers its write, or returns undefined: the database must see it now. */
  #defer(beat: HeartbeatWrite, token: string | undefined, effects: BeatEffects): HeartbeatOutcome | undefined {
    if (this.#flushMs <= 0 || this.#closed) return undefined;
    const known = this.#known.get(beat.id);
    if (!known || beat.next[WORKSPACE_STATUSES.indexOf(known.status)] !== known.status) return undefined;
    let tokenRef: { id: string; usedAt: number } | undefined;
    if (token !== undefined) {
      // Only a token this process has seen the database accept for this workspace; anything else
      // (another workspace's, a new one, a forged one) gets the database's answer.
      tokenRef = known.tokens.get(hashTokenHex(token));
      if (!tokenRef) return undefined;
      const now = this.#now();
      if (now - tokenRef.usedAt >= LAST_USED_RESOLUTION_SECONDS * 1000) {
        this.#tokenTouches.add(tokenRef.id);
        tokenRef.usedAt = now;
      }
    }
    const outcome: HeartbeatOutcome = {
      id: beat.id,
      old_status: known.status,
      status: known.status,
      old_current_task: known.currentTask,
      platform_inbound_secret: known.inboundSecret,
      max_concurrent_tasks: known.maxTasks,
      event_seq: null,
      event_type: null,
      event_payload: null,
      event_at: null,
    };
    known.currentTask = beat.currentTask;
    const d = this.#deferred.get(beat.id);
    if (d) {
      d.beat = beat;
      d.effects.push({ run: effects, outcome });
    } else {
      this.#deferred.set(beat.id, { beat, expected: known.status, effects: [{ run: effects, outcome }] });
    }
    this.#timer ??= setTimeout(() => void this.flush(), this.#flushMs);
    return outcome;
  }

  async #flushOnce(): Promise<void> {
    if (this.#deferred.size === 0) return;
    const batch = [...this.#deferred.values()];
    const touches = [...this.#tokenTouches];
    this.#deferred = new Map();
    this.#tokenTouches = new Set();
    this.#flushingIds = new Set(batch.map((d) => d.beat.id));
    try {
      let written: Set<string>;
      try {
        written = await writeDeferredBeats(
          this.#db,
          batch.map((d) => ({ ...d.beat, expected: d.expected })),
          touches,
        );
      } catch (err) {
        // These values are lost (the next beats carry fresh ones); nothing is answered from memory
        // until the database has taken a beat again.
        this.forget(null);
        this.#onFlushError(err);
        return;
      }
      const effects: Promise<void>[] = [];
      const moved: Deferred[] = [];
      for (const d of batch) {
        if (!written.has(d.beat.id)) moved.push(d);
        else for (const e of d.effects) effects.push(e.run(e.outcome));
      }
      if (moved.length > 0) effects.push(this.#reapply(moved));
      for (const r of await Promise.allSettled(effects)) if (r.status === 'rejected') this.#onFlushError(r.reason);
    } finally {
      this.#flushingIds = new Set();
    }
  }

  /** Deferred beats whose row moved since they were answered: applied through the full statement, against the row as it is. */
  async #reapply(moved: Deferred[]): Promise<void> {
    for (const d of moved) this.forget(d.beat.id);
    const outcomes = await applyHeartbeats(this.#db, moved.map((d) => d.beat), mintInboundSecret);
    const effects: Promise<void>[] = [];
    for (const d of moved) {
      const o = outcomes.get(d.beat.id);
      // Removed meanwhile: the beat had been answered; there is nothing left to record.
      if (!o) continue;
      // The first beat carries the transition's event, if any; the rest announce themselves only.
      d.effects.forEach((e, i) => effects.push(e.run(i === 0 ? o : { ...o, old_status: o.status, event_seq: null, event_type: null, event_payload: null, event_at: null })));
    }
    for (const r of await Promise.allSettled(effects)) if (r.status === 'rejected') this.#onFlushError(r.reason);
  }

  /**
   * Starts batches after this turn of the event loop has delivered every request it read: an
   * embedded database runs each statement synchronously, so starting at once would write beats one
   * by one while the next requests wait unparsed.
   */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const batch = this.#take();
      this.#inFlight++;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#schedule();
      });
    }
  }

  /** Up to maxBatch queued beats for distinct workspaces, oldest first; the rest keep their order. */
  #take(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const ids = new Set<string>();
    for (const p of this.#queue) {
      if (batch.length < this.#maxBatch && !ids.has(p.beat.id)) {
        ids.add(p.beat.id);
        batch.push(p);
      } else {
        rest.push(p);
      }
    }
    this.#queue = rest;
    return batch;
  }

  async #run(batch: Pending[]): Promise<void> {
    // A flush writing one of these workspaces goes first: its values are older than these beats'.
    if (batch.some((p) => this.#flushingIds.has(p.beat.id) || this.#deferred.has(p.beat.id))) await this.flush();
    const generation = this.#generation;
    const accepted = await this.#authenticate(batch);
    if (accepted.length === 0) return;
    let outcomes: Map<string, HeartbeatOutcome>;
    try {
      outcomes = await applyHeartbeats(this.#db, accepted.map((p) => p.beat), mintInboundSecret);
    } catch (err) {
      if (accepted.length === 1) {
        accepted[0]!.reject(err);
        return;
      }
      outcomes = new Map();
      for (const p of accepted) {
        const one = await applyHeartbeats(this.#db, [p.beat], mintInboundSecret).catch((e: unknown) => {
          p.reject(e);
          return undefined;
        });
        const o = one?.get(p.beat.id);
        if (o) outcomes.set(p.beat.id, o);
        else if (one) p.resolve(undefined);
      }
    }
    if (generation === this.#generation) for (const p of accepted) this.#remember(p, outcomes.get(p.beat.id));
    await Promise.all(
      accepted.map(async (p) => {
        const o = outcomes.get(p.beat.id);
        if (!o) return p.resolve(undefined);
        try {
          await p.effects(o);
          p.resolve(o);
        } catch (err) {
          p.reject(err);
        }
      }),
    );
  }

  /** Keeps what the next beat of a written workspace needs (see the class comment). */
  #remember(p: Pending, o: HeartbeatOutcome | undefined): void {
    if (this.#flushMs <= 0 || this.#closed) return;
    if (!o || !SERVED.includes(o.status)) {
      this.#known.delete(p.beat.id);
      return;
    }
    const prev = this.#known.get(p.beat.id);
    const tokens = prev?.tokens ?? new Map<string, { id: string; usedAt: number }>();
    if (p.token !== undefined && p.tokenId !== undefined) tokens.set(hashTokenHex(p.token), { id: p.tokenId, usedAt: this.#now() });
    this.#known.set(p.beat.id, {
      status: o.status,
      currentTask: p.beat.currentTask,
      inboundSecret: o.platform_inbound_secret,
      maxTasks: o.max_concurrent_tasks,
      tokens,
    });
  }

  /** Rejects the beats whose token is refused; answers the rest. */
  async #authenticate(batch: Pending[]): Promise<Pending[]> {
    const tokens = [...new Set(batch.flatMap((p) => (p.token === undefined ? [] : [p.token])))];
    let owners: Awaited<ReturnType<typeof validateWorkspaceTokens>>;
    try {
      owners = await validateWorkspaceTokens(this.#db, tokens);
    } catch (err) {
      // Fail closed: never record a beat whose token could not be checked.
      this.#onDatastoreError(err);
      for (const p of batch) p.reject(platformUnavailable());
      return [];
    }
    const accepted: Pending[] = [];
    for (const p of batch) {
      if (p.token === undefined) {
        accepted.push(p);
        continue;
      }
      const owner = owners.get(p.token);
      if (!owner) p.reject(unauthenticated('invalid auth token'));
      else if (owner.workspaceId !== p.beat.id) p.reject(denied('token does not belong to this workspace'));
      else {
        p.tokenId = owner.tokenId;
        accepted.push(p);
      }
    }
    return accepted;
  }
}
