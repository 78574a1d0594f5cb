/**
 * bench/a2a-queue: does the A2A busy queue deliver every message exactly once, and how soon after
 * the target frees up does the next queued message reach it?
 *
 * The target is bench/busy-agent.ts (a child process): an external push workspace's agent with
 * BENCH_QUEUE_SLOTS task slots (2) whose tasks take a random 0..BENCH_QUEUE_TASK_MS ms (20), refusing
 * with the JSON-RPC busy error when every slot is taken. It registers itself and heartbeats every
 * few seconds with its active task count, so the heartbeat-driven drain runs beside the drain the
 * end of each exchange starts and the periodic sweep. BENCH_QUEUE_MESSAGES messages (10,000), each
 * with its own messageId, go through `POST /workspaces/:id/a2a` (admin bearer) with
 * BENCH_QUEUE_CONCURRENCY in flight (32): a free slot answers 200 at once, a busy agent makes the
 * proxy queue the message (202) and deliver it later. The bench then waits, up to
 * BENCH_QUEUE_DEADLINE seconds (600), until no queue item is waiting or being delivered.
 *
 * It prints what was sent, delivered directly, queued, delivered from the queue, failed or expired;
 * what the agent actually completed (every messageId it ran, so duplicates and losses are counted
 * on the receiving side, not taken from the platform's word); and the latency from a slot freeing
 * up to the next queued message taking it, timed on the agent's clock (each task taken is paired
 * with the longest-free slot; only pairs where a queued message took the slot are counted).
 * Targets: delivered = sent, 0 duplicates, p50 free -> delivery < 50 ms.
 *
 * Runs on real PostgreSQL + Redis only (withBenchPostgres): `npm run bench`, or after a build
 * `bash -c '. scripts/services.sh; svc_start; node --import tsx bench/a2a-queue.ts'`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { QueueStatus } from '@molecule/contracts';
import { api, intEnv, launch, launchPlatform, percentile, pool, print, printTable, ROOT, runBench, sleep, withBenchPostgres, type Env } from './support.js';
import { freePort } from '@molecule/server/testing';

const SERVER_BIN = path.join(ROOT, 'packages/server/dist/bin.js');
const BUSY_AGENT = fileURLToPath(new URL('./busy-agent.ts', import.meta.url));

const MESSAGES = intEnv('BENCH_QUEUE_MESSAGES', 10_000);
const CONCURRENCY = intEnv('BENCH_QUEUE_CONCURRENCY', 32);
const SLOTS = intEnv('BENCH_QUEUE_SLOTS', 2);
const TASK_MAX_MS = intEnv('BENCH_QUEUE_TASK_MS', 20);
const HEARTBEAT_MS = intEnv('BENCH_QUEUE_HEARTBEAT_MS', 3000);
const DEADLINE_S = intEnv('BENCH_QUEUE_DEADLINE', 600);
const LATENCY_TARGET_MS = 50;
const ADMIN_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const RUN = randomBytes(4).toString('hex');

interface Stats {
  /** [epoch ms, messageId] when a task took a slot, [epoch ms] when a slot freed; in order. */
  events: ([number, string] | [number])[];
  completed: string[];
  refused: number;
  in_flight: number;
}

interface Sent {
  direct: number;
  queued: Set<string>;
  other: Map<string, number>;
  otherSamples: string[];
  seconds: number;
  /** Epoch ms of the last answer, on the same clock as the agent's events. */
  endedAt: number;
}

function message(i: number): { messageId: string; body: string } {
  const messageId = `queue-${RUN}-${i}`;
  return {
    messageId,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: i,
      method: 'message/send',
      params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text: `task ${i}` }] } },
    }),
  };
}

/** Sends every message through the proxy with CONCURRENCY in flight and sorts the answers. */
async function sendAll(base: string, workspaceId: string): Promise<Sent> {
  const out: Sent = { direct: 0, queued: new Set(), other: new Map(), otherSamples: [], seconds: 0, endedAt: 0 };
  const t0 = performance.now();
  await pool(
    Array.from({ length: MESSAGES }, (_, i) => i),
    CONCURRENCY,
    async (i) => {
      const m = message(i);
      const res = await fetch(`${base}/workspaces/${workspaceId}/a2a`, { method: 'POST', headers: AUTH, body: m.body });
      const text = await res.text();
      if (res.status === 200) out.direct++;
      else if (res.status === 202 && (JSON.parse(text) as { queued?: unknown }).queued === true) out.queued.add(m.messageId);
      else {
        out.other.set(m.messageId, res.status);
        if (out.otherSamples.length < 5) out.otherSamples.push(`${res.status} ${text.slice(0, 200)}`);
      }
    },
  );
  out.seconds = (performance.now() - t0) / 1000;
  out.endedAt = performance.timeOrigin + performance.now();
  return out;
}

