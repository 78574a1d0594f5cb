import { normalizeA2ARequest, Status, type NormalizedA2ARequest, type WorkspaceView } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import type { Logger } from '../log.js';
import { getWorkspace, toView } from '../workspaces/read.js';
import { deliveryOf, type ProxyOutcome } from './outcome.js';
import { claimNext, completeItem, failItem, queueHousekeeping, releaseItem, targetsWithItems, targetsWithQueued, type QueueRow } from './queue-repo.js';

/** Finished queue items are kept this long (their answers readable, their messageIds deduplicated). */
export const QUEUE_RETENTION_SECONDS = 24 * 3600;

/** Called after a queued item was delivered, with the agent's answer (delegations complete through this, C067). */
export type DeliveredHook = (item: QueueRow, answer: unknown) => Promise<void>;

/** Sends one queued request to its target as its original caller; a busy refusal comes back as `busy`, never queued again. */
export type DeliverFn = (target: WorkspaceView, callerId: string | null, rpc: NormalizedA2ARequest) => Promise<ProxyOutcome>;

/** What the drain uses: the queue's rows, the target's row, a way to deliver, and a hook for delivered items. */
export interface DrainDeps {
  db: Queryable;
  log: Logger;
  deliver: DeliverFn;
  /** Whether a workspace with no URL can take a delivery anyway (its agent holds an outbound socket on some replica). */
  reachable?: (target: { id: string; runtime: string }) => Promise<boolean>;
  /** The id of the outbound socket the workspace's agent holds on this replica now, if any. */
  socketHere?: (workspaceId: string) => string | undefined;
  onDelivered: DeliveredHook;
  /**
   * A poll agent with no URL and no socket on any replica: its queued items wait this long (from
   * when they were queued) for the socket to come back, then go to its poll inbox (`deliver` takes
   * the poll path for it).
   */
  socketGraceSeconds: number;
  /** Items `dispatched` longer than this are interrupted whatever their process says (the dispatch ceiling plus a margin). */
  stuckAfterSeconds: number;
  /** This platform process: it names its claims and beacons under this id. */
  instanceId: string;
  /** A process not seen for this long has stopped; its claimed deliveries are interrupted. */
  instanceDeadAfterSeconds: number;
}

const DELIVERABLE = new Set<string>([Status.Online, Status.Degraded]);

/**
 * Delivers queued A2A messages. `kick(id)` starts a pass for one target; a pass takes items
 * oldest first (highest priority first) and keeps up to the target's max_concurrent_tasks
 * deliveries in flight from this replica, stopping at the first busy refusal. Kicks come from the
 * moment the target frees up (a proxied exchange with it ended), from its heartbeats (C060) and
 * from a periodic sweep. Items are claimed with SKIP LOCKED, so replicas never deliver one twice.
 */
export class QueueDrainer {
  readonly #inFlight = new Map<string, number>();
  readonly #pumping = new Set<string>();
  readonly #again = new Set<string>();
  /** Targets believed to have queued items: a heartbeat only costs a drain pass for these. */
  readonly #hinted = new Set<string>();
  /** When each target last had a message queued (this replica or, through the bus, another). */
  readonly #queuedAt = new Map<string, number>();
  /**
   * Targets whose exchange timed out: they may still be working on it, so nothing is delivered to
   * them until they say themselves that a slot is free (a heartbeat), or the dispatch ceiling passes.
   * `reported` is the active task count of their latest heartbeat since.
   */
  readonly #quiet = new Map<string, { until: number; reported?: number }>();
  #closed = false;
  /** Shutdown stopped waiting for the deliveries still in flight: what they come back with is not written. */
  #abandoned = false;
  readonly #pending = new Set<Promise<void>>();

  constructor(private readonly deps: DrainDeps) {}

  /** Some replica queued a message for `workspaceId` (A2A_QUEUED on the bus, or the periodic sweep). */
  hint(workspaceId: string): void {
    this.#hinted.add(workspaceId);
    this.remember(workspaceId);
  }

