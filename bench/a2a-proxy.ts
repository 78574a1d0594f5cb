/**
 * bench/a2a-proxy: what the A2A proxy costs on top of talking to the agent directly.
 *
 * The agent is the real `molecule-agent` (echo adapter, max_concurrent_tasks 256 so it never
 * refuses as busy) running as an external push workspace's agent: the workspace is created through
 * the API, the agent process gets its token and registers itself, and the bench waits until the
 * platform says it is online with a URL. autocannon then sends `message/send` (v0.3 shape, every
 * request with its own messageId through `setupRequest`), at 1 and at 64 connections, straight to the
 * agent and through `POST /workspaces/:id/a2a` with the admin bearer, each after a warm-up. It prints
 * requests/s, p50 and p99 of both, the proxied/direct throughput ratio (target >= 0.6x) and the p50 the
 * proxy adds (target <= 1 ms). autocannon's percentiles have 1 ms resolution, so the added p50 at one
 * connection is also measured exactly: BENCH_A2A_SAMPLES requests each way, alternating direct and
 * proxied on keep-alive connections, timed with performance.now().
 *
 * Every proxied exchange writes an `a2a_receive` activity row. After each group the bench counts
 * them (with `pg`, or by opening the PGlite data dir once the platform stopped) against the 2xx
 * answers, and every run must have had no non-2xx answer, error or timeout, so a run that silently
 * failed cannot print a good number.
 *
 * Groups: the platform on PostgreSQL + Redis (withBenchPostgres; skipped without TEST_DATABASE_URL),
 * then on PGlite (the embedded default). Platform, agent and autocannon are separate processes on
 * the same machine. Run: `npm run bench`, or after a build
 * `bash -c '. scripts/services.sh; svc_start; node --import tsx bench/a2a-proxy.ts'`.
 * Knobs: BENCH_DURATION seconds per run (8), BENCH_WARMUP seconds (2), BENCH_A2A_SAMPLES (2000),
 * BENCH_A2A_PGLITE=0 to skip the PGlite group.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { createPgliteDb, freePort } from '@molecule/server/testing';
import {
  api,
  cpuProbe,
  intEnv,
  latency,
  launch,
  launchPlatform,
  percentile,
  platformEnv,
  print,
  printTable,
  ROOT,
  runBench,
  servicePids,
  sleep,
  withBenchPostgres,
  type CpuProbe,
  type Env,
  type Proc,
} from './support.js';

const SERVER_BIN = path.join(ROOT, 'packages/server/dist/bin.js');
const AGENT_BIN = path.join(ROOT, 'packages/runtime/dist/main.js');
const ECHO_CONFIG = path.join(ROOT, 'templates/echo/config.yaml');

const DURATION_S = intEnv('BENCH_DURATION', 8);
const WARMUP_S = intEnv('BENCH_WARMUP', 2);
const SAMPLES = intEnv('BENCH_A2A_SAMPLES', 2000);
const WITH_PGLITE = process.env.BENCH_A2A_PGLITE !== '0';
const CONCURRENCIES = [1, 64] as const;
const RATIO_TARGET = 0.6;
const ADDED_P50_TARGET_MS = 1;
const AGENT_SLOTS = 256;
const ADMIN_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
/** The activity row status of a successful exchange (what the proxy writes). */
const ROW_OK = 'ok';

const RUN = randomBytes(4).toString('hex');
let sequence = 0;

/** A v0.3 `message/send` with a messageId never used before. */
function nextMessage(): string {
  const n = ++sequence;
  return JSON.stringify({
    jsonrpc: '2.0',
    id: n,
    method: 'message/send',
    params: { message: { kind: 'message', role: 'user', messageId: `bench-${RUN}-${n}`, parts: [{ kind: 'text', text: `hello ${n}` }] } },
  });
}

interface Target {
  label: string;
  base: string;
  path: string;
  headers: Record<string, string>;
}

interface Row {
  label: string;
  connections: number;
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  /** CPU time per request of each process during the measured run, when /proc is there. */
  cpuPerRequestUs?: Record<string, number>;
}

