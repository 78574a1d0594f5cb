import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { Status, type PlatformEvent } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import { createBroadcaster } from '../events/broadcaster.js';
import { createMemoryBus } from '../events/memory-bus.js';
import { createLogger } from '../log.js';
import { migratedDb, type TestDb } from '../test-support/harness.js';
import { createA2AServices } from './index.js';
import type { DeliverFn } from './drain.js';
import type { ProxyOutcome } from './outcome.js';
import { enqueue } from './queue-repo.js';

// The activity write-behind: what the exchanges of one tick record goes to the database in one
// statement, and their events on the bus together, after the tick.
describe('A2A activity rows and events, per tick', () => {
  let t: TestDb;
  let wsId: string;
  beforeAll(async () => {
    t = await migratedDb('pglite');
    wsId = randomUUID();
    await t.db.query(`INSERT INTO workspaces (id, name, runtime, tier, status) VALUES ($1, 'tick', 'molecule', 1, $2)`, [wsId, Status.Online]);
  });
  afterAll(async () => t.db.close());

  function services(flushMs: number) {
    const inserts: number[] = [];
    const db: Queryable = {
      query: (sql, params) => {
        if (sql.includes('INSERT INTO activity_logs')) inserts.push(Date.now());
        return t.db.query(sql, params);
      },
      exec: (sql) => t.db.exec(sql),
    };
    const bus = createMemoryBus();
    const seen: PlatformEvent[] = [];
    bus.subscribe((e) => void seen.push(e));
    const s = createA2AServices({
      db,
      broadcaster: createBroadcaster({ db, bus }),
      bus,
      log: createLogger({ level: 'silent', pretty: false }),
      agentUrlPolicy: () => ({ allowPrivate: true, resolve: async () => [] }),
      deliver: async () => ({ kind: 'busy', nativeSession: false }),
      onDelivered: async () => undefined,
      flushMs,
    });
    return { s, inserts, seen };
  }
  const row = (summary: string) => ({ workspace_id: wsId, activity_type: 'a2a_receive' as const, method: 'message/send', summary });
  const stored = async (prefix: string) => (await t.db.query<{ summary: string }>(`SELECT summary FROM activity_logs WHERE summary LIKE $1 ORDER BY summary`, [`${prefix}%`])).rows.map((r) => r.summary);

  it('the rows of one tick go in one INSERT, with their events in the same pass; nothing is written before the tick', async () => {
    const { s, inserts, seen } = services(60_000);
    for (let i = 0; i < 5; i++) {
      s.record([row(`tick-a-${i}`)]);
      s.announce('A2A_RESPONSE', wsId, { n: i });
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(inserts).toHaveLength(0);
    expect(seen).toHaveLength(0);
    // Closing writes what waits (nothing is lost on a graceful stop).
    await s.close();
    expect(inserts).toHaveLength(1);
    expect(await stored('tick-a-')).toEqual([0, 1, 2, 3, 4].map((i) => `tick-a-${i}`));
    expect(seen.filter((e) => e.type === 'A2A_RESPONSE').map((e) => e.payload.n)).toEqual([0, 1, 2, 3, 4]);
    expect(seen.filter((e) => e.type === 'ACTIVITY_LOGGED')).toHaveLength(5);
  });

  it('with a short tick the rows are written on their own, without a close', async () => {
    const { s, inserts } = services(10);
    s.record([row('tick-b-0')]);
    s.record([row('tick-b-1')]);
    await expect.poll(() => stored('tick-b-')).toEqual(['tick-b-0', 'tick-b-1']);
    expect(inserts).toHaveLength(1);
    await s.close();
  });

  it('a tick of 0 writes as each exchange ends', async () => {
    const { s } = services(0);
    s.record([row('tick-c-0')]);
    await expect.poll(() => stored('tick-c-')).toEqual(['tick-c-0']);
    await s.close();
  });
});

/** A workspace with one queued message/send, in `t`'s database; `status` reads its queue item's. */
async function queuedMessage(t: TestDb, ws: { runtime: string; url: string }) {
  const wsId = randomUUID();
  await t.db.query(`INSERT INTO workspaces (id, name, runtime, tier, status, url) VALUES ($1, 'queued', $2, 1, $3, $4)`, [wsId, ws.runtime, Status.Online, ws.url]);
  const messageId = randomUUID();
  const body = { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text: 'queued' }] } } };
  const queued = await enqueue(t.db, { workspaceId: wsId, callerId: null, messageId, method: 'message/send', body, delegationId: null, expiresInSeconds: undefined });
  const status = async () => (await t.db.query<{ status: string }>('SELECT status FROM a2a_queue WHERE id = $1', [queued.row.id])).rows[0]!.status;
  return { wsId, queueId: queued.row.id, status };
}

