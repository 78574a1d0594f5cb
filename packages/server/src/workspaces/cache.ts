import type { EventType, PlatformEvent, WorkspaceView } from '@molecule/contracts';
import { LRUCache } from 'lru-cache';

/**
 * A short-lived read cache for single-workspace reads (the client view, so a hit costs no
 * conversion either), the platform's hottest path (canvas and
 * agents poll `GET /workspaces/:id`). Correctness comes from invalidation, not from the TTL:
 * every state change goes through the broadcaster, which invalidates here before it publishes (so
 * this replica reads its own writes), and every replica invalidates again when the event arrives
 * on the bus. The TTL only bounds staleness if an invalidation is ever lost.
 */
export interface WorkspaceCache {
  /** The row from the cache, or from `load` (cached unless an invalidation raced the load). */
  get(id: string, load: () => Promise<WorkspaceView | undefined>): Promise<WorkspaceView | undefined>;
  invalidate(id: string | null): void;
  /** Drops every entry (the bus may have missed events). */
  clear(): void;
  readonly size: number;
}

const MAX_ENTRIES = 10_000;
/** What is cached per id: the view, or no view for a workspace that does not exist (lru-cache stores objects, not `undefined`). */
type Entry = { row: WorkspaceView | undefined };

type Loader = () => Promise<WorkspaceView | undefined>;

export function createWorkspaceCache(ttlMs: number, now: () => number = () => performance.now()): WorkspaceCache {
  // lru-cache's fetch: concurrent reads of one id share one load, and a load whose id is deleted
  // (invalidated) while it runs is handed to its caller but not stored (ignoreFetchAbort keeps the
  // answer; the deleted slot is not written).
  const lru = new LRUCache<string, Entry, Loader>({
    max: MAX_ENTRIES,
    ttl: Math.max(ttlMs, 1),
    // Read the clock on every check (the default caches it for 1 ms).
    ttlResolution: 0,
    perf: { now },
    ignoreFetchAbort: true,
    fetchMethod: async (_id, _stale, { context }) => ({ row: await context() }),
  });
  return {
    async get(id, load) {
      if (ttlMs <= 0) return load();
      return (await lru.fetch(id, { context: load }))?.row;
    },
    invalidate(id) {
      if (id !== null) lru.delete(id);
    },
    clear() {
      lru.clear();
    },
    get size() {
      return lru.size;
    },
  };
}

/**
 * Events that never change a workspace row. They leave its cached view alone: ACTIVITY_LOGGED comes
 * with every A2A exchange and would otherwise empty the cache of every busy workspace.
 */
export const VIEW_NEUTRAL_EVENTS: ReadonlySet<EventType> = new Set<EventType>([
  'ACTIVITY_LOGGED',
  'AGENT_MESSAGE',
  'A2A_RESPONSE',
  'A2A_QUEUED',
  'A2A_REPLIED',
  'CRON_EXECUTED',
  'CRON_SKIPPED',
  'DELEGATION_SENT',
  'DELEGATION_STATUS',
  'DELEGATION_COMPLETE',
  'DELEGATION_FAILED',
]);

/** Drops the cached view of the event's workspace, unless the event cannot have changed it. */
export function invalidateFor(cache: WorkspaceCache, event: PlatformEvent): void {
  if (!VIEW_NEUTRAL_EVENTS.has(event.type)) cache.invalidate(event.workspace_id);
}
