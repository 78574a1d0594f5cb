import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJson } from '@molecule/contracts';
import { createPostgresDb } from '../db/postgres.js';
import type { RunningServer } from '../main.js';
import { E2E_ADMIN_TOKEN, startE2eServer } from '../test-support/e2e.js';
import { documentedOperations, LONG_LIVED_OPERATIONS, leaksIn, sample, urlOf } from '../test-support/openapi.js';
import { startPrivatePostgres, startPrivateRedis, type PrivatePostgres, type PrivateRedis } from '../test-support/private-services.js';

/**
 * PostgreSQL dies under the platform (`pg_ctl stop -m immediate`, a crash as far as clients can
 * tell): every route that needs it answers 503 `platform_unavailable` with no internal text,
 * `/health` says so, the process and its loops survive; once PostgreSQL is back the platform serves
 * again within 5 s without a restart of its own.
 */

/** Answers that need no database: build identity, metrics, the spec, the canvas files, the templates and the plugin registry (files on disk), and a logout without a session cookie. */
const NEEDS_NO_DATABASE = new Set(['GET /buildinfo', 'GET /metrics', 'GET /openapi.json', 'GET /', 'GET /assets/:file', 'GET /templates', 'GET /runtimes', 'GET /plugins', 'GET /plugins/sources', 'POST /auth/logout', 'GET /.well-known/oauth-protected-resource/workspaces/{id}/mcp', 'GET /connect/molecule-mcp.mjs']);

describe('fault: PostgreSQL stopped mid-traffic', () => {
  let pg: PrivatePostgres;
  let redis: PrivateRedis;
  let server: RunningServer;
  const admin = { authorization: `Bearer ${E2E_ADMIN_TOKEN}` };
  let ws: { id: string; token: string };

  const inject = (method: string, url: string, headers: Record<string, string>, body?: unknown) =>
    server.app.inject({
      method: method as 'GET',
      url,
      headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });

  beforeAll(async () => {
    [pg, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
    ({ server } = await startE2eServer({ DATABASE_URL: pg.url, REDIS_URL: redis.url, MOLECULE_PROVISIONER: 'none' }, 'molecule-fault-pg-'));
    const created = await inject('POST', '/workspaces', admin, { name: 'survivor', runtime: 'external' });
    expect(created.statusCode, created.body).toBe(201);
    const body = created.json<{ id: string; connection: { auth_token: string } }>();
    ws = { id: body.id, token: body.connection.auth_token };
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await Promise.all([pg?.close(), redis?.close()]);
  });

  it('every route answers 503 platform_unavailable or a safe answer that needs no database; /health says unavailable; back within 5 s', async () => {
    // Traffic in flight while the database dies.
    let traffic = true;
    const inFlight = (async () => {
      const statuses: number[] = [];
      while (traffic) {
        const r = await inject('GET', `/workspaces/${ws.id}`, admin);
        statuses.push(r.statusCode);
        for (const what of leaksIn(r.body)) throw new Error(`${what} in an answer during the outage: ${r.body}`);
      }
      return statuses;
    })();
    await pg.stop('immediate');
    try {
      await outage();
    } finally {
      traffic = false;
    }
    const statuses = await inFlight;
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(statuses).toContain(503);
    expect((await inject('GET', '/health', {})).statusCode).toBe(200);
    expect((await inject('GET', `/workspaces/${ws.id}`, admin)).json()).toMatchObject({ id: ws.id, name: 'survivor' });
    const again = await inject('POST', '/workspaces', admin, { name: 'after', runtime: 'external' });
    expect(again.statusCode).toBe(201);
    const beat = await inject('POST', '/registry/heartbeat', { authorization: `Bearer ${ws.token}` }, { workspace_id: ws.id });
    expect(beat.statusCode).toBe(200);
  }, 120_000);

  /** Every documented route while PostgreSQL is down, then PostgreSQL back up. */
  async function outage() {
    const ops = await documentedOperations(server.app);
    const problems: string[] = [];
    let unavailable = 0;
    for (const op of ops) {
      const key = `${op.method} ${op.path}`;
      if (LONG_LIVED_OPERATIONS.has(key)) continue;
      const headers = op.access === 'agent' ? { authorization: `Bearer ${ws.token}` } : admin;
      const url = urlOf(op, op.pathParams.map(() => ws.id));
      const body = op.body ? sample(op.body) : ['POST', 'PUT', 'PATCH'].includes(op.method) ? {} : undefined;
      const r = await inject(op.method, url, headers, body);
      const where = `${key} -> ${r.statusCode} ${r.body.slice(0, 160)}`;
      for (const what of leaksIn(r.body, r.headers['content-type'])) problems.push(`${what}: ${where}`);
      if (r.statusCode >= 500) {
        const parsed = parseJson(r.body) as { code?: string; status?: string } | undefined;
        if (key === 'GET /health') {
          if (r.statusCode !== 503 || parsed?.status !== 'unavailable') problems.push(`health: ${where}`);
        } else if (r.statusCode !== 503 || parsed?.code !== 'platform_unavailable') problems.push(`not a platform_unavailable 503: ${where}`);
        else unavailable++;
      } else if (r.statusCode < 400 && !NEEDS_NO_DATABASE.has(key)) {
        problems.push(`succeeded without a database: ${where}`);
      }
    }
    expect(problems).toEqual([]);
    expect(unavailable).toBeGreaterThan(20);
    expect((await inject('GET', '/workspaces', admin)).json()).toEqual({ error: 'platform datastore unavailable, retry shortly', code: 'platform_unavailable' });

    await pg.start();
    // Back within 5 s of PostgreSQL, with no restart of the platform.
    await expect.poll(async () => (await inject('GET', '/workspaces', admin)).statusCode, { timeout: 5000, interval: 100 }).toBe(200);
  }

  it('a connection lost while it is checked out between statements (a loop holding its lock) does not crash the process', async () => {
    const db = createPostgresDb({ url: pg.url, max: 2 });
    try {
      const held = db.withAdvisoryLock(42n, async () => {
        await pg.stop('immediate');
        // The dead connection reports itself now, while no statement is running on it.
        await new Promise((r) => setTimeout(r, 300));
      });
      await expect(held).rejects.toMatchObject({ code: 'platform_unavailable' });
      await pg.start();
      await expect.poll(async () => (await db.query<{ one: number }>('SELECT 1 AS one').catch(() => undefined))?.rows[0]?.one, { timeout: 5000, interval: 100 }).toBe(1);
    } finally {
      await db.close();
    }
  }, 60_000);
});
