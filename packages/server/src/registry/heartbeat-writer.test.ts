import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status, type PlatformEvent } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import { createExternal } from '../test-support/api.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { getWorkspace } from '../workspaces/repo.js';
import { nextStatuses } from './evaluate.js';
import { HeartbeatWriter, type HeartbeatWriterOptions } from './heartbeat-writer.js';
import type { HeartbeatOutcome, HeartbeatWrite } from './repo.js';

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

describe('HeartbeatWriter write-behind', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const fresh = async (n = 1) => {
    const out: { id: string; token: string }[] = [];
    for (let i = 0; i < n; i++) out.push(await createExternal(t, { name: `wb-${i}` }));
    return out;
  };
  const event = (type: PlatformEvent['type'], id: string, payload: Record<string, unknown> = {}): PlatformEvent => ({ type, workspace_id: id, payload, at: new Date().toISOString(), seq: null });
  /** A writer whose ticks only end when the test flushes (an hour-long tick). */
  const writer = (q: Queryable, opts: HeartbeatWriterOptions = {}) => new HeartbeatWriter(q, { flushMs: 3_600_000, ...opts });

  it('C020 C003 a known workspace with a token seen before, changing no status, is answered from memory; the tick is one statement, then each beat\'s effects run', async () => {
    const ws = await fresh(20);
    const c = counting(t.db);
    const w = writer(c.q);
    await Promise.all(ws.map((a) => w.write(beat(a.id), a.token)));
    expect(c.seen).toHaveLength(2);
    const ran: string[] = [];
    const answers = await Promise.all(
      ws.flatMap((a) => [1, 2].map((n) => w.write(beat(a.id, { activeTasks: n, currentTask: `t${n}` }), a.token, async (o) => void ran.push(`${o.id}:${o.old_current_task}`)))),
    );
    // Answered with the inbound secret the database gave the first beat; nothing written yet.
    expect(answers.every((o) => o?.status === Status.Online && o.platform_inbound_secret.startsWith('mol_in_'))).toBe(true);
    expect(c.seen).toHaveLength(2);
    expect(ran).toEqual([]);
    for (const a of ws) expect((await getWorkspace(t.db, a.id))!.active_tasks).toBe(0);
    await w.flush();
    expect(c.seen).toHaveLength(3);
    for (const a of ws) expect(await getWorkspace(t.db, a.id)).toMatchObject({ active_tasks: 2, current_task: 't2', status: Status.Online });
    // One run per beat (every beat announces itself), each with the task the one before it left.
    expect(ran.toSorted()).toEqual(ws.flatMap((a) => [`${a.id}:`, `${a.id}:t1`]).toSorted());
  });

  it('C021 a beat that changes the status is written before it is answered, with its event', async () => {
    const [a] = await fresh();
    const c = counting(t.db);
    const w = writer(c.q);
    await w.write(beat(a!.id), a!.token);
    const o = await w.write(beat(a!.id, { errorRate: 0.9, next: nextStatuses({ errorRate: 0.9, wedged: false, nativeStatus: false }) }), a!.token);
    expect(o).toMatchObject({ old_status: Status.Online, status: Status.Degraded, event_type: 'WORKSPACE_DEGRADED' });
    expect((await getWorkspace(t.db, a!.id))!.status).toBe(Status.Degraded);
    expect(c.seen).toHaveLength(4);
  });

  it('a token this process has not seen for the workspace gets the database answer: another workspace\'s token is 403, a forged one 401', async () => {
    const [a, b] = await fresh(2);
    const w = writer(t.db);
    await w.write(beat(a!.id), a!.token);
    await expect(w.write(beat(a!.id), b!.token)).rejects.toMatchObject({ code: 'forbidden' });
    await expect(w.write(beat(a!.id), 'mol_ws_' + 'y'.repeat(43))).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('C210 an event for the workspace drops what is known: a revoked token is refused on its next beat', async () => {
    const [a] = await fresh();
    const w = writer(t.db);
    await w.write(beat(a!.id), a!.token);
    await t.db.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = $1', [a!.id]);
    w.observe(event('TOKEN_REVOKED', a!.id));
    await expect(w.write(beat(a!.id), a!.token)).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('events that change nothing kept keep it: heartbeats, activity, a TASK_UPDATED matching the task known', async () => {
    const [a] = await fresh();
    const c = counting(t.db);
    const w = writer(c.q);
    await w.write(beat(a!.id, { currentTask: 'x' }), a!.token);
    w.observe(event('WORKSPACE_HEARTBEAT', a!.id));
    w.observe(event('ACTIVITY_LOGGED', a!.id));
    w.observe(event('TASK_UPDATED', a!.id, { current_task: 'x' }));
    await w.write(beat(a!.id, { currentTask: 'x' }), a!.token);
    expect(c.seen).toHaveLength(2);
    // Another replica moved the task: the next beat asks the database.
    w.observe(event('TASK_UPDATED', a!.id, { current_task: 'y' }));
    await w.write(beat(a!.id, { currentTask: 'x' }), a!.token);
    expect(c.seen).toHaveLength(5);
    await w.close();
  });

  it('C024 a row that moved under the memory (an expiry not yet announced) is not written blindly: the beat is applied again against the row as it is', async () => {
    const [a] = await fresh();
    const w = writer(t.db);
    await w.write(beat(a!.id), a!.token);
    await t.db.query('UPDATE workspaces SET status = $2 WHERE id = $1', [a!.id, Status.Offline]);
    const seen: HeartbeatOutcome[] = [];
    const answered = await w.write(beat(a!.id, { activeTasks: 1 }), a!.token, async (o) => void seen.push(o));
    expect(answered).toMatchObject({ status: Status.Online });
    await w.flush();
    expect(await getWorkspace(t.db, a!.id)).toMatchObject({ status: Status.Online, active_tasks: 1 });
    expect(seen).toEqual([expect.objectContaining({ old_status: Status.Offline, status: Status.Online, event_type: 'WORKSPACE_ONLINE' })]);
  });

  it('a workspace removed between the answer and the flush gets nothing written and no effects', async () => {
    const [a] = await fresh();
    const w = writer(t.db);
    await w.write(beat(a!.id), a!.token);
    await t.db.query('UPDATE workspaces SET status = $2 WHERE id = $1', [a!.id, Status.Removed]);
    let ran = 0;
    await w.write(beat(a!.id, { activeTasks: 3 }), a!.token, async () => void ran++);
    await w.flush();
    expect(ran).toBe(0);
    expect(await getWorkspace(t.db, a!.id)).toMatchObject({ status: Status.Removed, active_tasks: 0 });
  });

  it('a failed flush is reported and forgets everything: the next beat goes to the database (and gets its 503)', async () => {
    const [a] = await fresh();
    const c = counting(t.db);
    const errors: unknown[] = [];
    const w = writer(c.q, { onFlushError: (e) => void errors.push(e) });
    await w.write(beat(a!.id), a!.token);
    await w.write(beat(a!.id, { activeTasks: 1 }), a!.token);
    c.failOn(/FOR UPDATE|workspace_auth_tokens/);
    await w.flush();
    expect(errors).toHaveLength(1);
    await expect(w.write(beat(a!.id), a!.token)).rejects.toMatchObject({ code: 'platform_unavailable' });
  });

  it('a beat written at once waits for a flush holding an older beat of its workspace, so the row ends with the newer values', async () => {
    const [a] = await fresh();
    const w = writer(t.db);
    await w.write(beat(a!.id), a!.token);
    await w.write(beat(a!.id, { currentTask: 'older' }), a!.token);
    // A transition (written at once) arrives while the older beat is still deferred.
    await w.write(beat(a!.id, { currentTask: 'newer', errorRate: 0.9, next: nextStatuses({ errorRate: 0.9, wedged: false, nativeStatus: false }) }), a!.token);
    await w.flush();
    expect(await getWorkspace(t.db, a!.id)).toMatchObject({ current_task: 'newer', status: Status.Degraded });
  });

  it('the token\'s last_used_at is refreshed from memory at most once a minute, with the tick', async () => {
    const [a] = await fresh();
    let now = 1_000_000;
    const w = writer(t.db, { now: () => now });
    await w.write(beat(a!.id), a!.token);
    const usedAt = async () => (await t.db.query<{ at: string }>('SELECT last_used_at::text AS at FROM workspace_auth_tokens WHERE workspace_id = $1', [a!.id])).rows[0]!.at;
    await t.db.query(`UPDATE workspace_auth_tokens SET last_used_at = now() - interval '1 hour' WHERE workspace_id = $1`, [a!.id]);
    const stale = await usedAt();
    await w.write(beat(a!.id), a!.token);
    await w.flush();
    expect(await usedAt()).toBe(stale);
    now += 61_000;
    await w.write(beat(a!.id), a!.token);
    await w.flush();
    expect(await usedAt()).not.toBe(stale);
  });

  it('close() writes what is deferred, and later beats go to the database', async () => {
    const [a] = await fresh();
    const c = counting(t.db);
    const w = writer(c.q);
    await w.write(beat(a!.id), a!.token);
    await w.write(beat(a!.id, { activeTasks: 4 }), a!.token);
    await w.close();
    expect((await getWorkspace(t.db, a!.id))!.active_tasks).toBe(4);
    const before = c.seen.length;
    await w.write(beat(a!.id), a!.token);
    expect(c.seen.length).toBe(before + 2);
  });

  it('with flushMs 0 every beat is written before it is answered', async () => {
    const [a] = await fresh();
    const c = counting(t.db);
    const w = new HeartbeatWriter(c.q, { flushMs: 0 });
    await w.write(beat(a!.id), a!.token);
    await w.write(beat(a!.id, { activeTasks: 5 }), a!.token);
    expect(c.seen).toHaveLength(4);
    expect((await getWorkspace(t.db, a!.id))!.active_tasks).toBe(5);
  });

  it('the tick ends by itself after flushMs', async () => {
    const [a] = await fresh();
    const w = new HeartbeatWriter(t.db, { flushMs: 20 });
    await w.write(beat(a!.id), a!.token);
    await w.write(beat(a!.id, { activeTasks: 6 }), a!.token);
    await expect.poll(async () => (await getWorkspace(t.db, a!.id))!.active_tasks, { timeout: 2000, interval: 10 }).toBe(6);
  });
});
