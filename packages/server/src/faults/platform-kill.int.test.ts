import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESENT_AFTER_CRASH } from '../a2a/queue-repo.js';
import { freePort } from '../net/free-port.js';
import { freshDb, type TestDb } from '../test-support/harness.js';
import { AGENT_BIN, PROCESS_ADMIN_TOKEN as ADMIN, startPlatformProcess, type PlatformProcess } from '../test-support/platform-process.js';
import { startPrivateRedis, type PrivateRedis } from '../test-support/private-services.js';

/**
 * `kill -9` of the platform while 500 A2A messages stream to a real molecule-agent that is busy
 * part of the time (two task slots, eight paced senders): the busy half goes through the durable
 * queue, the rest straight through. The senders retry what the crash cut off with the same
 * messageId, as A2A clients should; the restarted platform re-sends the queue deliveries the crash
 * interrupted (the agent declares idempotent messageIds). Every message is processed by the agent
 * exactly once, none is lost.
 */

const MESSAGES = 500;
const SENDERS = 8;
const KILL_AFTER = 150;
const BURST = 60;

describe('fault: the platform killed (SIGKILL) under A2A traffic', () => {
  let tdb: TestDb;
  let redis: PrivateRedis;
  let platform: PlatformProcess | undefined;
  let agent: ChildProcess | undefined;
  let port: number;
  let base: string;
  let dataDir: string;
  let agentLog = '';
  const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };

  const startPlatform = async () => {
    platform = await startPlatformProcess(port, { DATABASE_URL: tdb.url!, REDIS_URL: redis.url, MOLECULE_DATA_DIR: dataDir, MOLECULE_PROVISIONER: 'none', LOG_LEVEL: 'warn' });
  };

  /** message_id of every task the agent admitted, from its JSON log. */
  const executed = (): string[] =>
    agentLog
      .split('\n')
      .filter((l) => l.includes('"message accepted"'))
      .map((l) => (JSON.parse(l) as { message_id: string }).message_id);

  beforeAll(async () => {
    [tdb, redis] = await Promise.all([freshDb('postgres'), startPrivateRedis()]);
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-fault-kill-'));
  }, 60_000);

  afterAll(async () => {
    agent?.kill('SIGKILL');
    await platform?.kill();
    await redis?.close();
    await tdb?.drop();
  });

  it('every message reaches the agent exactly once across the crash', async () => {
    await startPlatform();
    const created = await fetch(`${base}/workspaces`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'target', runtime: 'external' }) });
    expect(created.status).toBe(201);
    const ws = (await created.json()) as { id: string; connection: { auth_token: string } };

    const configs = await mkdtemp(path.join(os.tmpdir(), 'molecule-fault-agent-'));
    await writeFile(
      path.join(configs, 'config.yaml'),
      // The burst's messages take longer, so a queue delivery is in flight for a while around the crash.
      'name: Target\nadapter: script\nmax_concurrent_tasks: 2\nscript:\n' +
        '  - match: "^b-"\n    steps: [{ delay_ms: 300 }, { reply: "done: {{input}}" }]\n' +
        '  - steps: [{ delay_ms: 50 }, { reply: "done: {{input}}" }]\n',
    );
    const agentPort = await freePort();
    agent = spawn(process.execPath, [AGENT_BIN], {
      env: {
        ...process.env,
        PORT: String(agentPort),
        HOST: '127.0.0.1',
        PLATFORM_URL: base,
        WORKSPACE_ID: ws.id,
        MOLECULE_WORKSPACE_TOKEN: ws.connection.auth_token,
        MOLECULE_WORKSPACE_URL: `http://127.0.0.1:${agentPort}`,
        MOLECULE_CONFIGS_DIR: configs,
        MOLECULE_HEARTBEAT_INTERVAL_SECONDS: '2',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    agent.stdout!.on('data', (d) => (agentLog += String(d)));
    const status = async () => ((await (await fetch(`${base}/workspaces/${ws.id}`, { headers: admin })).json()) as { status: string }).status;
    await expect.poll(status, { timeout: 30_000, interval: 200 }).toBe('online');

    // Eight senders; each message is retried with its own messageId until the platform answers it.
    const ids = Array.from({ length: MESSAGES }, () => randomUUID());
    const outcomes = new Map<number, number>();
    // Messages with at least one attempt the crash cut off: such an attempt may have been queued
    // before the platform died, and its retry then answered 200 (or 202 on a second queue row).
    let retried = 0;
    let answered = 0;
    let killed: Promise<void> | undefined;
    const sendOne = async (i: number) => {
      // Paced below the agent's capacity, so it is free for most messages; a burst around the
      // crash fills the queue, so the crash interrupts queue deliveries as well as direct ones.
      const burst = i >= KILL_AFTER && i < KILL_AFTER + BURST;
      if (!burst) await new Promise((res) => setTimeout(res, Math.random() * 1200));
      const text = `${burst ? 'b' : 'm'}-${i}`;
      const body = JSON.stringify({ jsonrpc: '2.0', id: i, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: ids[i], parts: [{ kind: 'text', text }] } } });
      for (let attempt = 0; ; attempt++) {
        if (attempt === 1) retried++;
        const r = await fetch(`${base}/workspaces/${ws.id}/a2a`, { method: 'POST', headers: admin, body, signal: AbortSignal.timeout(30_000) }).catch(() => undefined);
        if (r && (r.status === 200 || r.status === 202)) {
          await r.arrayBuffer();
          outcomes.set(r.status, (outcomes.get(r.status) ?? 0) + 1);
          break;
        }
        await r?.arrayBuffer();
        await new Promise((res) => setTimeout(res, 200));
      }
      if (++answered === KILL_AFTER) {
        killed = (async () => {
          // Killed while the queue has a delivery in flight. The delivery can still finish between
          // the look and the kill: what the dead process left dispatched says whether it was
          // interrupted, and if not, the platform is killed again at the next delivery.
          for (let crash = 1; ; crash++) {
            await expect.poll(dispatched, { timeout: 20_000, interval: 5 }).toBeGreaterThan(0);
            await platform!.kill();
            const interrupted = await dispatched();
            await startPlatform();
            if (interrupted > 0) return;
            if (crash === 5) throw new Error('five crashes in a row came just after the queue delivery they were aimed at had finished');
          }
        })();
      }
    };
    const dispatched = async () => (await tdb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM a2a_queue WHERE status = 'dispatched'`)).rows[0]!.n;
    const limit = pLimit(SENDERS);
    await Promise.all(ids.map((_, i) => limit(() => sendOne(i))));
    await killed;
    // Both paths were taken: straight through and through the queue.
    expect(outcomes.get(200)).toBeGreaterThan(50);
    expect(outcomes.get(202)).toBeGreaterThan(50);

    // Queued and interrupted deliveries drain (an interrupted one once its process is known dead).
    await expect.poll(() => new Set(executed()).size, { timeout: 90_000, interval: 500 }).toBe(MESSAGES);
    const counts = new Map<string, number>();
    for (const id of executed()) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(ids.filter((id) => !counts.has(id))).toEqual([]);
    // Every queue item ends delivered; the ones the crash interrupted were re-sent (the agent answered
    // them from its first delivery, so the counts above did not move).
    // Rows: one per 202, plus at most one per message whose cut-off attempt was queued before the
    // crash (its client never saw that 202; the agent still ran it once, by messageId).
    const queueRows = async () => (await tdb.db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM a2a_queue GROUP BY status')).rows;
    await expect.poll(async () => (await queueRows()).map((r) => r.status), { timeout: 90_000, interval: 500 }).toEqual(['completed']);
    const completed = (await queueRows())[0]!.n;
    expect(completed).toBeGreaterThanOrEqual(outcomes.get(202)!);
    expect(completed).toBeLessThanOrEqual(outcomes.get(202)! + retried);
    const resent = await tdb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM a2a_queue WHERE last_error = $1', [RESENT_AFTER_CRASH]);
    expect(resent.rows[0]!.n).toBeGreaterThan(0);
  }, 240_000);
});