type QueueCounts = Partial<Record<QueueStatus, number>>;

async function queueCounts(c: pg.Client, workspaceId: string): Promise<QueueCounts> {
  const r = await c.query<{ status: QueueStatus; n: number }>('SELECT status, count(*)::int AS n FROM a2a_queue WHERE workspace_id = $1 GROUP BY status', [workspaceId]);
  return Object.fromEntries(r.rows.map((x) => [x.status, x.n]));
}

/** Queued -> completed, in ms, of every delivered queue item of the target. */
async function timesInQueue(c: pg.Client, workspaceId: string): Promise<number[]> {
  const r = await c.query<{ ms: number }>(
    'SELECT (extract(epoch FROM completed_at - created_at) * 1000)::float8 AS ms FROM a2a_queue WHERE workspace_id = $1 AND status = $2',
    [workspaceId, QueueStatus.Completed],
  );
  return r.rows.map((x) => x.ms);
}

/** Polls until nothing is queued or being delivered; returns the counts and how long it took. */
async function untilDrained(c: pg.Client, workspaceId: string): Promise<{ counts: QueueCounts; seconds: number; drained: boolean }> {
  const t0 = performance.now();
  let lastReport = t0;
  for (;;) {
    const counts = await queueCounts(c, workspaceId);
    const waiting = (counts[QueueStatus.Queued] ?? 0) + (counts[QueueStatus.Dispatched] ?? 0);
    const seconds = (performance.now() - t0) / 1000;
    if (waiting === 0) return { counts, seconds, drained: true };
    if (seconds > DEADLINE_S) return { counts, seconds, drained: false };
    if (performance.now() - lastReport > 10_000) {
      print(`  ${waiting} queue items still waiting after ${seconds.toFixed(0)} s`);
      lastReport = performance.now();
    }
    await sleep(200);
  }
}

/**
 * Free -> delivery latencies, as [when, ms]: every task taken is paired with the slot that has been
 * free longest; the gap counts when the task was a queued message (the initial free slots are not
 * counted).
 */
function freeToDelivery(events: Stats['events'], queued: ReadonlySet<string>): [number, number][] {
  const free: (number | undefined)[] = Array.from({ length: SLOTS }, () => undefined);
  const out: [number, number][] = [];
  for (const e of events) {
    if (e.length === 1) {
      free.push(e[0]);
      continue;
    }
    const since = free.shift();
    if (since !== undefined && queued.has(e[1])) out.push([e[0], e[0] - since]);
  }
  return out;
}

async function main(): Promise<void> {
  if (!existsSync(SERVER_BIN)) throw new Error(`${path.relative(ROOT, SERVER_BIN)} is missing: run \`npm run build\` (npm run bench does)`);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  print(`bench/a2a-queue  node ${process.version}, ${os.cpus().length} CPUs (${cpu}), ${os.platform()}`);
  print(
    `${MESSAGES} message/send through the proxy, ${CONCURRENCY} in flight, to an agent with ${SLOTS} slot(s) and tasks of 0-${TASK_MAX_MS} ms, heartbeating every ${HEARTBEAT_MS} ms`,
  );
  const busy = os.loadavg()[0]!;
  if (busy > os.cpus().length / 2) print(`warning: load average ${busy.toFixed(1)} before the run; other work on this machine will skew these figures`);
  print();
  await withBenchPostgres(({ url, redisUrl, env }) => run(url, redisUrl ? 'PostgreSQL + Redis' : 'PostgreSQL', env));
}

