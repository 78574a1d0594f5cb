/** Called with the id whose deadline passed. Runs once per expiry across all replicas sharing a store. */
export type ExpiryHandler = (workspaceId: string) => void | Promise<void>;

/**
 * Which workspaces have been heard from recently. Each `touch` sets the workspace's deadline to
 * now + ttl; when a deadline passes without another touch, the expiry handlers run once for that
 * id (on one replica, when the store is shared) and the id is no longer tracked.
 *
 * Adapters: in-memory timers (the embedded default, one process) and Redis (replicas share
 * deadlines; a periodic sweep claims expired ids atomically).
 */
export interface LivenessStore {
  readonly kind: 'memory' | 'redis';
  /** Sets the deadline of `workspaceId` to now + ttlMs, replacing any earlier one. */
  touch(workspaceId: string, ttlMs: number): Promise<void>;
  /**
   * Tracks ids that are not tracked yet (deadline now + ttlMs) and leaves tracked ones alone; the
   * boot reconcile, so a workspace that went quiet while no replica was watching still expires.
   */
  seed(workspaceIds: readonly string[], ttlMs: number): Promise<void>;
  /** Stops tracking without an expiry (the workspace was removed or stopped on purpose). */
  forget(workspaceId: string): Promise<void>;
  /** True while the id's deadline has not passed. */
  isAlive(workspaceId: string): Promise<boolean>;
  /** Registers a handler; the returned function removes it. A failing handler never affects others. */
  onExpired(handler: ExpiryHandler): () => void;
  /** Stops timers and sweeps; tracked deadlines are dropped (memory) or left to other replicas (Redis). */
  close(): Promise<void>;
}

/** Runs every handler for one expired id; a throw or rejection is reported and the rest still run. */
export async function notifyExpired(
  handlers: Iterable<ExpiryHandler>,
  workspaceId: string,
  onError: (err: unknown, workspaceId: string) => void,
): Promise<void> {
  for (const h of handlers) {
    try {
      await h(workspaceId);
    } catch (err) {
      onError(err, workspaceId);
    }
  }
}