/** A2A services on `t`'s database and a memory bus whose queue deliveries go to `deliver`. */
function servicesOn(t: TestDb, deliver: DeliverFn, extra: { closeGraceMs?: number } = {}) {
  const bus = createMemoryBus();
  const s = createA2AServices({
    db: t.db,
    broadcaster: createBroadcaster({ db: t.db, bus }),
    bus,
    log: createLogger({ level: 'silent', pretty: false }),
    agentUrlPolicy: () => ({ allowPrivate: true, resolve: async () => [] }),
    deliver,
    onDelivered: async () => undefined,
    ...extra,
  });
  return { s, bus };
}

const answered = (): ProxyOutcome => ({ kind: 'answered', status: 200, answer: { jsonrpc: '2.0', id: 1, result: { kind: 'message' } }, raw: Buffer.from('{}') });

// #15: a request in flight on an agent socket that closes is queued as busy (timed_out) and waits
// for the agent's word that it takes messages again. Its reconnect is that word; the news of the
// loss (A2A_QUEUED through the bus from the replica that sent the request) may come after it.
describe('a queued request whose agent socket dropped, and the agent reconnecting', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await migratedDb('pglite');
  });
  afterAll(async () => t.db.close());

  async function setup() {
    const { wsId, queueId, status } = await queuedMessage(t, { runtime: 'external', url: '' });
    const delivered: string[] = [];
    const { s, bus } = servicesOn(t, async (target) => {
      delivered.push(target.id);
      return answered();
    });
    const lost = (extra: Record<string, unknown>) => bus.publish({ type: 'A2A_QUEUED', workspace_id: wsId, at: new Date().toISOString(), seq: null, payload: { queue_id: queueId, timed_out: true, ...extra } });
    return { wsId, s, delivered, status, lost };
  }

  /** A connected socket as the registry sees one (it only listens, sends and closes). */
  function fakeSocket(): WebSocket {
    const socket = Object.assign(new EventEmitter(), { OPEN: 1, readyState: 1, send: () => undefined, close: () => undefined });
    return socket as unknown as WebSocket;
  }

  /** Nothing is delivered until the agent attaches a socket (again); that attach delivers the item. */
  async function waitsForAttach({ wsId, s, delivered, status }: Awaited<ReturnType<typeof setup>>) {
    await s.drainer.idle();
    expect(await status()).toBe('queued');
    expect(delivered).toEqual([]);
    s.sockets.attach(wsId, fakeSocket());
    await expect.poll(status).toBe('completed');
    expect(delivered).toEqual([wsId]);
    await s.close();
  }

  it('the agent reconnected before the news of the lost request arrived: the request is delivered at once', async () => {
    const { wsId, s, delivered, status, lost } = await setup();
    s.sockets.attach(wsId, fakeSocket());
    await lost({ lost_socket: randomUUID() });
    await expect.poll(status).toBe('completed');
    expect(delivered).toEqual([wsId]);
    await s.close();
  });

  it('the socket said lost is still here (the relay lost track of it, not the agent): the queue waits, as after a timeout', async () => {
    const { wsId, s, delivered, status, lost } = await setup();
    const socketId = s.sockets.attach(wsId, fakeSocket());
    await lost({ lost_socket: socketId });
    await s.drainer.idle();
    expect(await status()).toBe('queued');
    expect(delivered).toEqual([]);
    await s.close();
  });

  it('after a timeout (no socket lost) the queue stays shut though a socket is here, until the agent attaches again', async () => {
    const q = await setup();
    q.s.sockets.attach(q.wsId, fakeSocket());
    await q.lost({});
    await waitsForAttach(q);
  });

  it('a lost socket and none here yet: the queue waits for the reconnect', async () => {
    const q = await setup();
    await q.lost({ lost_socket: randomUUID() });
    await waitsForAttach(q);
  });
});

// Shutdown and a queued message an agent is still working on: the platform must not wait for its
// answer (the agents' own stop comes after), nor write a result it never got.
describe('closing while a queue delivery is in flight', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await migratedDb('pglite');
  });
  afterAll(async () => t.db.close());

  async function inFlight(closeGraceMs: number) {
    const { wsId, status } = await queuedMessage(t, { runtime: 'molecule', url: 'http://127.0.0.1:9' });
    // The agent takes the message and answers only when the test says so.
    let answer: () => void = () => undefined;
    let taken: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (taken = resolve));
    const { s } = servicesOn(
      t,
      () =>
        new Promise((resolve) => {
          answer = () => resolve(answered());
          taken();
        }),
      { closeGraceMs },
    );
    s.drainer.hint(wsId);
    s.drainer.kick(wsId);
    await started;
    return { s, status, answer: () => answer() };
  }

  it('the agent answers within the grace: close waits for it and the item is completed', async () => {
    const { s, status, answer } = await inFlight(60_000);
    const closed = s.close();
    answer();
    await closed;
    expect(await status()).toBe('completed');
  });

  it('the agent is still working when the grace ends: close returns, the item stays dispatched for the housekeeping, a late answer writes nothing', async () => {
    const { s, status, answer } = await inFlight(100);
    await s.close();
    expect(await status()).toBe('dispatched');
    answer();
    await s.drainer.idle();
    expect(await status()).toBe('dispatched');
  });
});