/** A warm-up then a measured autocannon run; any non-2xx, error or timeout invalidates it. Returns the row and every 2xx answered. */
async function load(t: Target, connections: number, probe: CpuProbe | undefined): Promise<{ row: Row; ok: number }> {
  const opts = {
    url: t.base,
    connections,
    requests: [{ method: 'POST' as const, path: t.path, headers: t.headers, setupRequest: (req: autocannon.Request) => ({ ...req, body: nextMessage() }) }],
  };
  const run = async (duration: number) => {
    const r = await autocannon({ ...opts, duration });
    if (r.errors > 0 || r.timeouts > 0 || r.non2xx > 0) {
      throw new Error(`${t.label}, ${connections} connections: ${r.non2xx} non-2xx answers, ${r.errors} errors, ${r.timeouts} timeouts; the run is invalid`);
    }
    return r;
  };
  const warm = await run(WARMUP_S);
  const before = probe?.();
  const r = await run(DURATION_S);
  const after = probe?.();
  const row: Row = { label: t.label, connections, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total };
  if (before && after) row.cpuPerRequestUs = Object.fromEntries(Object.keys(after).map((k) => [k, ((after[k]! - before[k]!) * 1000) / r.requests.total]));
  return { row, ok: warm['2xx'] + r['2xx'] };
}

