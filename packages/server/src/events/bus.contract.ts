import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { PlatformEvent } from '@molecule/contracts';
import type { EventBus } from './bus.js';

/**
 * Items pushed by a callback (bus handler, socket, stream), with a way to wait for a condition on
 * them that resolves as soon as it holds and fails with what arrived once the deadline passes.
 */
export interface Collector<T> {
  readonly items: T[];
  push(item: T): void;
  /** Resolves with `check`'s first non-undefined answer, re-evaluated after every push. */
  until<R>(check: (items: T[]) => R | undefined, what: string, timeoutMs?: number): Promise<R>;
}

export function collector<T>(): Collector<T> {
  const items: T[] = [];
  const listeners = new Set<() => void>();
  return {
    items,
    push(item) {
      items.push(item);
      for (const l of [...listeners]) l();
    },
    until(check, what, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        function cleanup() {
          clearTimeout(timer);
          listeners.delete(attempt);
        }
        function attempt() {
          const r = check(items);
          if (r === undefined) return;
          cleanup();
          resolve(r);
        }
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${JSON.stringify(items).slice(0, 2000)}`));
        }, timeoutMs);
        listeners.add(attempt);
        attempt();
      });
    },
  };
}

/** A valid envelope with a fresh workspace id; `overrides` replace any field. */
export function makeEvent(overrides: Partial<PlatformEvent> = {}): PlatformEvent {
  return {
    type: 'WORKSPACE_HEARTBEAT',
    workspace_id: randomUUID(),
    payload: { n: 0 },
    at: new Date().toISOString(),
    seq: null,
    ...overrides,
  };
}

/** Waits until `c` holds an event equal to `marker` and returns the events before it. */
export async function untilMarker(c: Collector<PlatformEvent>, marker: PlatformEvent, what = 'the marker event'): Promise<PlatformEvent[]> {
  return c.until((items) => {
    const i = items.findIndex((e) => e.workspace_id === marker.workspace_id && e.type === marker.type);
    return i >= 0 ? items.slice(0, i) : undefined;
  }, what);
}

export type MakeBus = (onError: (err: unknown) => void) => Promise<EventBus>;

/**
 * The EventBus port's contract, run against every adapter (in-process and Redis). Delivery is
 * asynchronous on every adapter, so "nothing else arrived" is asserted after a later marker event
 * from the same publisher has arrived: per-publisher order makes that conclusive without sleeping.
 */
export function busContract(name: string, makeBus: MakeBus): void {
  describe(`EventBus contract: ${name}`, () => {
    const open: EventBus[] = [];
    const errors: unknown[] = [];
    const newBus = async () => {
      const bus = await makeBus((err) => errors.push(err));
      open.push(bus);
      return bus;
    };
    afterEach(async () => {
      for (const bus of open.splice(0)) await bus.close();
      errors.length = 0;
    });

    it('delivers the published envelope unchanged to a subscriber', async () => {
      const bus = await newBus();
      const got = collector<PlatformEvent>();
      bus.subscribe((e) => got.push(e));
      const persisted = makeEvent({
        type: 'WORKSPACE_UPDATED',
        seq: 42,
        payload: { name: 'Résumé ✓ 𝄞', nested: { list: [1, 'two', null, { deep: true }] }, empty: {} },
      });
      const ephemeral = makeEvent({ seq: null, payload: {} });
      const orgLevel = makeEvent({ type: 'TOKEN_CREATED', workspace_id: null, seq: 7 });
      await bus.publish(persisted);
      await bus.publish(ephemeral);
      await bus.publish(orgLevel);
      const all = await got.until((items) => (items.length >= 3 ? items : undefined), 'three events');
      expect(all).toEqual([persisted, ephemeral, orgLevel]);
      expect(errors).toEqual([]);
    });

    it('gives every subscriber exactly one copy of each event', async () => {
      const bus = await newBus();
      const subs = [collector<PlatformEvent>(), collector<PlatformEvent>(), collector<PlatformEvent>()];
      for (const c of subs) bus.subscribe((e) => c.push(e));
      const event = makeEvent();
      const marker = makeEvent();
      await bus.publish(event);
      await bus.publish(marker);
      for (const c of subs) expect(await untilMarker(c, marker)).toEqual([event]);
    });

    it('preserves publish order for one publisher, awaited or not', async () => {
      const bus = await newBus();
      const got = collector<PlatformEvent>();
      bus.subscribe((e) => got.push(e));
      const wsId = randomUUID();
      const events = Array.from({ length: 100 }, (_, n) => makeEvent({ workspace_id: wsId, payload: { n }, seq: n + 1 }));
      // The first half is fired without waiting (as concurrent request handlers would), the
      // second half one publish at a time.
      await Promise.all(events.slice(0, 50).map((e) => bus.publish(e)));
      for (const e of events.slice(50)) await bus.publish(e);
      const all = await got.until((items) => (items.length >= 100 ? items : undefined), '100 events');
      expect(all.map((e) => e.payload.n)).toEqual(events.map((e) => e.payload.n));
    });

    it('stops delivering to a handler once it unsubscribes, and only to that handler', async () => {
      const bus = await newBus();
      const gone = collector<PlatformEvent>();
      const stays = collector<PlatformEvent>();
      const unsubscribe = bus.subscribe((e) => gone.push(e));
      bus.subscribe((e) => stays.push(e));
      const before = makeEvent();
      await bus.publish(before);
      await untilMarker(gone, before);
      unsubscribe();
      unsubscribe(); // a second call is harmless
      const after = makeEvent();
      const marker = makeEvent();
      await bus.publish(after);
      await bus.publish(marker);
      expect(await untilMarker(stays, marker)).toEqual([before, after]);
      expect(gone.items).toEqual([before]);
    });

    it('keeps delivering to the other handlers, and later events, when one handler throws; the error is reported', async () => {
      const bus = await newBus();
      const boom = new Error('handler exploded');
      const first = collector<PlatformEvent>();
      const last = collector<PlatformEvent>();
      bus.subscribe((e) => first.push(e));
      bus.subscribe(() => {
        throw boom;
      });
      bus.subscribe((e) => last.push(e));
      const a = makeEvent();
      const b = makeEvent();
      await bus.publish(a);
      await bus.publish(b);
      expect(await untilMarker(last, b)).toEqual([a]);
      expect(await untilMarker(first, b)).toEqual([a]);
      expect(errors).toEqual([boom, boom]);
    });

    it('close stops delivery, a later publish never reaches a handler, and a second close is harmless', async () => {
      const bus = await newBus();
      const got = collector<PlatformEvent>();
      bus.subscribe((e) => got.push(e));
      const before = makeEvent();
      await bus.publish(before);
      await untilMarker(got, before);
      await bus.close();
      // A closed bus may refuse the publish (network adapters) or accept it and deliver nothing.
      const outcome = await bus.publish(makeEvent()).then(
        () => 'accepted',
        () => 'rejected',
      );
      expect(['accepted', 'rejected']).toContain(outcome);
      await bus.close();
      expect(got.items).toEqual([before]);
    });
  });
}
