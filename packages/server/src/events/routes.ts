import { z } from 'zod';
import { ErrorBody, PlatformEvent } from '@molecule/contracts';
import { requireAdmin, requireWorkspaceAccess, resolvePrincipal, type AuthDeps, type Principal } from '../auth/principal.js';
import { unauthorized } from '../http/errors.js';
import type { App } from '../http/types.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EventBus } from './bus.js';
import { listEventsAfter } from './repo.js';

export interface EventRouteDeps extends AuthDeps {
  bus: EventBus;
  metrics: Metrics;
  /** Interval between SSE keep-alive comments. */
  sseKeepAliveMs?: number;
}

/** A WebSocket client this far behind is disconnected; it reconnects and replays from its last seq. */
export const WS_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** Which events a caller may see: admin sees all, a workspace token only its own workspace's. */
export function canSee(p: Principal, e: PlatformEvent): boolean {
  return p.kind === 'admin' || e.workspace_id === p.workspaceId;
}

export function registerEventRoutes(app: App, deps: EventRouteDeps): void {
  const admin = requireAdmin(deps);

  app.get(
    '/events',
    {
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
    '/ws',
    {
      websocket: true,
      onRequest: async (req) => {
        const p = await resolvePrincipal(deps, req);
        if (!p) throw unauthorized('a credential is required: bearer token or canvas session');
        req.principal = p;
      },
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

  app.get(
    '/workspaces/:id/events/stream',
    {
      onRequest: requireWorkspaceAccess(deps),
      schema: {
        summary: "One workspace's live events (Server-Sent Events)",
        description:
          'Each frame is `data: <event JSON>`; persisted events carry `id: <seq>`, so a reconnecting EventSource that sends Last-Event-ID first receives what it missed.',
        tags: ['events'],
        params: z.object({ id: z.uuid({ error: 'invalid workspace ID' }) }),
        headers: z.object({ 'last-event-id': z.coerce.number().int().min(0).optional() }),
      },
    },
    async (req, reply) => {
      const id = req.params.id;
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
      deps.metrics.sseConnections.inc();
      const unsubscribe = deps.bus.subscribe((e) => {
        if (e.workspace_id !== id) return;
        if (buffer) buffer.push(e);
        else send(e);
      });
      const keepAlive = setInterval(() => res.write(': ping\n\n'), deps.sseKeepAliveMs ?? 15_000);
      req.raw.on('close', () => {
        clearInterval(keepAlive);
        unsubscribe();
        deps.metrics.sseConnections.dec();
      });
      if (pending) {
        try {
          for (const e of await listEventsAfter(deps.db, { after: lastSeq, limit: 1000, workspaceId: id })) send(e);
        } catch (err) {
          req.log.error({ err, workspace_id: id }, 'SSE replay failed');
        }
        for (const e of pending) send(e);
        buffer = null;
      }
    },
  );
}
