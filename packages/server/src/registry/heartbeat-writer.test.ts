import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import { createExternal } from '../test-support/api.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { getWorkspace } from '../workspaces/repo.js';
import { nextStatuses } from './evaluate.js';
import { HeartbeatWriter } from './heartbeat-writer.js';
import type { HeartbeatWrite } from './repo.js';

/** The database, counting the statements that reach it; `fail` makes matching statements throw. */
function counting(db: Queryable) {
  const seen: string[] = [];
  let fail: RegExp | undefined;
  const q: Queryable = {
    async query(sql, params) {
      seen.push(sql);
      if (fail?.test(sql)) throw new Error('connection terminated unexpectedly');
      return db.query(sql, params);
    },
    exec: (sql) => db.exec(sql),
  };
  return { q, seen, failOn: (re: RegExp | undefined) => void (fail = re) };
}

const beat = (id: string, over: Partial<HeartbeatWrite> = {}): HeartbeatWrite => ({
  id,
  next: nextStatuses({ errorRate: 0, wedged: false, nativeStatus: false }),
  errorRate: 0,
  activeTasks: 0,
  currentTask: '',
  sampleError: '',
  newInboundSecret: 'mol_in_test',
  degradedPayload: {},
  ...over,
});

describe('HeartbeatWriter', () => {
  let t: TestApp;
  let agents: { id: string; token: string }[];
  beforeAll(async () => {
    t = await startTestApp();
    agents = [];
    for (let i = 0; i < 30; i++) agents.push(await createExternal(t, { name: `hb-${i}` }));
  });
  afterAll(async () => t.close());

  it('beats arriving together share one token statement and one write statement', async () => {
    const c = counting(t.db);
    const w = new HeartbeatWriter(c.q);
    const outcomes = await Promise.all(agents.map((a) => w.write(beat(a.id, { activeTasks: 1 }), a.token)));
    expect(c.seen).toHaveLength(2);
    expect(outcomes.every((o) => o?.status === Status.Online)).toBe(true);
    for (const a of agents) expect((await getWorkspace(t.db, a.id))!.active_tasks).toBe(1);
  });

  it('maxBatch bounds a statement; the rest follow in later batches', async () => {
    const c = counting(t.db);
    const w = new HeartbeatWriter(c.q, { maxBatch: 10, maxInFlight: 1 });
    await Promise.all(agents.map((a) => w.write(beat(a.id), a.token)));
    expect(c.seen).toHaveLength(6);
  });

  it('two beats for one workspace never share a statement: the second sees what the first wrote', async () => {
    const [a] = agents;
    const c = counting(t.db);
    const w = new HeartbeatWriter(c.q);
    const [first, second] = await Promise.all([
      w.write(beat(a!.id, { currentTask: 'one' }), a!.token),
      w.write(beat(a!.id, { currentTask: 'two' }), a!.token),
    ]);
    expect(first!.old_current_task).not.toBe('one');
    expect(second!.old_current_task).toBe('one');
    expect(c.seen).toHaveLength(4);
  });

  it('each beat gets its own token decision: 401 unknown or revoked, 403 another workspace; refused beats write nothing', async () => {
    const [ok, victim, revoked] = [agents[3]!, agents[4]!, agents[5]!];
    await t.db.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = $1', [revoked.id]);
    const before = await getWorkspace(t.db, victim.id);
    const w = new HeartbeatWriter(t.db);
    const results = await Promise.allSettled([
      w.write(beat(ok.id, { currentTask: 'fine' }), ok.token),
      w.write(beat(victim.id, { errorRate: 0.9 }), ok.token),
      w.write(beat(revoked.id), revoked.token),
      w.write(beat(agents[6]!.id), 'mol_ws_' + 'x'.repeat(43)),
    ]);
    expect(results[0]).toMatchObject({ status: 'fulfilled', value: { status: Status.Online } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: 'forbidden' } });
    expect(results[2]).toMatchObject({ status: 'rejected', reason: { code: 'unauthorized' } });
    expect(results[3]).toMatchObject({ status: 'rejected', reason: { code: 'unauthorized' } });
    expect(await getWorkspace(t.db, victim.id)).toEqual(before);
  });

  it('a failed batch is retried beat by beat: one bad row fails only its own beat', async () => {
    const [a, b, c] = [agents[7]!, agents[8]!, agents[9]!];
    const counter = counting(t.db);
    const w = new HeartbeatWriter(counter.q);
    const results = await Promise.allSettled([
      w.write(beat(a.id, { currentTask: 'kept' }), a.token),
      w.write(beat(b.id, { activeTasks: 2 ** 40 }), b.token),
      w.write(beat(c.id, { currentTask: 'kept too' }), c.token),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await getWorkspace(t.db, a.id))!.current_task).toBe('kept');
    expect((await getWorkspace(t.db, c.id))!.current_task).toBe('kept too');
  });

  it('a datastore failure during the token check fails closed: 503 for every beat, nothing written', async () => {
    const a = agents[10]!;
    const before = await getWorkspace(t.db, a.id);
    const c = counting(t.db);
    c.failOn(/workspace_auth_tokens/);
    const errors: unknown[] = [];
    const w = new HeartbeatWriter(c.q, { onDatastoreError: (e) => void errors.push(e) });
    await expect(w.write(beat(a.id, { errorRate: 0.9 }), a.token)).rejects.toMatchObject({ code: 'platform_unavailable' });
    expect(errors).toHaveLength(1);
    expect(await getWorkspace(t.db, a.id)).toEqual(before);
  });

  it('a beat without a token is for a caller already authenticated; a missing workspace resolves undefined', async () => {
    const w = new HeartbeatWriter(t.db);
    expect(await w.write(beat(agents[11]!.id))).toMatchObject({ status: Status.Online });
    expect(await w.write(beat('00000000-0000-4000-8000-000000000000'))).toBeUndefined();
  });
});