  /** Whether messages are believed to wait for `workspaceId` (new ones then queue behind them). */
  hasQueued(workspaceId: string): boolean {
    return this.#hinted.has(workspaceId);
  }

  /** `workspaceId` has queue items (any status) within the retention window. */
  remember(workspaceId: string): void {
    this.#queuedAt.set(workspaceId, Date.now());
  }

  /**
   * Whether the queue may hold a message for `workspaceId`, so an incoming message must be checked
   * against it (the idempotency lookup, C058). Targets that never had one skip that query: the
   * busy path, an A2A_QUEUED event from any replica and the periodic sweep keep this current.
   */
  mayHold(workspaceId: string): boolean {
    const at = this.#queuedAt.get(workspaceId);
    if (at === undefined) return false;
    if (Date.now() - at < QUEUE_RETENTION_SECONDS * 1000) return true;
    this.#queuedAt.delete(workspaceId);
    return false;
  }

  /** The target reported a free task slot (heartbeat): drain if it has queued items. */
  freeSlot(workspaceId: string): void {
    this.#quiet.delete(workspaceId);
    if (this.#hinted.has(workspaceId)) this.kick(workspaceId);
  }

  /**
   * An exchange with `workspaceId` timed out, or the agent socket `lostSocket` was lost with the
   * request in flight, here or, through the bus, on another replica: the agent may still be running
   * it, and a re-delivery now would run it twice on an agent that does not deduplicate by
   * messageId. Its queue waits for its next heartbeat with a free slot, or for its agent to
   * connect a socket again (an attach is its word that it takes messages, see freeSlot).
   * The news may come after that attach, through the bus: when the agent already holds another
   * socket here, the queue stays open and drains. The same socket still here (the relay lost track
   * of it, not the agent) counts as a timeout.
   */
  timedOut(workspaceId: string, opts: { lostSocket?: string } = {}): void {
    const here = this.deps.socketHere?.(workspaceId);
    if (opts.lostSocket !== undefined && here !== undefined && here !== opts.lostSocket) {
      this.freeSlot(workspaceId);
      return;
    }
    this.#quiet.set(workspaceId, { until: Date.now() + this.deps.stuckAfterSeconds * 1000 });
  }

  /** A heartbeat of `workspaceId` reached this replica through the bus, with its active task count. */
  reported(workspaceId: string, activeTasks: number): void {
    const q = this.#quiet.get(workspaceId);
    if (q) q.reported = activeTasks;
  }

  /** Whether `workspaceId` timed out and has not said since that it has a free slot (of `limit`). */
  #stillQuiet(workspaceId: string, limit: number): boolean {
    const q = this.#quiet.get(workspaceId);
    if (!q) return false;
    if (Date.now() < q.until && (q.reported === undefined || q.reported >= limit)) return true;
    this.#quiet.delete(workspaceId);
    return false;
  }

