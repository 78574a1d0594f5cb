/**
 * bench/scheduler: do 1,000 schedules due in the same minute each fire exactly once, within 5 s of
 * their time?
 *
 * The built platform runs as a child process on real PostgreSQL (+ Redis when TEST_REDIS_URL is
 * set). BENCH_SCHED_WORKSPACES external push workspaces (50) register one loopback agent (a plain
 * node:http server in this process that answers every `message/send` at once with a completed
 * task and records, per messageId, when it arrived) and heartbeat every 10 s. BENCH_SCHED_COUNT
 * schedules (1,000) are spread over them through `POST /workspaces/:id/schedules`, all with the
 * cron expression of one UTC minute at least 25 s ahead. The bench then waits until every firing
 * arrived or BENCH_SCHED_DEADLINE seconds (60) after that minute passed.
 *
 * Lateness is the agent's arrival time minus the cron time (both epoch ms on this machine). It
 * prints p50 / p99 / max lateness, how many schedules fired (distinct messageIds that arrived, each
 * the deterministic `schedule:<id>:<cron time>`), duplicates (arrivals beyond the first per
 * messageId) and what the history says; then the ratio of p99 and max to the 5 s target.
 *
 * Runs on real PostgreSQL only (withBenchPostgres): `npm run bench`, or after a build
 * `bash -c '. scripts/services.sh; svc_start; node --import tsx bench/scheduler.ts'`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { api, intEnv, launchPlatform, percentile, pool, print, printTable, ROOT, runBench, sleep, withBenchPostgres, type Env } from './support.js';

const SERVER_BIN = path.join(ROOT, 'packages/server/dist/bin.js');
const COUNT = intEnv('BENCH_SCHED_COUNT', 1000);
const WORKSPACES = intEnv('BENCH_SCHED_WORKSPACES', 50);
const DEADLINE_S = intEnv('BENCH_SCHED_DEADLINE', 60);
const TARGET_MS = 5000;
const ADMIN_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const now = () => performance.timeOrigin + performance.now();

/** The loopback agent: answers at once, records the first arrival time and the count of each messageId. */
async function startAgent() {
  const arrivals = new Map<string, { first: number; count: number }>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = now();
      const rpc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; params?: { message?: { messageId?: string } } };
      const id = rpc.params?.message?.messageId;
      if (typeof id === 'string') {
        const a = arrivals.get(id);
        if (a) a.count++;
        else arrivals.set(id, { first: at, count: 1 });
      }
      const body = JSON.stringify({
        jsonrpc: '2.0',
        id: rpc.id ?? null,
        result: { kind: 'task', id: randomBytes(8).toString('hex'), contextId: 'bench', status: { state: 'completed', message: { kind: 'message', role: 'agent', messageId: 'r', parts: [{ kind: 'text', text: 'done' }] } } },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

async function main(): Promise<void> {
  if (!existsSync(SERVER_BIN)) throw new Error(`${path.relative(ROOT, SERVER_BIN)} is missing: run \`npm run build\` (npm run bench does)`);
  print(`bench/scheduler  node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${os.platform()}`);
  print(`${COUNT} schedules over ${WORKSPACES} workspaces, all due in the same minute; target: each fires once, within ${TARGET_MS / 1000} s of its time`);
  const load = os.loadavg()[0]!;
  if (load > os.cpus().length / 2) print(`warning: load average ${load.toFixed(1)} before the run; other work on this machine will skew these figures`);
  print();
  await withBenchPostgres(({ url, redisUrl, env }) => run(url, redisUrl ? 'PostgreSQL + Redis' : 'PostgreSQL', env));
}

async function run(databaseUrl: string, title: string, env: Env): Promise<void> {
  const { proc, base, dataDir } = await launchPlatform(ADMIN_TOKEN, env, 'molecule-bench-sched-');
  const agent = await startAgent();
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  let beats: NodeJS.Timeout | undefined;
  try {
    const workspaces: { id: string; token: string }[] = [];
    await pool(Array.from({ length: WORKSPACES }, (_, i) => i), 8, async (i) => {
      const ws = await api(base, 'POST', '/workspaces', AUTH, { name: `sched-bench-${i}`, runtime: 'external', delivery_mode: 'push' });
      const token = (ws.connection as { auth_token: string }).auth_token;
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      await api(base, 'POST', '/registry/register', headers, { id: ws.id, url: agent.url, agent_card: { name: `sched-bench-${i}`, url: agent.url, version: '1.0.0' }, delivery_mode: 'push' });
      workspaces.push({ id: ws.id as string, token });
    });
    const beat = () =>
      void pool(workspaces, 8, async (w) => {
        await api(base, 'POST', '/registry/heartbeat', { authorization: `Bearer ${w.token}`, 'content-type': 'application/json' }, { workspace_id: w.id, active_tasks: 0 });
      }).catch((err: unknown) => print(`heartbeat failed: ${String(err)}`));
    beats = setInterval(beat, 10_000);

    // One UTC minute at least 25 s ahead: every schedule is created before it comes.
    const due = new Date(Math.ceil((Date.now() + 25_000) / 60_000) * 60_000);
    const cron = `${due.getUTCMinutes()} ${due.getUTCHours()} * * *`;
    const t0 = performance.now();
    const ids: string[] = [];
    await pool(Array.from({ length: COUNT }, (_, i) => i), 16, async (i) => {
      const w = workspaces[i % workspaces.length]!;
      const s = await api(base, 'POST', `/workspaces/${w.id}/schedules`, AUTH, { name: `bench ${i}`, cron_expr: cron, timezone: 'UTC', prompt: `scheduled bench task ${i}` });
      if (s.next_run_at !== due.toISOString()) throw new Error(`schedule ${i} is due at ${String(s.next_run_at)}, not ${due.toISOString()}`);
      ids.push(s.id as string);
    });
    print(`${title}: ${COUNT} schedules created in ${((performance.now() - t0) / 1000).toFixed(1)} s ("${cron}", UTC); due at ${due.toISOString()}, waiting`);
    const expected = new Set(ids.map((id) => `schedule:${id}:${due.toISOString()}`));
    const arrived = () => [...expected].filter((m) => agent.arrivals.has(m)).length;
    while (Date.now() < due.getTime() + DEADLINE_S * 1000 && arrived() < COUNT) await sleep(100);
    // A little longer, so a late duplicate would be seen.
    await sleep(3000);

    const late = [...expected].flatMap((m) => (agent.arrivals.has(m) ? [agent.arrivals.get(m)!.first - due.getTime()] : []));
    const duplicates = [...agent.arrivals.values()].reduce((n, a) => n + a.count - 1, 0);
    const foreign = [...agent.arrivals.keys()].filter((m) => !expected.has(m)).length;
    const history = await c.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM schedule_runs GROUP BY status ORDER BY status');
    const runs = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM schedule_runs');
    const f = (v: number) => (Number.isNaN(v) ? 'n/a' : `${(v / 1000).toFixed(2)} s`);
    const p50 = percentile(late, 50);
    const p99 = percentile(late, 99);
    const max = late.length ? Math.max(...late) : NaN;
    const min = late.length ? Math.min(...late) : NaN;

    print();
    printTable(
      ['measure', 'value'],
      [
        ['schedules due', String(COUNT)],
        ['fired: distinct expected messageIds the agent received', String(late.length)],
        ['duplicates: arrivals beyond the first', String(duplicates)],
        ['unexpected messageIds', String(foreign)],
        ['history rows (schedule_runs)', `${runs.rows[0]!.n} (${history.rows.map((r) => `${r.status} ${r.n}`).join(', ')})`],
        ['lateness (arrival - cron time), min / p50 / p99 / max', `${f(min)} / ${f(p50)} / ${f(p99)} / ${f(max)}`],
        ['p99 / target (5 s)', `${(p99 / TARGET_MS).toFixed(2)}`],
        ['max / target (5 s)', `${(max / TARGET_MS).toFixed(2)}`],
      ],
    );
    print();
    print(`each fired once: ${late.length === COUNT && duplicates === 0 ? 'met' : 'NOT met'} (${late.length}/${COUNT}, ${duplicates} duplicates)`);
    print(`all within 5 s: ${max <= TARGET_MS ? 'met' : 'NOT met'} (max ${f(max)})`);
  } finally {
    if (beats) clearInterval(beats);
    await c.end();
    await agent.close();
    await proc.stop();
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

await runBench(main);
