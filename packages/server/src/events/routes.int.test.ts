import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformEvent } from '@molecule/contracts';
import { buildApp } from '../http/app.js';
import type { App } from '../http/types.js';
import { createLogger } from '../log.js';
import { assembleDeps } from '../main.js';
import { migratedDb, requireServiceUrl, testConfig, type TestDb } from '../test-support/harness.js';
import type { EventBus } from './bus.js';
import { createRedisBus } from './redis-bus.js';
import { eventRoutesContract, openSse, openWs, type SseFrame, type WsClient } from './routes.contract.js';

const redisUrl = requireServiceUrl('TEST_REDIS_URL');
requireServiceUrl('TEST_DATABASE_URL');
// Test files share one redis-server: each app gets its own channel.
const freshChannel = () => `molecule:test:${randomUUID()}`;

eventRoutesContract('Postgres + Redis bus', {
  kind: 'postgres',
  makeBus: () => createRedisBus({ url: redisUrl, channel: freshChannel() }),
});

describe('event routes across two replicas (one Postgres, one Redis channel)', () => {
  let tdb: TestDb;
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  const admin = { authorization: `Bearer ${adminToken}` };
  const replicas: { app: App; bus: EventBus; base: string }[] = [];

  beforeAll(async () => {
    tdb = await migratedDb('postgres');
    const channel = freshChannel();
    for (let i = 0; i < 2; i++) {
      const bus = await createRedisBus({ url: redisUrl, channel });
      const deps = assembleDeps({
        // A long read-cache TTL: a fresh read on the other replica can only come from bus invalidation.
        config: testConfig({ workspaceCacheTtlMs: 60_000 }),
        db: tdb.db,
        bus,
        log: createLogger({ level: 'silent', pretty: false }),
        adminToken,
        defaultMetrics: false,
      });
      const app = await buildApp(deps);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const addr = app.server.address();
      if (!addr || typeof addr !== 'object') throw new Error('replica is not listening');
      replicas.push({ app, bus, base: `http://127.0.0.1:${addr.port}` });
    }
  });
  afterAll(async () => {
    for (const r of replicas) {
      await r.app.close();
      await r.bus.close();
    }
    await tdb?.drop();
  });

  const createWorkspace = async (app: App) => {
    const r = await app.inject({ method: 'POST', url: '/workspaces', headers: admin, payload: { name: `ws-${randomUUID().slice(0, 8)}`, runtime: 'external' } });
    expect(r.statusCode, r.body).toBe(201);
    const body = r.json<{ id: string; connection: { auth_token: string } }>();
    return { id: body.id, token: body.connection.auth_token };
  };
  const rename = async (app: App, id: string, name: string) => {
    const r = await app.inject({ method: 'PATCH', url: `/workspaces/${id}`, headers: admin, payload: { name } });
    expect(r.statusCode, r.body).toBe(200);
  };
  const renamed = (id: string, name: string) => (e: PlatformEvent | undefined) =>
    e?.type === 'WORKSPACE_UPDATED' && e.workspace_id === id && e.payload.name === name;
  const wsEventsUntil = (c: WsClient, id: string, name: string) =>
    c.events.until((items) => {
      const i = items.findIndex(renamed(id, name));
      return i >= 0 ? items.slice(0, i + 1).filter((e) => e.workspace_id === id) : undefined;
    }, `rename of ${id} to ${name}`);

  it('C097 a change made through replica A reaches WebSocket and SSE clients of both replicas exactly once, scoped by credential', async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const mine = await createWorkspace(a.app);
    const other = await createWorkspace(b.app);
    const clients = [
      await openWs(a.base, admin),
      await openWs(b.base, admin),
      await openWs(b.base, { authorization: `Bearer ${mine.token}` }),
    ];
    const stream = await openSse(b.base, `/workspaces/${mine.id}/events/stream`, { authorization: `Bearer ${mine.token}` });
    if (!('frames' in stream)) throw new Error(`SSE refused: ${stream.status}`);
    try {
      await stream.frames.until((f) => (f.length > 0 ? true : undefined), 'the ping');
      await rename(a.app, mine.id, 'from-a');
      await rename(b.app, other.id, 'other');
      await rename(b.app, mine.id, 'from-b');

      for (const c of clients) {
        const got = await wsEventsUntil(c, mine.id, 'from-b');
        expect(got.map((e) => e.payload.name)).toEqual(['from-a', 'from-b']);
      }
      // The workspace-token client on B never sees the other workspace.
      expect(clients[2]!.events.items.every((e) => e.workspace_id === mine.id)).toBe(true);
      const frames = await stream.frames.until((items: SseFrame[]) => {
        const i = items.findIndex((f) => renamed(mine.id, 'from-b')(f.event));
        return i >= 0 ? items.slice(0, i + 1) : undefined;
      }, 'from-b on SSE');
      const data = frames.filter((f) => f.event);
      expect(data.map((f) => f.event!.payload.name)).toEqual(['from-a', 'from-b']);
      expect(data.map((f) => f.id)).toEqual(data.map((f) => String(f.event!.seq)));
    } finally {
      stream.close();
      for (const c of clients) await c.close();
    }
  });

  it('a change through replica A invalidates replica B\'s read cache over the bus', async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const w = await createWorkspace(a.app);
    const nameOn = async (app: App) => (await app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: admin })).json<{ name: string }>().name;
    const original = await nameOn(b.app);
    const r = await a.app.inject({ method: 'PATCH', url: `/workspaces/${w.id}`, headers: admin, payload: { name: 'renamed-on-a' } });
    expect(r.statusCode).toBe(200);
    expect(original).not.toBe('renamed-on-a');
    await expect.poll(() => nameOn(b.app), { timeout: 5000 }).toBe('renamed-on-a');
  });

  it('C097 Last-Event-ID on replica B replays events recorded through replica A', async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const w = await createWorkspace(a.app);
    const history = (await a.app.inject({ method: 'GET', url: `/events?workspace_id=${w.id}`, headers: admin })).json<PlatformEvent[]>();
    await rename(a.app, w.id, 'missed');
    const stream = await openSse(b.base, `/workspaces/${w.id}/events/stream`, {
      authorization: `Bearer ${w.token}`,
      'last-event-id': String(history.at(-1)!.seq),
    });
    if (!('frames' in stream)) throw new Error(`SSE refused: ${stream.status}`);
    try {
      await rename(a.app, w.id, 'live');
      const frames = await stream.frames.until((items: SseFrame[]) => {
        const i = items.findIndex((f) => renamed(w.id, 'live')(f.event));
        return i >= 0 ? items.slice(0, i + 1) : undefined;
      }, 'live on SSE');
      expect(frames.filter((f) => f.event).map((f) => f.event!.payload.name)).toEqual(['missed', 'live']);
    } finally {
      stream.close();
    }
  });
});
