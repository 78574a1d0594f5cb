import { z } from 'zod';
import { once } from 'node:events';
import { ErrorBody, PlatformEvent, Status } from '@molecule/contracts';
import { requireAdmin, requireAnyCredential, requireWorkspaceAccess, type AuthDeps, type Principal } from '../auth/principal.js';
import { notFound } from '../http/errors.js';
import { getWorkspace } from '../workspaces/read.js';
import { removedError } from '../workspaces/errors.js';
import type { App } from '../http/types.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EventBus } from './bus.js';
import { listEventsAfter, listWorkspaceEvents } from './repo.js';

export interface EventRouteDeps extends AuthDeps {
  bus: EventBus;
  metrics: Metrics;
  /** Interval between SSE keep-alive comments. */
  sseKeepAliveMs?: number;
}

/** A WebSocket client this far behind is disconnected; it reconnects and replays from its last seq. */
export const WS_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

const SSE_REPLAY_PAGE = 1000;

/** Which events a caller may see: admin sees all, a workspace token only its own workspace's. */
export function canSee(p: Principal, e: PlatformEvent): boolean {
  return p.kind === 'admin' || e.workspace_id === p.workspaceId;
}

/**
 * `GET /ws`: the live stream for the canvas and tools. Registered in its own context, where the
 * WebSocket plugin lives, so the plugin's per-route wrapping costs nothing elsewhere.
 */
export function registerWebSocketRoute(app: App, deps: EventRouteDeps): void {
  app.get(
    '/ws',
    {
      websocket: true,
      config: { access: 'credential' },
      onRequest: requireAnyCredential(deps),
      schema: { summary: 'Live event stream (WebSocket)', tags: ['events'], hide: true },
    },
    (socket, req) => {
      const principal = req.principal!;
      deps.metrics.wsConnections.inc();
      const unsubscribe = deps.bus.subscribe((event) => {
        if (!canSee(principal, event)) return;
        if (socket.bufferedAmount > WS_MAX_BUFFERED_BYTES) {
          socket.close(1013, 'slow consumer: reconnect and replay with GET /events?after=<seq>');
          return;
        }
        socket.send(JSON.stringify(event));
      });
      socket.on('close', () => {
        unsubscribe();
        deps.metrics.wsConnections.dec();
      });
      // Client frames only keep the connection alive.
      socket.on('message', () => {});
    },
  );
}

export function registerEventRoutes(app: App, deps: EventRouteDeps): void {
  const admin = requireAdmin(deps);

  app.get(
    '/events',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'Replay persisted events after a cursor',
        description: 'Events with seq > after, oldest first. Pass the last seq you saw to catch up after a reconnect.',
        tags: ['events'],
        querystring: z.object({
          after: z.coerce.number().int().min(0).default(0),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          workspace_id: z.uuid().optional(),
        }),
        response: { 200: z.array(PlatformEvent), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (req) =>
      listEventsAfter(deps.db, {
        after: req.query.after,
        limit: req.query.limit,
        ...(req.query.workspace_id ? { workspaceId: req.query.workspace_id } : {}),
      }),
  );

  app.get(
    '/events/:workspaceId',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: "One workspace's recorded events, newest first",
        description:
          'The persisted events of one workspace (broadcast-only ones such as heartbeats are never stored), newest first. Page back with `before=<the last seq you got>`. A workspace with no events, or none at all, is an empty list.',
        tags: ['events'],
        params: z.object({ workspaceId: z.uuid({ error: 'invalid workspace ID' }) }),
        querystring: z.object({
          before: z.coerce.number().int().min(1).optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: { 200: z.array(PlatformEvent), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
      },
    },
    async (req) =>
      listWorkspaceEvents(deps.db, {
        workspaceId: req.params.workspaceId,
        limit: req.query.limit,
        ...(req.query.before !== undefined ? { before: req.query.before } : {}),
      }),
  );

  app.get(
    '/workspaces/:id/events/stream',
    {
      config: { access: 'workspace' },
      onRequest: requireWorkspaceAccess(deps),
      schema: {
        summary: "One workspace's live events (Server-Sent Events)",
        description:
          'Each frame is `data: <event JSON>`; persisted events carry `id: <seq>`, so a reconnecting EventSource that sends Last-Event-ID first receives what it missed.',
        tags: ['events'],
        params: z.object({ id: z.uuid({ error: 'invalid workspace ID' }) }),
        // An empty Last-Event-ID means "no cursor", not "replay from the start".
        headers: z.object({
          'last-event-id': z.preprocess((v) => (v === '' ? undefined : v), z.coerce.number().int().min(0).optional()),
        }),
        response: { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 410: ErrorBody },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      const ws = await getWorkspace(deps.db, id);
      if (!ws) throw notFound('workspace not found');
      if (ws.status === Status.Removed) throw removedError(ws);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(': ping\n\n');
      const frame = (e: PlatformEvent) => `${e.seq !== null ? `id: ${e.seq}\n` : ''}data: ${JSON.stringify(e)}\n\n`;

      // Subscribe before replaying so nothing published meanwhile is lost; drop duplicates by seq.
      let lastSeq = req.headers['last-event-id'] ?? -1;
      const pending: PlatformEvent[] | null = lastSeq >= 0 ? [] : null;
      let buffer = pending;
      const send = (e: PlatformEvent) => {
        if (e.seq !== null) {
          if (e.seq <= lastSeq) return;
          lastSeq = e.seq;
        }
        res.write(frame(e));
      };
      // Like the WebSocket: a consumer this far behind is cut off and reconnects with Last-Event-ID.
      const sendLive = (e: PlatformEvent) => {
        if (res.writableLength > WS_MAX_BUFFERED_BYTES) res.end();
        else send(e);
      };
      deps.metrics.sseConnections.inc();
      const unsubscribe = deps.bus.subscribe((e) => {
        if (e.workspace_id !== id) return;
        if (buffer) buffer.push(e);
        else sendLive(e);
      });
      const keepAlive = setInterval(() => res.write(': ping\n\n'), deps.sseKeepAliveMs ?? 15_000);
      req.raw.on('close', () => {
        clearInterval(keepAlive);
        unsubscribe();
        deps.metrics.sseConnections.dec();
      });
      if (pending) {
        try {
          // Page through the whole backlog: a client that missed more than one page must not lose the rest.
          for (;;) {
            const page = await listEventsAfter(deps.db, { after: lastSeq, limit: SSE_REPLAY_PAGE, workspaceId: id });
            for (const e of page) send(e);
            if (page.length < SSE_REPLAY_PAGE || res.destroyed) break;
            if (res.writableNeedDrain) await Promise.race([once(res, 'drain'), once(res, 'close')]);
          }
        } catch (err) {
          // Never stream on with a silent gap: close, and the client's reconnect retries the replay.
          req.log.error({ err, workspace_id: id }, 'SSE replay failed; closing the stream');
          res.end();
          return;
        }
        for (const e of pending) send(e);
        buffer = null;
      }
    },
  );
}
