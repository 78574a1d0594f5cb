import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { migratedDb, type TestDb } from '../test-support/harness.js';
import { loopLockKey, Supervisor } from './supervisor.js';

describe('supervisor on PostgreSQL', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await migratedDb('postgres');
  });
  afterAll(async () => t.drop());

  it('C179 one replica runs a loop at a time: a pass is skipped while another holds its lock', async () => {
    const replicaA = new Supervisor(t.db, createLogger({ level: 'silent', pretty: false }));
    const replicaB = new Supervisor(t.db, createLogger({ level: 'silent', pretty: false }));
    let release!: () => void;
    const holding = new Promise<void>((r) => (release = r));
    let ticksA = 0;
    let ticksB = 0;
    const running = replicaA.runOnce({ name: 'exclusive', intervalMs: 60_000, tick: async () => {
        ticksA++;
        await holding;
      } });
    await expect.poll(() => ticksA).toBe(1);
    await replicaB.runOnce({ name: 'exclusive', intervalMs: 60_000, tick: async () => {
        ticksB++;
      } });
    expect(ticksB).toBe(0);
    expect(replicaB.status.get('exclusive')).toMatchObject({ runs: 0, skipped_locked: 1 });
    release();
    await running;
    await replicaB.runOnce({ name: 'exclusive', intervalMs: 60_000, tick: async () => {
        ticksB++;
      } });
    expect(ticksB).toBe(1);
    expect(loopLockKey('exclusive')).toBe(loopLockKey('exclusive'));
    expect(loopLockKey('exclusive')).not.toBe(loopLockKey('other'));
  });
});
