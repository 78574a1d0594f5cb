import { notifyExpired, type ExpiryHandler, type LivenessStore } from './port.js';

/** The embedded default: one timer per tracked workspace, in this process only. */
export function createMemoryLiveness(onHandlerError: (err: unknown, workspaceId: string) => void = () => {}): LivenessStore {
  const timers = new Map<string, { timer: NodeJS.Timeout; deadline: number }>();
  const handlers = new Set<ExpiryHandler>();
  let closed = false;

  const arm = (id: string, ttlMs: number) => {
    const existing = timers.get(id);
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      timers.delete(id);
      void notifyExpired([...handlers], id, onHandlerError);
    }, Math.max(0, ttlMs));
    // A pending deadline must never keep the process alive on shutdown.
    timer.unref();
    timers.set(id, { timer, deadline: performance.now() + ttlMs });
  };

  return {
    kind: 'memory',
    async touch(id, ttlMs) {
      if (!closed) arm(id, ttlMs);
    },
    async seed(ids, ttlMs) {
      for (const id of ids) if (!closed && !timers.has(id)) arm(id, ttlMs);
    },
    async forget(id) {
      const t = timers.get(id);
      if (t) clearTimeout(t.timer);
      timers.delete(id);
    },
    async isAlive(id) {
      const t = timers.get(id);
      return t !== undefined && t.deadline > performance.now();
    },
    onExpired(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async close() {
      closed = true;
      for (const t of timers.values()) clearTimeout(t.timer);
      timers.clear();
      handlers.clear();
    },
  };
}
