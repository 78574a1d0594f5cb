import type { EventType, PlatformEvent, WorkspaceView } from '@molecule/contracts';

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
  readonly size: number;
}

const MAX_ENTRIES = 10_000;

export function createWorkspaceCache(ttlMs: number, now: () => number = () => performance.now()): WorkspaceCache {
  const entries = new Map<string, { row: WorkspaceView | undefined; expires: number }>();
  // Bumped on every invalidation; a load that started before a bump must not store its result.
  // `epoch` covers the rare reset of the generation map itself.
  const generation = new Map<string, number>();
  let epoch = 0;
  return {
    async get(id, load) {
      if (ttlMs <= 0) return load();
      const hit = entries.get(id);
      if (hit && hit.expires > now()) return hit.row;
      const gen = generation.get(id) ?? 0;
      const startEpoch = epoch;
      const row = await load();
      if (epoch === startEpoch && (generation.get(id) ?? 0) === gen) {
        if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
        entries.set(id, { row, expires: now() + ttlMs });
      }
      return row;
    },
    invalidate(id) {
      if (id === null) return;
      entries.delete(id);
      generation.set(id, (generation.get(id) ?? 0) + 1);
      // Generations only matter while a load is in flight; keep the map from growing forever.
      if (generation.size > MAX_ENTRIES) {
        generation.clear();
        epoch++;
      }
    },
    get size() {
      return entries.size;
    },
  };
}

/**
 * Events that never change a workspace row. They leave its cached view alone: ACTIVITY_LOGGED comes
 * with every A2A exchange and would otherwise empty the cache of every busy workspace.
 */
const VIEW_NEUTRAL_EVENTS: ReadonlySet<EventType> = new Set<EventType>([
  'ACTIVITY_LOGGED',
  'AGENT_MESSAGE',
  'A2A_RESPONSE',
  'A2A_QUEUED',
  'DELEGATION_SENT',
  'DELEGATION_STATUS',
  'DELEGATION_COMPLETE',
  'DELEGATION_FAILED',
]);

/** Drops the cached view of the event's workspace, unless the event cannot have changed it. */
export function invalidateFor(cache: WorkspaceCache, event: PlatformEvent): void {
  if (!VIEW_NEUTRAL_EVENTS.has(event.type)) cache.invalidate(event.workspace_id);
}
