import { asPlatformEvent, type PlatformEvent, type WorkspaceView } from '@molecule/contracts';
import type { Api } from './api.js';
import type { Feed } from './feed.js';
import { applyEvent, putWorkspace, type CanvasStore } from './store.js';

const BACKOFF_MS = [500, 1000, 2000, 5000, 10_000];
/** Events are applied in batches this far apart (at most this late). */
const FLUSH_MS = 30;
/** More rows to read again than this at once: one read of the list instead. */
const BULK_READ = 20;
/** How often the page asks whether the platform (and its database) is still up. */
const HEALTH_EVERY_MS = 10_000;

export interface LiveOptions {
  url?: string;
  WebSocketImpl?: typeof WebSocket;
  /** Where every event goes after the store (the views that follow more than statuses). */
  feed?: Feed;
  healthEveryMs?: number;
  /** The platform says its database is down, or does not answer: the page shows the unreachable screen. */
  onUnreachable?: (message: string) => void;
}

/**
 * One `/ws` connection that feeds the store. Events are applied in batches (one store update every
 * 30 ms at most); a workspace whose row changed is read again (coalesced per workspace; the whole
 * list when many changed; again when an event lands during the read). On
 * a drop it reconnects with backoff, replays what it missed (`GET /events?after=<last seq>`), then
 * reads every workspace again, so nothing is lost while it was away.
 * Every 10 s it asks `/health`: a platform whose database is down keeps the socket open but cannot
 * serve the page, so `onUnreachable` is told.
 */
export function connectLive(store: CanvasStore, api: Api, opts: LiveOptions = {}): () => void {
  const WS = opts.WebSocketImpl ?? WebSocket;
  const url = opts.url ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  let socket: WebSocket | undefined;
  let attempt = 0;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** Workspaces whose row is being read, and those an event touched meanwhile (that read may predate it). */
  const reading = new Set<string>();
  const stale = new Set<string>();
  // Events and rows are applied in batches, one store update per FLUSH_MS: a burst of a thousand
  // events is a few renders of the chart, not a thousand.
  const pendingEvents: PlatformEvent[] = [];
  const pendingRows: WorkspaceView[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  const schedule = () => {
    flushTimer ??= setTimeout(flush, FLUSH_MS);
  };

  /** Reads rows again: one by one for a few, the whole list for many. Reads again what an event touched meanwhile. */
  const read = (ids: readonly string[]) => {
    const fresh = ids.filter((id) => {
      if (!reading.has(id)) return true;
      stale.add(id);
      return false;
    });
    if (fresh.length === 0) return;
    for (const id of fresh) {
      reading.add(id);
      stale.delete(id);
    }
    const got = (rows: WorkspaceView[]) => {
      pendingRows.push(...rows);
      schedule();
    };
    const work =
      fresh.length > BULK_READ
        ? api.workspaces().then((rows) => {
            const wanted = new Set(fresh);
            got(rows.filter((r) => wanted.has(r.id)));
          })
        : Promise.all(fresh.map((id) => api.workspace(id).then((w) => got([w]), () => undefined)));
    void work
      .catch(() => undefined)
      .finally(() => {
        for (const id of fresh) reading.delete(id);
        const again = fresh.filter((id) => stale.has(id));
        if (again.length > 0) read(again);
      });
  };
  function flush() {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = undefined;
    const rows = pendingRows.splice(0);
    const events = pendingEvents.splice(0);
    for (const w of rows) putWorkspace(store, w);
    const wanted = new Set<string>();
    for (const e of events) {
      if (e.workspace_id && reading.has(e.workspace_id)) stale.add(e.workspace_id);
      const r = applyEvent(store, e);
      if (r.refetch) wanted.add(r.refetch);
    }
    read([...wanted]);
    for (const e of events) opts.feed?.publish(e);
  }
  const handle = (e: PlatformEvent) => {
    pendingEvents.push(e);
    schedule();
  };
  const replay = async () => {
    let after = store.getState().lastSeq;
    for (;;) {
      const missed = await api.eventsAfter(after);
      for (const e of missed) {
        handle(e);
        if (e.seq !== null && e.seq > after) after = e.seq;
      }
      if (missed.length < 1000) return;
    }
  };

  const open = () => {
    if (stopped) return;
    store.setState({ connection: attempt === 0 ? 'connecting' : 'reconnecting' });
    const ws = new WS(url);
    socket = ws;
    ws.onopen = () => {
      const wasRetry = attempt > 0;
      attempt = 0;
      store.setState({ connection: 'live' });
      // Back after a drop: replay the recorded events, then read every row again for what only
      // broadcast events carry (current task, active tasks), which no replay can bring back.
      if (wasRetry) {
        void replay()
          .then(() => {
            flush();
            read(Object.keys(store.getState().workspaces));
          })
          .catch(() => undefined);
      }
    };
    ws.onmessage = (m) => {
      let raw: unknown;
      try {
        raw = JSON.parse(String(m.data));
      } catch {
        return;
      }
      const e = asPlatformEvent(raw);
      if (e) handle(e);
    };
    ws.onclose = () => {
      if (stopped) return;
      store.setState({ connection: 'reconnecting' });
      const wait = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]!;
      attempt++;
      timer = setTimeout(open, wait);
    };
  };
  open();
  const health = opts.onUnreachable
    ? setInterval(() => {
        void api.health().then((r) => {
          if (!stopped && !r.ok) opts.onUnreachable!(r.message);
        });
      }, opts.healthEveryMs ?? HEALTH_EVERY_MS)
    : undefined;
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    if (flushTimer) clearTimeout(flushTimer);
    if (health) clearInterval(health);
    socket?.close();
  };
}
