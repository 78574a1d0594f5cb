import { asPlatformEvent, type PlatformEvent } from '@molecule/contracts';
import type { Api } from './api.js';
import { applyEvent, putWorkspace, type CanvasStore } from './store.js';

const BACKOFF_MS = [500, 1000, 2000, 5000, 10_000];

/**
 * One `/ws` connection that feeds the store. Every event is applied at once; a workspace whose row
 * changed is read again (coalesced per workspace). On a drop it reconnects with backoff and first
 * replays what it missed (`GET /events?after=<last seq>`), so nothing is lost while it was away.
 */
export function connectLive(store: CanvasStore, api: Api, opts: { url?: string; WebSocketImpl?: typeof WebSocket } = {}): () => void {
  const WS = opts.WebSocketImpl ?? WebSocket;
  const url = opts.url ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  let socket: WebSocket | undefined;
  let attempt = 0;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const refetching = new Set<string>();

  const refetch = (id: string) => {
    if (refetching.has(id)) return;
    refetching.add(id);
    void api
      .workspace(id)
      .then((w) => putWorkspace(store, w))
      .catch(() => undefined)
      .finally(() => refetching.delete(id));
  };
  const handle = (e: PlatformEvent) => {
    const r = applyEvent(store, e);
    if (r.refetch) refetch(r.refetch);
  };
  const replay = async () => {
    for (;;) {
      const after = store.getState().lastSeq;
      const missed = await api.eventsAfter(after);
      for (const e of missed) handle(e);
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
      if (wasRetry) void replay().catch(() => undefined);
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
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    socket?.close();
  };
}
