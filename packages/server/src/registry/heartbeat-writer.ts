import { validateWorkspaceTokens } from '../auth/credentials.js';
import type { Queryable } from '../db/port.js';
import { denied, platformUnavailable, unauthenticated } from '../errors.js';
import { applyHeartbeats, type HeartbeatOutcome, type HeartbeatWrite } from './repo.js';

interface Pending {
  /** The caller's workspace token, checked with the beat; absent when the caller is already authenticated. */
  token: string | undefined;
  beat: HeartbeatWrite;
  resolve: (outcome: HeartbeatOutcome | undefined) => void;
  reject: (err: unknown) => void;
}

export interface HeartbeatWriterOptions {
  /** Batches in flight at once; beats arriving while all are busy wait and go together. */
  maxInFlight?: number;
  /** Most beats in one batch. */
  maxBatch?: number;
  /** Called when the token check cannot reach the datastore (the beats then get 503). */
  onDatastoreError?: (err: unknown) => void;
}

/**
 * Group commit for heartbeats, the platform's hottest path (a fleet of 100,000 agents beating
 * every 20 s is 5,000 beats/s). Beats are taken at the end of the event-loop turn that read them,
 * so one arriving alone is written at once, and while `maxInFlight` batches run, arriving beats
 * queue and the next free slot takes the whole queue: one statement checks every token (the shared predicate,
 * `validateWorkspaceTokens`) and one writes every beat (`applyHeartbeats`), so database round
 * trips, and the syscalls that dominate on small machines, grow with batches, not beats. Each beat
 * keeps its own token decision (401 unknown/revoked/removed, 403 another workspace's), row lock,
 * evaluation and event.
 *
 * Two beats for one workspace never share a batch (the later one waits for the next), so each sees
 * the row the earlier one left. A failed write is retried beat by beat, so one bad row fails only
 * its own request. A datastore failure during the token check fails closed (503).
 */
export class HeartbeatWriter {
  readonly #db: Queryable;
  readonly #maxInFlight: number;
  readonly #maxBatch: number;
  readonly #onDatastoreError: (err: unknown) => void;
  #queue: Pending[] = [];
  #inFlight = 0;
  #scheduled = false;

  constructor(db: Queryable, opts: HeartbeatWriterOptions = {}) {
    this.#db = db;
    this.#maxInFlight = opts.maxInFlight ?? 2;
    this.#maxBatch = opts.maxBatch ?? 500;
    this.#onDatastoreError = opts.onDatastoreError ?? (() => {});
  }

  /**
   * Records one beat once `token` (when given) proves to be the beat's workspace's own. Resolves
   * with the outcome, or undefined when the workspace is missing or removed; rejects with the
   * DomainError of a refused token.
   */
  write(beat: HeartbeatWrite, token?: string): Promise<HeartbeatOutcome | undefined> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ token, beat, resolve, reject });
      this.#schedule();
    });
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
    const accepted = await this.#authenticate(batch);
    if (accepted.length === 0) return;
    try {
      const outcomes = await applyHeartbeats(this.#db, accepted.map((p) => p.beat));
      for (const p of accepted) p.resolve(outcomes.get(p.beat.id));
    } catch (err) {
      if (accepted.length === 1) {
        accepted[0]!.reject(err);
        return;
      }
      for (const p of accepted) {
        await applyHeartbeats(this.#db, [p.beat]).then(
          (one) => p.resolve(one.get(p.beat.id)),
          (e: unknown) => p.reject(e),
        );
      }
    }
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
      else accepted.push(p);
    }
    return accepted;
  }
}
