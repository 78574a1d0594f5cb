import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Db, Queryable } from '../db/port.js';
import { createLogger } from '../log.js';
import { Supervisor } from './supervisor.js';

/** A database whose advisory lock is always free: only the supervisor's timing is under test. */
const freeLockDb = { tryWithAdvisoryLock: async <T>(_key: bigint, fn: (q: Queryable) => Promise<T>) => ({ ran: true as const, value: await fn({} as Queryable) }) } as unknown as Db;

describe('supervisor timing', () => {
  afterEach(() => vi.useRealTimers());

  it('an aligned loop passes once at boot, then just after each wall-clock multiple of its interval', async () => {
    vi.useFakeTimers({ now: new Date('2026-12-04T10:00:00.400Z') });
    const at: string[] = [];
    const sup = new Supervisor(freeLockDb, createLogger({ level: 'silent', pretty: false }));
    sup.start([{ name: 'aligned', intervalMs: 1_000, aligned: true, tick: async () => void at.push(new Date().toISOString()) }]);
    await vi.advanceTimersByTimeAsync(2_700);
    expect(at).toEqual(['2026-12-04T10:00:00.400Z', '2026-12-04T10:00:01.005Z', '2026-12-04T10:00:02.005Z', '2026-12-04T10:00:03.005Z']);
    await sup.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(at).toHaveLength(4);
  });

  it('a plain loop passes every interval from boot', async () => {
    vi.useFakeTimers({ now: new Date('2026-12-04T10:00:00.400Z') });
    const at: string[] = [];
    const sup = new Supervisor(freeLockDb, createLogger({ level: 'silent', pretty: false }));
    sup.start([{ name: 'plain', intervalMs: 1_000, tick: async () => void at.push(new Date().toISOString()) }]);
    await vi.advanceTimersByTimeAsync(2_100);
    expect(at).toEqual(['2026-12-04T10:00:00.400Z', '2026-12-04T10:00:01.400Z', '2026-12-04T10:00:02.400Z']);
    await sup.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(at).toHaveLength(3);
  });
});