async function run(databaseUrl: string, title: string, env: Env): Promise<void> {
  const { proc, base, dataDir } = await launchPlatform(ADMIN_TOKEN, env, 'molecule-bench-queue-');
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const ws = await api(base, 'POST', '/workspaces', AUTH, { name: 'busy-bench', runtime: 'external', delivery_mode: 'push', max_concurrent_tasks: SLOTS });
    const workspaceId = ws.id as string;
    const port = await freePort();
    // process.execArgv carries `--import tsx`, which runs the .ts child the way it runs us.
    const agent = launch(process.execPath, [...process.execArgv, BUSY_AGENT], {
      ...process.env,
      PORT: String(port),
      BUSY_SLOTS: String(SLOTS),
      BUSY_TASK_MAX_MS: String(TASK_MAX_MS),
      HEARTBEAT_MS: String(HEARTBEAT_MS),
      PLATFORM_URL: base,
      WORKSPACE_ID: workspaceId,
      MOLECULE_WORKSPACE_TOKEN: (ws.connection as { auth_token: string }).auth_token,
    });
    const deadline = performance.now() + 60_000;
    for (;;) {
      if (agent.exited() || performance.now() > deadline) throw new Error(`the busy agent did not come online:\n${agent.output()}`);
      const w = await api(base, 'GET', `/workspaces/${workspaceId}`, AUTH);
      if (agent.output().includes('ready') && w.status === 'online' && w.url !== '') break;
      await sleep(50);
    }
    print(`${title}: sending`);
    const sent = await sendAll(base, workspaceId);
    print(`  sent in ${sent.seconds.toFixed(1)} s; waiting for the queue to drain (deadline ${DEADLINE_S} s)`);
    const drain = await untilDrained(c, workspaceId);
    const waited = await timesInQueue(c, workspaceId);
    const stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as Stats;
    await agent.stop();
    report(title, sent, drain, stats, waited);
  } finally {
    await c.end();
    await proc.stop();
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

function report(title: string, sent: Sent, drain: Awaited<ReturnType<typeof untilDrained>>, stats: Stats, waited: number[]): void {
  const ids = new Set(Array.from({ length: MESSAGES }, (_, i) => message(i).messageId));
  const ran = new Set(stats.completed);
  const delivered = [...ids].filter((id) => ran.has(id)).length;
  const duplicates = stats.completed.length - ran.size;
  const foreign = [...ran].filter((id) => !ids.has(id)).length;
  const n = (s: QueueStatus) => drain.counts[s] ?? 0;
  const queueRows = Object.values(drain.counts).reduce((a, b) => a + b, 0);
  const pairs = freeToDelivery(stats.events, sent.queued);
  const lat = pairs.map(([, v]) => v);
  const during = pairs.filter(([t]) => t <= sent.endedAt).map(([, v]) => v);
  const after = pairs.filter(([t]) => t > sent.endedAt).map(([, v]) => v);
  const f = (v: number) => (Number.isNaN(v) ? 'n/a' : `${v.toFixed(1)} ms`);
  const sec = (v: number) => (Number.isNaN(v) ? 'n/a' : `${(v / 1000).toFixed(1)} s`);
  const spread = (xs: number[], fmt = f) => `${fmt(percentile(xs, 50))} / ${fmt(percentile(xs, 90))} / ${fmt(percentile(xs, 99))} / ${fmt(xs.length ? Math.max(...xs) : NaN)}`;

  print();
  print(`${title}: ${MESSAGES} messages to a randomly busy agent through the proxy`);
  printTable(
    ['measure', 'value'],
    [
      ['sent', String(MESSAGES)],
      ['  answered 200: delivered directly', String(sent.direct)],
      ['  answered 202: queued', String(sent.queued.size)],
      ['  any other answer', String(sent.other.size)],
      ['queue items (rows for this target)', String(queueRows)],
      ['  completed: delivered from the queue', String(n(QueueStatus.Completed))],
      ['  failed', String(n(QueueStatus.Failed))],
      ['  expired / dropped', `${n(QueueStatus.Expired)} / ${n(QueueStatus.Dropped)}`],
      ['  still queued / being delivered at the end', `${n(QueueStatus.Queued)} / ${n(QueueStatus.Dispatched)}`],
      ['delivered: distinct sent messageIds the agent completed', String(delivered)],
      ['duplicates: completions beyond the first', String(duplicates)],
      ['lost: sent, never completed', String(MESSAGES - delivered)],
      ['busy refusals by the agent (a queued answer is either a refusal or queued behind waiting messages)', String(stats.refused)],
      ['send phase', `${sent.seconds.toFixed(1)} s (${(MESSAGES / sent.seconds).toFixed(0)} msg/s answered by the proxy)`],
      ['queue drained after the last send', drain.drained ? `${drain.seconds.toFixed(1)} s` : `NOT drained within ${DEADLINE_S} s`],
      [`free -> next queued delivery, p50 / p90 / p99 / max (${lat.length} deliveries)`, spread(lat)],
      [`  while messages were still being sent (${during.length})`, spread(during)],
      [`  after the last send: the drain alone (${after.length})`, spread(after)],
      ['time in the queue (queued -> completed), p50 / p90 / p99 / max', spread(waited, sec)],
    ],
  );
  if (sent.otherSamples.length > 0) print(`other answers, first ${sent.otherSamples.length}: ${sent.otherSamples.join(' | ')}`);
  if (foreign > 0) print(`warning: the agent completed ${foreign} messageIds the bench never sent`);
  print();
  print(`delivered = sent: ${delivered === MESSAGES ? 'met' : 'NOT met'} (${delivered}/${MESSAGES})`);
  print(`duplicates = 0: ${duplicates === 0 ? 'met' : 'NOT met'} (${duplicates})`);
  const p50 = percentile(lat, 50);
  print(`free -> delivery p50 target < ${LATENCY_TARGET_MS} ms: ${p50 < LATENCY_TARGET_MS ? 'met' : 'NOT met'} (${f(p50)})`);
}

await runBench(main);
