import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { mintWorkspaceToken } from '../auth/repo.js';
import { createPostgresDb } from '../db/postgres.js';
import type { AppDeps } from '../deps.js';
import type { EventBus } from '../events/bus.js';
import { createRedisBus } from '../events/redis-bus.js';
import { buildApp } from '../http/app.js';
import type { App } from '../http/types.js';
import { startLivenessExpiry } from '../liveness/expiry.js';
import { createRedisLiveness } from '../liveness/redis.js';
import { createLogger } from '../log.js';
import { assembleDeps } from '../main.js';
import { migratedDb, requireServiceUrl, testConfig, type TestDb } from '../test-support/harness.js';
import { getWorkspace } from '../workspaces/repo.js';

const redisUrl = requireServiceUrl('TEST_REDIS_URL');
requireServiceUrl('TEST_DATABASE_URL');

describe('registry across two replicas (one Postgres, one Redis bus and liveness store)', () => {
  let tdb: TestDb;
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  const admin = { authorization: `Bearer ${adminToken}` };
  const replicas: { app: App; deps: AppDeps; bus: EventBus; stop: () => void }[] = [];

  beforeAll(async () => {
    tdb = await migratedDb('postgres');
    // Test files share one redis-server: this pair gets its own channel and liveness namespace.
    const channel = `molecule:test:${randomUUID()}`;
    const namespace = `molecule:test:liveness:${randomUUID()}`;
    for (let i = 0; i < 2; i++) {
      const bus = await createRedisBus({ url: redisUrl, channel });
      const liveness = await createRedisLiveness({ url: redisUrl, namespace, sweepIntervalMs: 20 });
      const deps = assembleDeps({
        config: testConfig({ livenessTtlSeconds: 60 }),
        // Each replica has its own connection pool, as two processes would.
        db: createPostgresDb({ url: tdb.url!, max: 5 }),
        bus,
        log: createLogger({ level: 'silent', pretty: false }),
        adminToken,
        defaultMetrics: false,
        liveness,
      });
      const app = await buildApp(deps);
      await app.ready();
      replicas.push({ app, deps, bus, stop: await startLivenessExpiry(deps) });
    }
  });
  afterAll(async () => {
    for (const r of replicas) {
      r.stop();
      await r.app.close();
      await r.deps.liveness.close();
      await r.bus.close();
      await r.deps.db.close();
    }
    await tdb?.drop();
  });

  const pick = (i: number) => replicas[i % 2]!.app;
  const send = (app: App, url: string, token: string, payload: object) =>
    app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}` }, payload });

  /** An external agent registered through replica A: online. */
  const onlineAgent = async () => {
    const r = await pick(0).inject({ method: 'POST', url: '/workspaces', headers: admin, payload: { name: `agent-${randomUUID().slice(0, 6)}`, runtime: 'external' } });
    expect(r.statusCode, r.body).toBe(201);
    const body = r.json<{ id: string; connection: { auth_token: string } }>();
    const w = { id: body.id, token: body.connection.auth_token };
    expect((await send(pick(0), '/registry/register', w.token, { id: w.id, agent_card: {} })).statusCode).toBe(200);
    return w;
  };
  const transitions = async (id: string) => {
    const r = await tdb.db.query<{ event_type: string }>(
      `SELECT event_type FROM structure_events WHERE workspace_id = $1 AND event_type IN ('WORKSPACE_DEGRADED', 'WORKSPACE_ONLINE') ORDER BY id`,
      [id],
    );
    return r.rows.map((x) => x.event_type);
  };
  const beats = (w: { id: string; token: string }, rates: number[]) =>
    Promise.all(rates.map((error_rate, i) => send(pick(i), '/registry/heartbeat', w.token, { workspace_id: w.id, error_rate })));

  it('C023 concurrent failing beats on both replicas degrade a workspace exactly once; concurrent healthy beats recover it exactly once', async () => {
    const w = await onlineAgent();
    for (const r of await beats(w, Array(60).fill(0.9))) expect(r.statusCode).toBe(200);
    expect((await getWorkspace(tdb.db, w.id))!.status).toBe(Status.Degraded);
    expect(await transitions(w.id)).toEqual(['WORKSPACE_ONLINE', 'WORKSPACE_DEGRADED']);
    for (const r of await beats(w, Array(60).fill(0))) expect(r.statusCode).toBe(200);
    expect((await getWorkspace(tdb.db, w.id))!.status).toBe(Status.Online);
    expect(await transitions(w.id)).toEqual(['WORKSPACE_ONLINE', 'WORKSPACE_DEGRADED', 'WORKSPACE_ONLINE']);
  });

  it('mixed concurrent beats leave a consistent status: it matches the last recorded beat and the events form one valid chain', async () => {
    const w = await onlineAgent();
    for (let round = 0; round < 5; round++) {
      const rates = Array.from({ length: 40 }, (_, i) => ((i * 7 + round) % 3 === 0 ? 0.9 : 0));
      for (const r of await beats(w, rates)) expect(r.statusCode).toBe(200);
      const row = (await getWorkspace(tdb.db, w.id))!;
      // With only 0 and 0.9 on the wire, the status is decided by the last beat the database recorded.
      expect(row.status).toBe(row.error_rate >= 0.5 ? Status.Degraded : Status.Online);
      const chain = await transitions(w.id);
      // Every transition starts from the status the previous one produced: no doubled events.
      chain.forEach((type, i) => expect(type, `event ${i} of ${chain.join(',')}`).toBe(i % 2 === 0 ? 'WORKSPACE_ONLINE' : 'WORKSPACE_DEGRADED'));
      expect(chain.at(-1)).toBe(row.status === Status.Degraded ? 'WORKSPACE_DEGRADED' : 'WORKSPACE_ONLINE');
    }
  });

  it('C006 C007 a missing inbound secret minted concurrently by both replicas is one secret, answered to every caller', async () => {
    const w = await onlineAgent();
    await tdb.db.query('UPDATE workspaces SET platform_inbound_secret = NULL WHERE id = $1', [w.id]);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 3 === 0
          ? send(pick(i), '/registry/register', w.token, { id: w.id, agent_card: {} })
          : send(pick(i), '/registry/heartbeat', w.token, { workspace_id: w.id }),
      ),
    );
    const secrets = new Set(answers.map((r) => r.json<{ platform_inbound_secret: string }>().platform_inbound_secret));
    expect(secrets.size).toBe(1);
    expect([...secrets][0]).toBe((await getWorkspace(tdb.db, w.id))!.platform_inbound_secret);
  });

  it('C005 a beat received by replica A updates the runtime overrides of replica B too', async () => {
    const w = await onlineAgent();
    await send(pick(0), '/registry/heartbeat', w.token, {
      workspace_id: w.id,
      runtime_metadata: { capabilities: { scheduler: true }, idle_timeout_seconds: 1200 },
    });
    const b = replicas[1]!.deps.runtimeOverrides;
    await expect.poll(() => b.idleTimeoutSeconds(w.id), { timeout: 5000 }).toBe(1200);
    expect(b.providesNativeScheduler(w.id)).toBe(true);
    await send(pick(0), '/registry/heartbeat', w.token, { workspace_id: w.id });
    await expect.poll(() => b.providesNativeScheduler(w.id), { timeout: 5000 }).toBe(false);
  });

  it('C210 a token revoked through replica A is refused by replica B, which was answering its beats from memory', async () => {
    const w = await onlineAgent();
    const beatOn = (i: number) => send(pick(i), '/registry/heartbeat', w.token, { workspace_id: w.id });
    // B writes one beat and answers the next from memory (write-behind).
    for (let i = 0; i < 3; i++) expect((await beatOn(1)).statusCode).toBe(200);
    const list = await pick(0).inject({ method: 'GET', url: `/workspaces/${w.id}/tokens`, headers: admin });
    const [token] = list.json<{ tokens: { id: string }[] }>().tokens;
    expect((await pick(0).inject({ method: 'DELETE', url: `/workspaces/${w.id}/tokens/${token!.id}`, headers: admin })).statusCode).toBe(200);
    // TOKEN_REVOKED reaches B over the bus within milliseconds (its memory would otherwise hold for minutes).
    await expect.poll(async () => (await beatOn(1)).statusCode, { timeout: 2000, interval: 20 }).toBe(401);
    expect((await beatOn(0)).statusCode).toBe(401);
  });

  it('a beat answered from memory on replica B is in the database within a tick, and its WORKSPACE_HEARTBEAT reaches replica A', async () => {
    const w = await onlineAgent();
    const seenOnA: string[] = [];
    const unsubscribe = replicas[0]!.bus.subscribe((e) => {
      if (e.workspace_id === w.id && e.type === 'WORKSPACE_HEARTBEAT') seenOnA.push(String(e.payload.active_tasks));
    });
    try {
      for (const n of [1, 2, 3]) expect((await send(pick(1), '/registry/heartbeat', w.token, { workspace_id: w.id, active_tasks: n })).statusCode).toBe(200);
      await expect.poll(async () => (await getWorkspace(tdb.db, w.id))!.active_tasks, { timeout: 2000, interval: 20 }).toBe(3);
      await expect.poll(() => seenOnA, { timeout: 2000, interval: 20 }).toEqual(['1', '2', '3']);
    } finally {
      unsubscribe();
    }
  });

  it('C178 a passed deadline is acted on by exactly one replica: one UPDATE, one event', async () => {
    const ws = await Promise.all(Array.from({ length: 10 }, () => onlineAgent()));
    // A managed one too, to see both outcomes of the CASE.
    const managed = await pick(1).inject({ method: 'POST', url: '/workspaces', headers: admin, payload: { name: 'managed' } });
    const m = { id: managed.json<{ id: string }>().id, token: '' };
    await tdb.db.query('UPDATE workspaces SET status = $2 WHERE id = $1', [m.id, Status.Provisioning]);
    m.token = (await mintWorkspaceToken(tdb.db, m.id)).token;
    expect((await send(pick(1), '/registry/register', m.token, { id: m.id, url: 'http://127.0.0.1:9700', agent_card: {} })).statusCode).toBe(200);
    const all = [...ws, m];
    // Agents that went quiet long ago, with deadlines passing now on the shared store.
    await tdb.db.query(`UPDATE workspaces SET last_heartbeat_at = now() - interval '1 hour' WHERE id = ANY($1::uuid[])`, [all.map((w) => w.id)]);
    await Promise.all(all.map((w, i) => replicas[i % 2]!.deps.liveness.touch(w.id, 50)));
    for (const w of ws) await expect.poll(async () => (await getWorkspace(tdb.db, w.id))!.status, { timeout: 5000 }).toBe(Status.AwaitingAgent);
    await expect.poll(async () => (await getWorkspace(tdb.db, m.id))!.status, { timeout: 5000 }).toBe(Status.Offline);
    const r = await tdb.db.query<{ workspace_id: string; event_type: string }>(
      `SELECT workspace_id, event_type FROM structure_events
        WHERE workspace_id = ANY($1::uuid[]) AND event_type IN ('WORKSPACE_OFFLINE', 'WORKSPACE_AWAITING_AGENT') AND payload ? 'reason'`,
      [all.map((w) => w.id)],
    );
    expect(r.rows).toHaveLength(all.length);
    expect(r.rows.filter((x) => x.event_type === 'WORKSPACE_OFFLINE').map((x) => x.workspace_id)).toEqual([m.id]);
  });

  it("C274 the poll inbox across replicas: a long-poll on B wakes on a message recorded by A, and B's reply completes the send waiting on A", async () => {
    const w = await onlineAgent();
    const message = { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text: 'across' }] };
    const waiting = pick(1).inject({ method: 'GET', url: `/workspaces/${w.id}/inbox?wait=60`, headers: { authorization: `Bearer ${w.token}` } });
    const sending = pick(0).inject({ method: 'POST', url: `/workspaces/${w.id}/a2a`, headers: admin, payload: { jsonrpc: '2.0', id: 9, method: 'message/send', params: { message } } });
    const got = (await waiting).json<{ messages: { id: string; text: string }[] }>();
    expect(got.messages.map((m) => m.text)).toEqual(['across']);
    const replied = await send(pick(1), `/workspaces/${w.id}/inbox/${got.messages[0]!.id}/reply`, w.token, { text: 'from replica B' });
    expect(replied.statusCode, replied.body).toBe(200);
    const answered = await sending;
    expect(answered.statusCode).toBe(200);
    expect(answered.json()).toMatchObject({ id: 9, result: { parts: [{ kind: 'text', text: 'from replica B' }] } });
  });
});
