import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { requireServiceUrl } from '../test-support/harness.js';
import type { LivenessStore } from './port.js';
import { createRedisLiveness } from './redis.js';
import { livenessStoreContract, recordExpiries } from './store.contract.js';

const url = requireServiceUrl('TEST_REDIS_URL');
// Test files share one redis-server: every store gets a namespace of its own unless it means to share.
const fresh = (namespace = `molecule:test:liveness:${randomUUID()}`) => createRedisLiveness({ url, namespace, sweepIntervalMs: 20 });

livenessStoreContract('Redis sorted set + TTL keys', () => fresh());

describe('Redis liveness shared by two replicas', () => {
  const stores: LivenessStore[] = [];
  afterAll(async () => {
    for (const s of stores) await s.close();
  });

  it('C178 each expired id is handed to exactly one replica, whichever touched it', async () => {
    const namespace = `molecule:test:liveness:${randomUUID()}`;
    const a = await fresh(namespace);
    const b = await fresh(namespace);
    stores.push(a, b);
    const ra = recordExpiries(a);
    const rb = recordExpiries(b);
    const ids = Array.from({ length: 200 }, () => randomUUID());
    // Touched alternately through both replicas, as beats landing behind a load balancer would be.
    await Promise.all(ids.map((id, i) => (i % 2 === 0 ? a : b).touch(id, 60 + (i % 7) * 10)));
    await expect.poll(() => ra.seen.length + rb.seen.length, { timeout: 5000, interval: 10 }).toBe(ids.length);
    const all = [...ra.seen, ...rb.seen].map((e) => e.id).sort();
    expect(all).toEqual([...ids].sort());
  });

  it('a touch through one replica is visible to the other', async () => {
    const namespace = `molecule:test:liveness:${randomUUID()}`;
    const a = await fresh(namespace);
    const b = await fresh(namespace);
    stores.push(a, b);
    const id = randomUUID();
    await a.touch(id, 60_000);
    expect(await b.isAlive(id)).toBe(true);
    await b.forget(id);
    expect(await a.isAlive(id)).toBe(false);
  });
});
