import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWs } from '../events/routes.contract.js';
import type { RunningServer } from '../main.js';
import { E2E_ADMIN_TOKEN, startE2eServer } from '../test-support/e2e.js';
import { leaksIn } from '../test-support/openapi.js';
import { startPrivatePostgres, startPrivateRedis, type PrivatePostgres, type PrivateRedis } from '../test-support/private-services.js';

/**
 * Redis dies under the platform and comes back (docs/operations.md, "When a datastore fails"):
 * while it is down the API keeps serving from PostgreSQL (events are still recorded, heartbeats
 * still accepted), live event delivery pauses and nothing crashes; once it is back, live events
 * flow to connected clients again without a restart, and the events recorded meanwhile can be
 * replayed from `GET /events`.
 */
const TTL_SECONDS = 5;

describe('fault: Redis stopped and restarted', () => {
  let pg: PrivatePostgres;
  let redis: PrivateRedis;
  let server: RunningServer;
  const admin = { authorization: `Bearer ${E2E_ADMIN_TOKEN}`, 'content-type': 'application/json' };

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = admin) => {
    const r = await fetch(`${server.url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    expect(leaksIn(text), `${method} ${path}: ${text}`).toEqual([]);
    return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
    ({ server } = await startE2eServer(
      { DATABASE_URL: pg.url, REDIS_URL: redis.url, MOLECULE_PROVISIONER: 'none', MOLECULE_LIVENESS_TTL_SECONDS: String(TTL_SECONDS) },
      'molecule-fault-redis-',
    ));
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await Promise.all([pg?.close(), redis?.close()]);
  });

  it('the API keeps serving while Redis is down; live events resume when it is back; missed events replay from /events', async () => {
    const client = await openWs(server.url, { authorization: admin.authorization });
    const first = await call('POST', '/workspaces', { name: 'before', runtime: 'external' });
    expect(first.status).toBe(201);
    await client.events.until((es) => (es.some((e) => e.type === 'WORKSPACE_CREATED' && e.workspace_id === first.body.id) ? true : undefined), 'the first WORKSPACE_CREATED');
    const token = (first.body.connection as { auth_token: string }).auth_token;

    await redis.stop();
    const during = await call('POST', '/workspaces', { name: 'during', runtime: 'external' });
    expect(during.status).toBe(201);
    expect((await call('GET', `/workspaces/${String(during.body.id)}`)).status).toBe(200);
    const beat = await call('POST', '/registry/heartbeat', { workspace_id: first.body.id }, { authorization: `Bearer ${token}`, 'content-type': 'application/json' });
    expect(beat.status).toBe(200);
    expect((await call('GET', '/health')).status).toBe(200);
    // Rate-limited routes cannot count: they refuse (fail closed) rather than let requests through unchecked.
    const login = await call('POST', '/auth/login', { token: E2E_ADMIN_TOKEN }, { 'content-type': 'application/json' });
    expect(login).toEqual({ status: 503, body: { error: 'platform datastore unavailable, retry shortly', code: 'platform_unavailable' } });

    await redis.start();
    // Live delivery resumes without a restart: a new event reaches the client that stayed connected.
    await expect
      .poll(
        async () => {
          const r = await call('PATCH', `/workspaces/${String(first.body.id)}`, { role: `r${Date.now()}` });
          expect(r.status).toBe(200);
          return client.events.items.some((e) => e.type === 'WORKSPACE_UPDATED' && e.workspace_id === first.body.id);
        },
        { timeout: 10_000, interval: 250 },
      )
      .toBe(true);
    expect((await call('POST', '/auth/login', { token: E2E_ADMIN_TOKEN }, { 'content-type': 'application/json' })).status).toBe(200);
    // What happened during the outage was recorded and can be replayed.
    const replay = await call('GET', '/events?limit=100');
    expect(JSON.stringify(replay.body)).toContain(String(during.body.id));
    await client.close();
  }, 120_000);

  it('an agent that went silent while Redis was down (and came back empty) is still noticed, within one extra TTL', async () => {
    const created = await call('POST', '/workspaces', { name: 'silent', runtime: 'external' });
    const id = String(created.body.id);
    const auth = { authorization: `Bearer ${(created.body.connection as { auth_token: string }).auth_token}`, 'content-type': 'application/json' };
    const reg = await call('POST', '/registry/register', { id, agent_card: { name: 'silent', version: '1.0.0', skills: [] }, delivery_mode: 'poll' }, auth);
    expect(reg.status).toBe(200);
    expect((await call('GET', `/workspaces/${id}`)).body.status).toBe('online');
    // Redis restarts without its data: the agent's deadline is gone, and the agent never beats again.
    await redis.stop();
    await redis.start();
    await expect.poll(async () => (await call('GET', `/workspaces/${id}`)).body.status, { timeout: 4 * TTL_SECONDS * 1000, interval: 250 }).toBe('awaiting_agent');
  }, 60_000);
});