/** POSTs on one keep-alive connection, timing each request to the microsecond. */
function timedPoster(t: Target): { post: (body: string) => Promise<{ status: number; ms: number }>; close: () => void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const u = new URL(t.base);
  const post = (body: string) =>
    new Promise<{ status: number; ms: number }>((resolve, reject) => {
      const t0 = performance.now();
      const req = http.request(
        { host: u.hostname, port: u.port, path: t.path, method: 'POST', agent, headers: { ...t.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.once('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
          res.once('error', reject);
        },
      );
      req.once('error', reject);
      req.end(body);
    });
  return { post, close: () => agent.destroy() };
}

interface Exact {
  direct: number[];
  proxied: number[];
}

/** SAMPLES requests each way, one at a time, alternating which goes first, after a short warm-up. */
async function exactLatency(direct: Target, proxied: Target): Promise<Exact> {
  const d = timedPoster(direct);
  const p = timedPoster(proxied);
  const out: Exact = { direct: [], proxied: [] };
  try {
    for (let i = 0; i < SAMPLES + 100; i++) {
      const pair = i % 2 === 0 ? [['direct', d], ['proxied', p]] as const : [['proxied', p], ['direct', d]] as const;
      for (const [which, poster] of pair) {
        const r = await poster.post(nextMessage());
        if (r.status !== 200) throw new Error(`exact latency run: ${which} answered ${r.status}`);
        if (i >= 100) out[which].push(r.ms);
      }
    }
    return out;
  } finally {
    d.close();
    p.close();
  }
}

interface Platform {
  proc: Proc;
  base: string;
  dataDir: string;
  workspaceId: string;
  agent: Proc;
  agentUrl: string;
  agentDir: string;
}

/** The echo template's config.yaml with room for every connection the bench opens. */
async function agentConfig(dir: string): Promise<void> {
  const text = await readFile(ECHO_CONFIG, 'utf8');
  const re = /^max_concurrent_tasks:.*$/m;
  if (!re.test(text)) throw new Error(`${ECHO_CONFIG} has no max_concurrent_tasks line to raise`);
  await writeFile(path.join(dir, 'config.yaml'), text.replace(re, `max_concurrent_tasks: ${AGENT_SLOTS}`));
}

/** The built platform with `extra` env, an external push workspace, and molecule-agent serving it. */
async function startPlatform(extra: Env): Promise<Platform> {
  const { proc, base, dataDir } = await launchPlatform(ADMIN_TOKEN, extra, 'molecule-bench-a2a-');
  const ws = await api(base, 'POST', '/workspaces', AUTH, { name: 'echo-bench', runtime: 'external', delivery_mode: 'push' });
  const workspaceId = ws.id as string;
  const token = (ws.connection as { auth_token: string }).auth_token;
  const agentDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-bench-a2a-agent-'));
  await agentConfig(agentDir);
  const agent = launch(
    process.execPath,
    [AGENT_BIN],
    platformEnv({
      WORKSPACE_ID: workspaceId,
      PLATFORM_URL: base,
      MOLECULE_WORKSPACE_TOKEN: token,
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      MOLECULE_CONFIGS_DIR: agentDir,
      MOLECULE_WORKSPACE_DIR: agentDir,
      LOG_LEVEL: 'warn',
    }),
  );
  const deadline = performance.now() + 60_000;
  for (;;) {
    if (agent.exited()) throw new Error(`molecule-agent exited before it came online:\n${agent.output()}`);
    const w = await api(base, 'GET', `/workspaces/${workspaceId}`, AUTH);
    if (w.status === 'online' && typeof w.url === 'string' && w.url !== '') {
      return { proc, base, dataDir, workspaceId, agent, agentUrl: w.url, agentDir };
    }
    if (performance.now() > deadline) throw new Error(`workspace not online with a URL after 60 s (status ${String(w.status)}):\n${agent.output()}`);
    await sleep(50);
  }
}

async function stopPlatform(p: Platform): Promise<void> {
  await p.agent.stop();
  await p.proc.stop();
  await rm(p.agentDir, { recursive: true, force: true });
  await rm(p.dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
}

interface RowCount {
  ok: number;
  other: number;
}

const COUNT_SQL = `SELECT count(*) FILTER (WHERE status = $2)::int AS ok, count(*) FILTER (WHERE status <> $2)::int AS other
                     FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'a2a_receive'`;

interface Group {
  title: string;
  rows: Row[];
  exact: Exact;
  proxied2xx: number;
  activity: RowCount;
}

/**
 * One platform's group. `countRows` reads the workspace's a2a_receive rows once the platform has
 * had its chance to write them (it gets the platform so the PGlite group can stop it first).
 */
async function benchGroup(
  title: string,
  extra: Env,
  countRows: (p: Platform, expected: number) => Promise<RowCount>,
  services: () => Promise<Record<string, number>> = async () => ({}),
): Promise<Group> {
  print(`${title}: starting the platform and molecule-agent`);
  const p = await startPlatform(extra);
  try {
    const probe = cpuProbe({ agent: p.agent.child.pid!, server: p.proc.child.pid!, ...(await services()) });
    const agentUrl = new URL(p.agentUrl);
    const direct: Target = { label: 'direct to molecule-agent', base: agentUrl.origin, path: agentUrl.pathname, headers: { 'content-type': 'application/json' } };
    const proxied: Target = { label: 'through the proxy', base: p.base, path: `/workspaces/${p.workspaceId}/a2a`, headers: AUTH };
    const rows: Row[] = [];
    let proxied2xx = 0;
    for (const c of CONCURRENCIES) {
      rows.push((await load(direct, c, probe)).row);
      const r = await load(proxied, c, probe);
      rows.push(r.row);
      proxied2xx += r.ok;
    }
    const exact = await exactLatency(direct, proxied);
    proxied2xx += exact.proxied.length + 100; // the exact run's warm-up went through the proxy too
    const activity = await countRows(p, proxied2xx);
    // A proxied request autocannon abandoned at the end of a run may still have reached the agent.
    const slack = 2 * CONCURRENCIES.reduce((a, b) => a + b, 0);
    if (activity.other > 0 || activity.ok < proxied2xx || activity.ok > proxied2xx + slack) {
      throw new Error(`${title}: ${activity.ok} ok and ${activity.other} other a2a_receive rows for ${proxied2xx} proxied 2xx answers; the run is invalid`);
    }
    print(`  ${activity.ok} a2a_receive activity rows (status ok) for ${proxied2xx} proxied 2xx answers; 0 non-2xx`);
    return { title, rows, exact, proxied2xx, activity };
  } finally {
    await stopPlatform(p);
  }
}

/** Polls the PostgreSQL rows until they reach `expected` (they are written off the response path) or stop growing. */
async function countPg(url: string, workspaceId: string, expected: number): Promise<RowCount> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    let last: RowCount = { ok: -1, other: 0 };
    const deadline = performance.now() + 30_000;
    for (;;) {
      const r = (await c.query<RowCount>(COUNT_SQL, [workspaceId, ROW_OK])).rows[0]!;
      if (r.ok >= expected || r.ok === last.ok || performance.now() > deadline) return r;
      last = r;
      await sleep(500);
    }
  } finally {
    await c.end();
  }
}

/** Stops the agent and the platform (a graceful stop flushes its activity writes), then reads the PGlite data dir. */
async function countPglite(p: Platform): Promise<RowCount> {
  await p.agent.stop();
  await p.proc.stop();
  const db = await createPgliteDb(path.join(p.dataDir, 'pgdata'));
  try {
    return (await db.query<RowCount>(COUNT_SQL, [p.workspaceId, ROW_OK])).rows[0]!;
  } finally {
    await db.close();
  }
}

const exactMs = (v: number) => `${v.toFixed(2)} ms`;

async function main(): Promise<void> {
  for (const f of [SERVER_BIN, AGENT_BIN]) {
    if (!existsSync(f)) throw new Error(`${path.relative(ROOT, f)} is missing: run \`npm run build\` (npm run bench does)`);
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  print(`bench/a2a-proxy  node ${process.version}, ${os.cpus().length} CPUs (${cpu}), ${os.platform()}`);
  print(`load: autocannon, message/send (v0.3, unique messageIds) at ${CONCURRENCIES.join(' and ')} connections, ${WARMUP_S} s warm-up + ${DURATION_S} s per run; echo molecule-agent; same machine`);
  const busy = os.loadavg()[0]!;
  if (busy > os.cpus().length / 2) print(`warning: load average ${busy.toFixed(1)} before the run; other work on this machine will skew these figures`);
  print();

  const groups: Group[] = [];
  const pgGroup = await withBenchPostgres(({ url, redisUrl, env }) =>
    benchGroup(redisUrl ? 'PostgreSQL + Redis' : 'PostgreSQL', env, (p, expected) => countPg(url, p.workspaceId, expected), () => servicePids(url, redisUrl)),
  );
  if (pgGroup) groups.push(pgGroup);
  if (WITH_PGLITE) groups.push(await benchGroup('PGlite (embedded default)', {}, (p) => countPglite(p)));
  print();

  print('message/send to an echo agent: direct vs through POST /workspaces/:id/a2a (admin bearer, activity rows written)');
  const table: string[][] = [];
  for (const g of groups) {
    table.push([g.title, '', '', '', '', '', '']);
    for (let i = 0; i < g.rows.length; i += 2) {
      const [d, p] = [g.rows[i]!, g.rows[i + 1]!];
      for (const r of [d, p]) {
        table.push([`  ${r.label}`, String(r.connections), r.rps.toFixed(0), latency(r.p50), latency(r.p99), String(r.requests), r === p ? `${(p.rps / d.rps).toFixed(2)}x` : '']);
      }
    }
  }
  printTable(['target', 'connections', 'req/s', 'p50', 'p99', 'requests', 'proxied/direct'], table);
  print();
  print(`one at a time, exact (${SAMPLES} requests each way, alternating, keep-alive, performance.now()):`);
  printTable(
    ['group', 'direct p50', 'direct p99', 'proxied p50', 'proxied p99', 'added p50'],
    groups.map((g) => {
      const [d50, p50] = [percentile(g.exact.direct, 50), percentile(g.exact.proxied, 50)];
      return [g.title, exactMs(d50), exactMs(percentile(g.exact.direct, 99)), exactMs(p50), exactMs(percentile(g.exact.proxied, 99)), exactMs(p50 - d50)];
    }),
  );
  print();
  for (const g of groups) {
    for (let i = 0; i < g.rows.length; i += 2) {
      const [d, p] = [g.rows[i]!, g.rows[i + 1]!];
      const ratio = p.rps / d.rps;
      print(`${g.title}, ${d.connections} connection(s): throughput ratio target >= ${RATIO_TARGET}x: ${ratio >= RATIO_TARGET ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x); added p50 ${latency(p.p50 - d.p50)} (1 ms resolution)`);
    }
    const added = percentile(g.exact.proxied, 50) - percentile(g.exact.direct, 50);
    print(`${g.title}: added p50 target <= ${ADDED_P50_TARGET_MS} ms (one at a time, exact): ${added <= ADDED_P50_TARGET_MS ? 'met' : 'NOT met'} (${exactMs(added)})`);
  }
  print();
  print('CPU time per request (from /proc, measured runs only): what a request costs wherever it runs');
  const cpuTable: string[][] = [];
  for (const g of groups) {
    for (const r of g.rows) {
      const cpu = r.cpuPerRequestUs;
      if (!cpu) continue;
      const total = Object.values(cpu).reduce((a, b) => a + b, 0);
      const cell = (k: string) => (cpu[k] === undefined ? '' : `${cpu[k].toFixed(0)} µs`);
      cpuTable.push([`${g.title}, ${r.label}`, String(r.connections), cell('agent'), cell('server'), cell('postgres'), cell('redis'), `${total.toFixed(0)} µs`]);
    }
  }
  if (cpuTable.length > 0) printTable(['run', 'connections', 'agent', 'platform', 'postgres', 'redis', 'total'], cpuTable);
  print('autocannon percentiles have 1 ms resolution; "<1 ms" is a 0 bucket');
}

await runBench(main);
