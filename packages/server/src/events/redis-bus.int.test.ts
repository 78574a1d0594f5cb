import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformEvent } from '@molecule/contracts';
import { requireServiceUrl } from '../test-support/harness.js';
import type { EventBus } from './bus.js';
import { busContract, collector, makeEvent, untilMarker } from './bus.contract.js';
import { createRedisBus } from './redis-bus.js';

const url = requireServiceUrl('TEST_REDIS_URL');
// Test files run in parallel against one redis-server: every bus gets its own channel.
const freshChannel = () => `molecule:test:${randomUUID()}`;

busContract('redis', (onError) => createRedisBus({ url, channel: freshChannel(), onError }));

describe('redis bus across replicas', () => {
  const open: EventBus[] = [];
  let raw: Redis;
  beforeAll(async () => {
    raw = new Redis(url, { lazyConnect: true });
    await raw.connect();
  });
  afterAll(async () => {
    await raw.quit();
  });
  afterEach(async () => {
    for (const b of open.splice(0)) await b.close();
  });
  const bus = async (channel: string, onError?: (err: unknown) => void) => {
    const b = await createRedisBus({ url, channel, ...(onError ? { onError } : {}) });
    open.push(b);
    return b;
  };

  it('reports kind "redis"', async () => {
    expect((await bus(freshChannel())).kind).toBe('redis');
  });

  it('two replicas on one channel: an event published on either reaches the subscribers of both exactly once', async () => {
    const channel = freshChannel();
    const a = await bus(channel);
    const b = await bus(channel);
    const onA = collector<PlatformEvent>();
    const onB1 = collector<PlatformEvent>();
    const onB2 = collector<PlatformEvent>();
    a.subscribe((e) => onA.push(e));
    b.subscribe((e) => onB1.push(e));
    b.subscribe((e) => onB2.push(e));

    const fromA = makeEvent({ seq: 1 });
    const fromB = makeEvent({ seq: 2 });
    const markerA = makeEvent();
    const markerB = makeEvent();
    await a.publish(fromA);
    await b.publish(fromB);
    await a.publish(markerA);
    await b.publish(markerB);

    for (const c of [onA, onB1, onB2]) {
      await untilMarker(c, markerA);
      await untilMarker(c, markerB);
      const count = (e: PlatformEvent) => c.items.filter((x) => x.workspace_id === e.workspace_id).length;
      expect(c.items.find((x) => x.workspace_id === fromA.workspace_id)).toEqual(fromA);
      expect(c.items.find((x) => x.workspace_id === fromB.workspace_id)).toEqual(fromB);
      expect([fromA, fromB, markerA, markerB].map(count)).toEqual([1, 1, 1, 1]);
      expect(c.items).toHaveLength(4);
    }
  });

  it('buses on different channels do not see each other’s events', async () => {
    const a = await bus(freshChannel());
    const b = await bus(freshChannel());
    const onB = collector<PlatformEvent>();
    b.subscribe((e) => onB.push(e));
    await a.publish(makeEvent());
    const marker = makeEvent();
    await b.publish(marker);
    expect(await untilMarker(onB, marker)).toEqual([]);
  });

  it('ignores (and reports) malformed messages on the channel and keeps delivering', async () => {
    const channel = freshChannel();
    const errors: unknown[] = [];
    const b = await bus(channel, (err) => errors.push(err));
    const got = collector<PlatformEvent>();
    b.subscribe((e) => got.push(e));

    const malformed = [
      'not json at all',
      '',
      'null',
      '[1,2,3]',
      JSON.stringify({ ...makeEvent(), type: 'NOT_AN_EVENT' }),
      JSON.stringify({ ...makeEvent(), workspace_id: 'not-a-uuid' }),
      JSON.stringify({ type: 'WORKSPACE_UPDATED' }),
    ];
    for (const m of malformed) await raw.publish(channel, m);
    const valid = makeEvent({ seq: 9 });
    await raw.publish(channel, JSON.stringify(valid));
    // A batch (one replica's events of one turn): its good events are delivered, in order.
    const batched = [makeEvent({ seq: 10 }), makeEvent({ seq: 11 })];
    await raw.publish(channel, JSON.stringify([batched[0], { type: 'NOT_AN_EVENT' }, batched[1]]));
    const marker = makeEvent();
    await b.publish(marker);

    expect(await untilMarker(got, marker)).toEqual([valid, ...batched]);
    expect(errors).toHaveLength(malformed.length + 1);
  });

  it('a lost subscription is a gap: once it is back, gap handlers run and later events still arrive', async () => {
    const channel = freshChannel();
    const b = await bus(channel);
    let gaps = 0;
    b.onGap(() => void gaps++);
    const got = collector<PlatformEvent>();
    b.subscribe((e) => got.push(e));
    // The server drops this bus's subscriber connection (as a Redis restart would).
    const clients = String(await raw.client('LIST')).split('\n');
    const id = /\bid=(\d+)/.exec(clients.find((l) => l.includes(` name=molecule-sub:${channel} `))!)![1]!;
    await raw.client('KILL', 'ID', id);
    await expect.poll(() => gaps, { timeout: 5000, interval: 20 }).toBe(1);
    const marker = makeEvent();
    await b.publish(marker);
    expect(await untilMarker(got, marker)).toEqual([]);
  });

  it('events published in one turn travel as one message and arrive in order', async () => {
    const channel = freshChannel();
    const b = await bus(channel);
    const messages: string[] = [];
    const listener = raw.duplicate();
    await listener.subscribe(channel);
    listener.on('message', (_ch: string, m: string) => messages.push(m));
    const got = collector<PlatformEvent>();
    b.subscribe((e) => got.push(e));
    const events = Array.from({ length: 50 }, (_, i) => makeEvent({ seq: i + 1 }));
    await Promise.all(events.map((e) => b.publish(e)));
    const marker = makeEvent();
    await b.publish(marker);
    expect(await untilMarker(got, marker)).toEqual(events);
    await expect.poll(() => messages.length).toBe(2);
    expect(JSON.parse(messages[0]!)).toHaveLength(50);
    listener.disconnect();
  });
});
