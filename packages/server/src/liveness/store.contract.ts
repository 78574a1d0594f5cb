import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { LivenessStore } from './port.js';

/** Records every expiry a store reports, with when it arrived. */
export function recordExpiries(store: LivenessStore) {
  const seen: { id: string; at: number }[] = [];
  store.onExpired((id) => {
    seen.push({ id, at: performance.now() });
  });
  return {
    seen,
    of: (id: string) => seen.filter((e) => e.id === id),
    /** Resolves when `id` has expired (polls; no fixed sleeps). */
    async until(id: string, timeoutMs = 5000) {
      await expect.poll(() => seen.some((e) => e.id === id), { timeout: timeoutMs, interval: 10 }).toBe(true);
      return seen.find((e) => e.id === id)!;
    },
  };
}

/**
 * The behaviour every LivenessStore adapter shares (in-memory in unit tests, Redis in integration
 * tests). `make` opens a store on a namespace of its own; stores are closed after each test.
 */
export function livenessStoreContract(name: string, make: () => Promise<LivenessStore>): void {
  describe(`LivenessStore contract: ${name}`, () => {
    const open: LivenessStore[] = [];
    const store = async () => {
      const s = await make();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    it('C178 a touched id that is not touched again expires once, after its ttl, and is then no longer alive', async () => {
      const s = await store();
      const rec = recordExpiries(s);
      const id = randomUUID();
      const t0 = performance.now();
      await s.touch(id, 150);
      expect(await s.isAlive(id)).toBe(true);
      const e = await rec.until(id);
      expect(e.at - t0).toBeGreaterThanOrEqual(140);
      expect(await s.isAlive(id)).toBe(false);
      // A later expiry of another id proves no second notification for the first is pending.
      const later = randomUUID();
      await s.touch(later, 50);
      await rec.until(later);
      expect(rec.of(id)).toHaveLength(1);
    });

    it('a second touch replaces the deadline', async () => {
      const s = await store();
      const rec = recordExpiries(s);
      const id = randomUUID();
      await s.touch(id, 300);
      const second = performance.now();
      await s.touch(id, 400);
      const e = await rec.until(id);
      expect(e.at - second).toBeGreaterThanOrEqual(390);
      expect(rec.of(id)).toHaveLength(1);
    });

    it('forget stops tracking without an expiry', async () => {
      const s = await store();
      const rec = recordExpiries(s);
      const forgotten = randomUUID();
      const sentinel = randomUUID();
      await s.touch(forgotten, 100);
      await s.touch(sentinel, 150);
      await s.forget(forgotten);
      expect(await s.isAlive(forgotten)).toBe(false);
      await rec.until(sentinel);
      expect(rec.of(forgotten)).toEqual([]);
    });

    it('seed tracks new ids and leaves tracked deadlines alone', async () => {
      const s = await store();
      const rec = recordExpiries(s);
      const tracked = randomUUID();
      const fresh = randomUUID();
      await s.touch(tracked, 60_000);
      await s.seed([tracked, fresh], 100);
      await rec.until(fresh);
      expect(await s.isAlive(tracked)).toBe(true);
      expect(rec.of(tracked)).toEqual([]);
      await s.forget(tracked);
    });

    it('many ids expire independently, each exactly once', async () => {
      const s = await store();
      const rec = recordExpiries(s);
      const ids = Array.from({ length: 150 }, () => randomUUID());
      await Promise.all(ids.map((id, i) => s.touch(id, 50 + (i % 5) * 20)));
      await expect.poll(() => new Set(rec.seen.map((e) => e.id)).size, { timeout: 5000, interval: 10 }).toBe(ids.length);
      expect(rec.seen).toHaveLength(ids.length);
    });

    it('a failing handler does not stop the others', async () => {
      const s = await store();
      s.onExpired(() => {
        throw new Error('boom');
      });
      s.onExpired(async () => {
        throw new Error('async boom');
      });
      const rec = recordExpiries(s);
      const id = randomUUID();
      await s.touch(id, 50);
      await rec.until(id);
    });

    it('an unsubscribed handler and a closed store report nothing more', async () => {
      const s = await store();
      const rec = recordExpiries(s);
      const dropped: string[] = [];
      const off = s.onExpired((id) => void dropped.push(id));
      off();
      const id = randomUUID();
      await s.touch(id, 50);
      await rec.until(id);
      expect(dropped).toEqual([]);

      const closing = await make();
      const afterClose: string[] = [];
      closing.onExpired((x) => void afterClose.push(x));
      await closing.touch(randomUUID(), 50);
      await closing.close();
      const sentinel = randomUUID();
      await s.touch(sentinel, 150);
      await rec.until(sentinel);
      expect(afterClose).toEqual([]);
    });
  });
}
