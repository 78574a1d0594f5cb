import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSse, openWs } from '../events/routes.contract.js';
import { freePort } from '../net/free-port.js';
import { freshDb, type TestDb } from '../test-support/harness.js';
import { PROCESS_ADMIN_TOKEN, startPlatformProcess, waitHealthy, type PlatformProcess } from '../test-support/platform-process.js';
import { startPrivateRedis, type PrivateRedis } from '../test-support/private-services.js';

/**
 * Two platform processes on one PostgreSQL and one Redis behind HAProxy, with the HAProxy config
 * that deploy/compose.yaml ships (deploy/haproxy.cfg): migrations run once when both start
 * together; events made through one replica reach /ws and SSE clients of the other; a background
 * loop's lock held by a replica that is killed passes to the other; a replica killed under load
 * loses no request HAProxy could retry.
 */

const HAPROXY_CFG = fileURLToPath(new URL('../../../../deploy/haproxy.cfg', import.meta.url));
const admin = { authorization: `Bearer ${PROCESS_ADMIN_TOKEN}`, 'content-type': 'application/json' };

/** A counter of a replica's /metrics, summed over the series whose labels include `labels`. */
async function metric(url: string, name: string, labels: string[]): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('two replicas behind HAProxy', () => {
  let tdb: TestDb;
  let redis: PrivateRedis;
  let a: PlatformProcess;
  let b: PlatformProcess;
  let haproxy: ChildProcess;
  let lb: string;

  beforeAll(async () => {
    [tdb, redis] = await Promise.all([freshDb('postgres'), startPrivateRedis()]);
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-replicas-'));
    const env = { DATABASE_URL: tdb.url!, REDIS_URL: redis.url, MOLECULE_DATA_DIR: dataDir, MOLECULE_PROVISIONER: 'none' };
    // Both start at once on an empty database.
    [a, b] = await Promise.all([startPlatformProcess(await freePort(), env), startPlatformProcess(await freePort(), env)]);
    const lbPort = await freePort();
    lb = `http://127.0.0.1:${lbPort}`;
    haproxy = spawn(existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy', ['-f', HAPROXY_CFG, '-db'], {
      env: { ...process.env, MOLECULE_LB_BIND: `127.0.0.1:${lbPort}`, MOLECULE_REPLICA_A: a.url.slice('http://'.length), MOLECULE_REPLICA_B: b.url.slice('http://'.length) },
      stdio: 'ignore',
    });
    await waitHealthy(lb);
  }, 90_000);

  afterAll(async () => {
    haproxy?.kill('SIGKILL');
    await Promise.all([a?.kill(), b?.kill()]);
    await redis?.close();
    await tdb?.drop();
  });

  it('migrations ran once, on one replica, though both started together', async () => {
    const applied = [a, b].map((p) => p.output().split('\n').filter((l) => l.includes('"migrations applied"')).length);
    expect(applied.sort()).toEqual([0, 1]);
    const versions = (await tdb.db.query<{ version: number; n: number }>('SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version')).rows;
    expect(versions.length).toBeGreaterThan(5);
    expect(versions.every((v) => v.n === 1)).toBe(true);
  });

  it('an event made through replica A reaches /ws and SSE clients of replica B; HAProxy serves both', async () => {
    const ws = await openWs(b.url, { authorization: admin.authorization });
    const created = await fetch(`${a.url}/workspaces`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'across', runtime: 'external' }) });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    await ws.events.until((es) => (es.some((e) => e.type === 'WORKSPACE_CREATED' && e.workspace_id === id) ? true : undefined), 'WORKSPACE_CREATED on B');

    const sse = await openSse(b.url, `/workspaces/${id}/events/stream`, { authorization: admin.authorization });
    expect(sse.status).toBe(200);
    if (sse.status !== 200 || !('frames' in sse)) throw new Error('no stream');
    const patched = await fetch(`${a.url}/workspaces/${id}`, { method: 'PATCH', headers: admin, body: JSON.stringify({ role: 'seen on B' }) });
    expect(patched.status).toBe(200);
    await sse.frames.until((fs) => (fs.some((f) => f.event?.type === 'WORKSPACE_UPDATED') ? true : undefined), 'WORKSPACE_UPDATED over SSE on B');
    sse.close();
    await ws.close();

    // Round robin: requests through HAProxy reach both replicas.
    const before = await Promise.all([a, b].map((p) => metric(p.url, 'molecule_http_request_duration_seconds_count', ['route="/workspaces/:id"'])));
    for (let i = 0; i < 10; i++) expect((await fetch(`${lb}/workspaces/${id}`, { headers: admin })).status).toBe(200);
    const after = await Promise.all([a, b].map((p) => metric(p.url, 'molecule_http_request_duration_seconds_count', ['route="/workspaces/:id"'])));
    expect(after[0]! - before[0]!).toBeGreaterThan(0);
    expect(after[1]! - before[1]!).toBeGreaterThan(0);
  });

  it('a replica killed under load: every request through HAProxy is answered, and the loops carry on on the other', async () => {
    const created = await fetch(`${lb}/workspaces`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'load', runtime: 'external' }) });
    const id = ((await created.json()) as { id: string }).id;
    const statuses: number[] = [];
    let load = true;
    const worker = async () => {
      while (load) {
        const r = await fetch(`${lb}/workspaces/${id}`, { headers: admin }).catch(() => undefined);
        statuses.push(r?.status ?? 0);
        await r?.arrayBuffer();
      }
    };
    const limit = pLimit(4);
    const workers = Promise.all([0, 1, 2, 3].map(() => limit(worker)));
    await new Promise((res) => setTimeout(res, 500));
    const ranOnB = await metric(b.url, 'molecule_loop_passes_total', ['loop="a2a-queue"', 'outcome="ran"']);
    await a.kill();
    await new Promise((res) => setTimeout(res, 3000));
    load = false;
    await workers;
    expect(statuses.length).toBeGreaterThan(100);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    // The queue loop (every 5 s) keeps running: on B, now the only replica, whatever A held.
    await expect.poll(() => metric(b.url, 'molecule_loop_passes_total', ['loop="a2a-queue"', 'outcome="ran"']), { timeout: 15_000, interval: 500 }).toBeGreaterThanOrEqual(ranOnB + 2);
  }, 60_000);
});