  kick(workspaceId: string): void {
    if (this.#closed) return;
    if (this.#pumping.has(workspaceId)) {
      this.#again.add(workspaceId);
      return;
    }
    this.#track(this.#pump(workspaceId));
  }

  /** Resolves when no pass or delivery of this replica is running. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /**
   * Stops taking items and waits up to `graceMs` for the deliveries in flight (shutdown). One still
   * running then is left as it is: its item stays `dispatched` under this process's claim, and the
   * queue housekeeping of a live process re-sends or fails it once this one is seen no more, as
   * after a crash (the agent may have the message). Resolves with how many passes and deliveries
   * were left running (0: all ended in time).
   */
  async close(graceMs: number): Promise<number> {
    this.#closed = true;
    let timer: NodeJS.Timeout | undefined;
    const graceEnded = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)));
    const waited = await Promise.race([this.idle().then(() => true), graceEnded]);
    clearTimeout(timer);
    if (waited) return 0;
    this.#abandoned = true;
    return this.#pending.size;
  }

  #track(p: Promise<void>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  async #pump(workspaceId: string): Promise<void> {
    const deps = this.deps;
    this.#pumping.add(workspaceId);
    try {
      do {
        this.#again.delete(workspaceId);
        const row = await getWorkspace(deps.db, workspaceId);
        if (!row || row.status === Status.Removed) return;
        if (!DELIVERABLE.has(row.status)) return;
        // No URL and no socket: nothing to deliver to, except a poll agent's inbox once the grace
        // for its socket has passed (the agent may have gone back to polling).
        let minAgeSeconds = 0;
        if (row.url === '' && (await deps.reachable?.(row)) !== true) {
          if (row.delivery_mode !== 'poll') return;
          minAgeSeconds = deps.socketGraceSeconds;
        }
        const limit = Math.max(1, row.max_concurrent_tasks);
        if (this.#stillQuiet(workspaceId, limit)) return;
        while (!this.#closed && (this.#inFlight.get(workspaceId) ?? 0) < limit) {
          const item = await claimNext(deps.db, workspaceId, deps.instanceId, minAgeSeconds);
          if (!item) {
            // Younger items may still wait out their grace: the hint stays for the next pass.
            if (!this.#inFlight.has(workspaceId) && minAgeSeconds === 0) this.#hinted.delete(workspaceId);
            break;
          }
          this.#inFlight.set(workspaceId, (this.#inFlight.get(workspaceId) ?? 0) + 1);
          this.#track(
            this.#deliver(deps, toView(row), item)
              .catch((err: unknown) => {
                deps.log.error({ err, workspace_id: workspaceId, queue_id: item.id }, 'queue delivery crashed');
                return false;
              })
              .then((delivered) => {
                const n = (this.#inFlight.get(workspaceId) ?? 1) - 1;
                if (n <= 0) this.#inFlight.delete(workspaceId);
                else this.#inFlight.set(workspaceId, n);
                // The slot this delivery held is free again: the next item may go at once.
                if (delivered) this.kick(workspaceId);
              }),
          );
        }
      } while (this.#again.has(workspaceId) && !this.#closed);
    } catch (err) {
      deps.log.error({ err, workspace_id: workspaceId }, 'queue drain pass failed');
    } finally {
      this.#pumping.delete(workspaceId);
    }
  }

  /** Delivers one claimed item; true when the agent took it. */
  async #deliver(deps: DrainDeps, target: WorkspaceView, item: QueueRow): Promise<boolean> {
    const normalized = normalizeA2ARequest(item.body);
    if (!normalized.ok) {
      await failItem(deps.db, item.id, `the queued request is no longer valid: ${normalized.error.message}`);
      return false;
    }
    const outcome = await deps.deliver(target, item.caller_id, normalized.value);
    // Shutdown left this delivery to the housekeeping: the item stays as it is.
    if (this.#abandoned) return false;
    const d = deliveryOf(outcome);
    switch (d.outcome) {
      case 'delivered': {
        const done = await completeItem(deps.db, item.id, d.status, d.body);
        if (done) await deps.onDelivered(done, d.body);
        return true;
      }
      case 'busy':
        // Not an attempt: the agent refused before starting. The next kick retries.
        await releaseItem(deps.db, item.id, { countAttempt: false });
        return false;
      case 'failed':
        if (d.retryable) await releaseItem(deps.db, item.id, { countAttempt: true, error: d.error });
        else await failItem(deps.db, item.id, d.error);
        return false;
    }
  }

  /**
   * The periodic queue pass (a safety net under the event-driven drain): expires, re-sends or fails
   * deliveries a stopped process interrupted (see queueHousekeeping), purges old items, and starts
   * a drain for every target with deliverable items, in case a heartbeat or a kick was missed
   * (another replica died mid-pass, a bus message was lost).
   */
  async sweep(q: Queryable): Promise<{ kicked: number }> {
    await queueHousekeeping(q, { stuckSeconds: this.deps.stuckAfterSeconds, deadAfterSeconds: this.deps.instanceDeadAfterSeconds, retentionSeconds: QUEUE_RETENTION_SECONDS });
    for (const id of await targetsWithItems(q)) this.remember(id);
    const targets = await targetsWithQueued(q);
    for (const id of targets) {
      this.hint(id);
      this.kick(id);
    }
    return { kicked: targets.length };
  }
}
