import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlatformEvent } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import { migratedDb, type DbKind, type TestDb } from '../test-support/harness.js';
import type { EventBus } from './bus.js';
import { collector, makeEvent, untilMarker, type Collector } from './bus.contract.js';
import { createBroadcaster, type Broadcaster } from './broadcaster.js';
import { createMemoryBus } from './memory-bus.js';

interface Row {
  id: number;
  event_type: string;
  workspace_id: string | null;
  payload: Record<string, unknown>;
  created_at: Date;
}

/**
 * The broadcaster's contract (C095) on one database kind: persisted events are a row plus one
 * publish of the same envelope, ephemeral ones a publish without a row, and a failed insert
 * publishes nothing.
 */
export function broadcasterContract(kind: DbKind): void {
  describe(`broadcaster on ${kind}`, () => {
    let tdb: TestDb;
    let bus: EventBus;
    let b: Broadcaster;
    let seen: Collector<PlatformEvent>;
    const published: PlatformEvent[] = [];

    beforeAll(async () => {
      tdb = await migratedDb(kind);
      bus = createMemoryBus();
      seen = collector<PlatformEvent>();
      bus.subscribe((e) => seen.push(e));
      b = createBroadcaster({ db: tdb.db, bus, onPublished: (e) => published.push(e) });
    });
    afterAll(async () => {
      await bus.close();
      await tdb?.drop();
    });

    const rowsOf = async (workspaceId: string) =>
      (
        await tdb.db.query<Row>(
          'SELECT id, event_type, workspace_id, payload, created_at FROM structure_events WHERE workspace_id = $1 ORDER BY id',
          [workspaceId],
        )
      ).rows;
    const eventsOf = (workspaceId: string | null) => seen.items.filter((e) => e.workspace_id === workspaceId);
    /** Everything this broadcaster's bus delivered for `workspaceId`, once a later marker has arrived. */
    const settledEventsOf = async (workspaceId: string | null) => {
      const marker = await b.broadcastOnly('WORKSPACE_HEARTBEAT', randomUUID(), { marker: true });
      await untilMarker(seen, marker);
      return eventsOf(workspaceId);
    };

    it('C095 recordAndBroadcast persists a structure_events row, then publishes the same envelope once', async () => {
      const ws = randomUUID();
      const payload = { name: 'Résumé ✓', nested: { list: [1, 'two', null] } };
      const event = await b.recordAndBroadcast('WORKSPACE_UPDATED', ws, payload);

      const rows = await rowsOf(ws);
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect(row.event_type).toBe('WORKSPACE_UPDATED');
      expect(row.workspace_id).toBe(ws);
      expect(row.payload).toEqual(payload);
      expect(event).toEqual({
        type: 'WORKSPACE_UPDATED',
        workspace_id: ws,
        payload,
        at: new Date(row.created_at).toISOString(),
        seq: row.id,
      });
      expect(typeof event.seq).toBe('number');
      expect(await settledEventsOf(ws)).toEqual([event]);
      expect(published.filter((e) => e.workspace_id === ws)).toEqual([event]);
    });

    it('C095 recordAndBroadcast gives successive events increasing seq and publishes them in that order', async () => {
      const ws = randomUUID();
      const events = [];
      for (let n = 0; n < 5; n++) events.push(await b.recordAndBroadcast('WORKSPACE_UPDATED', ws, { n }));
      const seqs = events.map((e) => e.seq!);
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
      expect(new Set(seqs).size).toBe(5);
      expect((await rowsOf(ws)).map((r) => r.id)).toEqual(seqs);
      expect(await settledEventsOf(ws)).toEqual(events);
    });

    it('C095 recordAndBroadcast accepts an event with no workspace (a platform-level event)', async () => {
      const tag = randomUUID();
      const event = await b.recordAndBroadcast('TOKEN_CREATED', null, { tag });
      const r = await tdb.db.query<Row>('SELECT id, workspace_id, payload FROM structure_events WHERE id = $1', [event.seq]);
      expect(r.rows).toEqual([{ id: event.seq, workspace_id: null, payload: { tag } }]);
      expect((await settledEventsOf(null)).filter((e) => e.payload.tag === tag)).toEqual([event]);
    });

    it('C095 broadcastOnly publishes with seq null and writes no row', async () => {
      const ws = randomUUID();
      const event = await b.broadcastOnly('WORKSPACE_HEARTBEAT', ws, { load: 0.5 });
      expect(event).toMatchObject({ type: 'WORKSPACE_HEARTBEAT', workspace_id: ws, payload: { load: 0.5 }, seq: null });
      expect(Number.isNaN(Date.parse(event.at))).toBe(false);
      expect(await settledEventsOf(ws)).toEqual([event]);
      expect(await rowsOf(ws)).toEqual([]);
    });

    it('C095 when the insert fails (the database rejects the row) nothing is published', async () => {
      const before = (await tdb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM structure_events')).rows[0]!.n;
      await expect(b.recordAndBroadcast('WORKSPACE_UPDATED', 'not-a-uuid', { x: 1 })).rejects.toThrow();
      expect(await settledEventsOf('not-a-uuid')).toEqual([]);
      const after = (await tdb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM structure_events')).rows[0]!.n;
      expect(after).toBe(before);
    });

    it('C095 when the database is unreachable recordAndBroadcast rejects and nothing is published', async () => {
      const down: Queryable = {
        query: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')),
        exec: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')),
      };
      const broken = createBroadcaster({ db: down, bus });
      const ws = randomUUID();
      await expect(broken.recordAndBroadcast('WORKSPACE_UPDATED', ws, {})).rejects.toThrow('ECONNREFUSED');
      expect(await settledEventsOf(ws)).toEqual([]);
    });

    it('C095 a bus outage does not fail the state change: the row stays and the failure is reported', async () => {
      const outage = new Error('bus down');
      const deadBus: EventBus = { kind: 'memory', publish: () => Promise.reject(outage), subscribe: () => () => {}, onGap: () => () => {}, close: async () => {} };
      const failures: [unknown, PlatformEvent][] = [];
      const ok: PlatformEvent[] = [];
      const onDeadBus = createBroadcaster({
        db: tdb.db,
        bus: deadBus,
        onPublished: (e) => ok.push(e),
        onPublishError: (err, e) => failures.push([err, e]),
      });
      const ws = randomUUID();
      const persisted = await onDeadBus.recordAndBroadcast('WORKSPACE_UPDATED', ws, { name: 'x' });
      const ephemeral = await onDeadBus.broadcastOnly('WORKSPACE_HEARTBEAT', ws, {});
      expect((await rowsOf(ws)).map((r) => r.id)).toEqual([persisted.seq]);
      expect(failures).toEqual([
        [outage, persisted],
        [outage, ephemeral],
      ]);
      expect(ok).toEqual([]);
    });

    it('record inside a transaction writes with that transaction: publish after commit, nothing after a rollback', async () => {
      const committed = randomUUID();
      const events = await tdb.db.tx(async (q) => [
        await b.record(q, 'WORKSPACE_CREATED', committed, { name: 'c' }),
        await b.record(q, 'WORKSPACE_AWAITING_AGENT', committed, { external: true }),
      ]);
      // record alone never publishes.
      expect(await settledEventsOf(committed)).toEqual([]);
      await b.publish(events);
      expect(await settledEventsOf(committed)).toEqual(events);
      expect((await rowsOf(committed)).map((r) => r.id)).toEqual(events.map((e) => e.seq));

      const rolledBack = randomUUID();
      const boom = new Error('later step failed');
      await expect(
        tdb.db.tx(async (q) => {
          await b.record(q, 'WORKSPACE_CREATED', rolledBack, {});
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await rowsOf(rolledBack)).toEqual([]);
      expect(await settledEventsOf(rolledBack)).toEqual([]);
    });

    it('events published through the broadcaster are valid envelopes for every channel', async () => {
      const ws = randomUUID();
      const e1 = await b.recordAndBroadcast('WORKSPACE_ONLINE', ws, {});
      const e2 = await b.broadcastOnly('WORKSPACE_HEARTBEAT', ws, { at: makeEvent().at });
      expect(PlatformEvent.parse(e1)).toEqual(e1);
      expect(PlatformEvent.parse(e2)).toEqual(e2);
    });
  });
}
