/**
 * bench/a2a-proxy: what the A2A proxy costs on top of talking to the agent directly, beside what
 * relaying costs anyway (bench/README.md has the whole description).
 *
 * References first: the echo molecule-agent standalone, straight, behind nginx as a plain reverse
 * proxy (when installed) and behind a bare Node proxy (bench/bare-proxy.ts). Then the platform on
 * PostgreSQL + Redis (withBenchPostgres; skipped without TEST_DATABASE_URL) and on PGlite, with the
 * agent as an external push workspace's agent. autocannon sends `message/send` (v0.3, every request
 * with its own messageId) at 1 and 64 connections to each; the bench prints requests/s, p50/p99, the
 * ratio to direct, CPU per request of every process (from /proc), the exact one-at-a-time added p50,
 * and the issue #10 targets with their figures. Every proxied exchange writes an `a2a_receive` row;
 * the bench counts them against the 2xx answers, and any non-2xx, error or timeout fails the run.
 *
 * Knobs: BENCH_DURATION seconds per run (8), BENCH_WARMUP seconds (2), BENCH_A2A_SAMPLES (2000),
 * BENCH_A2A_PGLITE=0, BENCH_A2A_REFERENCES=0, BENCH_A2A_CONNECTIONS ("1,64").
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
const WITH_REFERENCES = process.env.BENCH_A2A_REFERENCES !== '0';
/** BENCH_A2A_CONNECTIONS=1 (or 64) runs one of the two (profiling). */
const CONCURRENCIES = (process.env.BENCH_A2A_CONNECTIONS ?? '1,64').split(',').map(Number);
const THROUGHPUT_TARGET_1 = 0.5;
const THROUGHPUT_TARGET_64_PG = 0.9;
const THROUGHPUT_TARGET_64_PGLITE = 0.6;
const PLATFORM_CPU_TARGET_US = 400;
const PG_CPU_TARGET_US = 80;
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
  /** The direct row this one is compared with (proxied rows). */
  direct?: Row;
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
  /** One-at-a-time latencies, direct and proxied (platform groups). */
  exact?: Exact;
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
      const d = (await load(direct, c, probe)).row;
      const r = await load(proxied, c, probe);
      r.row.direct = d;
      rows.push(d, r.row);
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
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((f) => existsSync(f));
const BARE_PROXY = path.join(ROOT, 'bench/bare-proxy.ts');

/** nginx as a plain reverse proxy in front of `agentPort` (what a user would put there), in `dir`. */
async function startNginx(dir: string, agentPort: number): Promise<{ proc: Proc; port: number }> {
  const port = await freePort();
  const temp = (k: string) => `${k}_temp_path ${path.join(dir, k)};`;
  await writeFile(
    path.join(dir, 'nginx.conf'),
    `worker_processes auto;
daemon off;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  upstream agent { server 127.0.0.1:${agentPort}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://agent; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
  );
  const proc = launch(NGINX!, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], process.env);
  await waitListening(`http://127.0.0.1:${port}/.well-known/agent-card.json`, proc);
  return { proc, port };
}

async function waitListening(url: string, proc: Proc): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    if (proc.exited()) throw new Error(`${url}: the process exited:\n${proc.output()}`);
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (performance.now() > deadline) throw new Error(`${url} did not answer in 30 s:\n${proc.output()}`);
    await sleep(50);
  }
}

/**
 * What relaying costs without the platform: the same echo molecule-agent standalone, straight, behind
 * nginx (when installed) and behind a bare Node proxy (bench/bare-proxy.ts: Fastify + undici, the
 * least a Node process pays to relay a request). CPU per request is the proxy's own.
 */
async function referenceGroup(): Promise<Group> {
  print('references (no platform): starting molecule-agent standalone, nginx and a bare Node proxy');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-bench-a2a-ref-'));
  await agentConfig(dir);
  const agentPort = await freePort();
  const agent = launch(process.execPath, [AGENT_BIN], platformEnv({ PORT: String(agentPort), HOST: '127.0.0.1', MOLECULE_CONFIGS_DIR: dir, MOLECULE_WORKSPACE_DIR: dir, LOG_LEVEL: 'warn' }));
  const procs: Proc[] = [agent];
  try {
    await waitListening(`http://127.0.0.1:${agentPort}/.well-known/agent-card.json`, agent);
    const nginx = NGINX ? await startNginx(dir, agentPort) : undefined;
    if (nginx) procs.push(nginx.proc);
    else print('  nginx is not installed (apt-get install nginx-light; npm run bench installs it): no nginx row');
    const barePort = await freePort();
    const bare = launch(process.execPath, ['--import', 'tsx', BARE_PROXY], { ...process.env, PORT: String(barePort), BARE_PROXY_TARGET: `http://127.0.0.1:${agentPort}/` });
    procs.push(bare);
    const deadline = performance.now() + 30_000;
    while (!bare.output().includes('listening')) {
      if (bare.exited() || performance.now() > deadline) throw new Error(`the bare Node proxy did not start:\n${bare.output()}`);
      await sleep(50);
    }
    const headers = { 'content-type': 'application/json' };
    const targets: { t: Target; pids: Record<string, number> }[] = [
      { t: { label: 'direct to molecule-agent', base: `http://127.0.0.1:${agentPort}`, path: '/', headers }, pids: { agent: agent.child.pid! } },
      ...(nginx ? [{ t: { label: 'through nginx', base: `http://127.0.0.1:${nginx.port}`, path: '/', headers }, pids: { agent: agent.child.pid!, nginx: nginx.proc.child.pid! } }] : []),
      { t: { label: 'through a bare Node proxy', base: `http://127.0.0.1:${barePort}`, path: '/a2a', headers }, pids: { agent: agent.child.pid!, bare: bare.child.pid! } },
    ];
    const rows: Row[] = [];
    for (const c of CONCURRENCIES) {
      let direct: Row | undefined;
      for (const { t, pids } of targets) {
        const { row } = await load(t, c, cpuProbe(pids));
        if (direct) row.direct = direct;
        else direct = row;
        rows.push(row);
      }
    }
    return { title: 'References (no platform)', rows, proxied2xx: 0, activity: { ok: 0, other: 0 } };
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

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

  const groups: Group[] = WITH_REFERENCES ? [await referenceGroup()] : [];
  const pgGroup = await withBenchPostgres(({ url, redisUrl, env }) =>
    benchGroup(redisUrl ? 'PostgreSQL + Redis' : 'PostgreSQL', env, (p, expected) => countPg(url, p.workspaceId, expected), () => servicePids(url, redisUrl)),
  );
  if (pgGroup) groups.push(pgGroup);
  if (WITH_PGLITE) groups.push(await benchGroup('PGlite (embedded default)', {}, (p) => countPglite(p)));
  print();

  print('message/send to an echo agent: direct, through the references, and through POST /workspaces/:id/a2a (admin bearer, activity rows written)');
  const table: string[][] = [];
  for (const g of groups) {
    table.push([g.title, '', '', '', '', '', '']);
    for (const r of g.rows) {
      table.push([`  ${r.label}`, String(r.connections), r.rps.toFixed(0), latency(r.p50), latency(r.p99), String(r.requests), r.direct ? `${(r.rps / r.direct.rps).toFixed(2)}x` : '']);
    }
  }
  printTable(['target', 'connections', 'req/s', 'p50', 'p99', 'requests', 'vs direct'], table);
  print();
  const platformGroups = groups.filter((g): g is Group & { exact: Exact } => g.exact !== undefined);
  print(`one at a time, exact (${SAMPLES} requests each way, alternating, keep-alive, performance.now()):`);
  printTable(
    ['group', 'direct p50', 'direct p99', 'proxied p50', 'proxied p99', 'added p50'],
    platformGroups.map((g) => {
      const [d50, p50] = [percentile(g.exact.direct, 50), percentile(g.exact.proxied, 50)];
      return [g.title, exactMs(d50), exactMs(percentile(g.exact.direct, 99)), exactMs(p50), exactMs(percentile(g.exact.proxied, 99)), exactMs(p50 - d50)];
    }),
  );
  print();
  print('CPU time per request (from /proc, measured runs only): what a request costs wherever it runs; "proxy" is the platform, nginx or the bare Node proxy');
  const cpuTable: string[][] = [];
  const proxyCpu = (cpu: Record<string, number>) => cpu.server ?? cpu.nginx ?? cpu.bare;
  for (const g of groups) {
    for (const r of g.rows) {
      const cpu = r.cpuPerRequestUs;
      if (!cpu) continue;
      const total = Object.values(cpu).reduce((a, b) => a + b, 0);
      const us = (v: number | undefined) => (v === undefined ? '' : `${v.toFixed(0)} µs`);
      cpuTable.push([`${g.title}, ${r.label}`, String(r.connections), us(cpu.agent), us(proxyCpu(cpu)), us(cpu.postgres), us(cpu.redis), `${total.toFixed(0)} µs`]);
    }
  }
  if (cpuTable.length > 0) printTable(['run', 'connections', 'agent', 'proxy', 'postgres', 'redis', 'total'], cpuTable);
  print('autocannon percentiles have 1 ms resolution; "<1 ms" is a 0 bucket');
  print();

  // The targets (issue #10), each with its figure; the references show what relaying costs anyway.
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const refs = WITH_REFERENCES ? groups[0]!.rows : [];
  for (const g of platformGroups) {
    const embedded = g.title.startsWith('PGlite');
    for (const r of g.rows.filter((x) => x.direct)) {
      const ratio = r.rps / r.direct!.rps;
      const target = r.connections === 1 ? THROUGHPUT_TARGET_1 : embedded ? THROUGHPUT_TARGET_64_PGLITE : THROUGHPUT_TARGET_64_PG;
      print(`${g.title}, ${r.connections} connection(s): throughput >= ${target}x of direct: ${verdict(ratio >= target)} (${ratio.toFixed(2)}x)`);
      const cpu = r.cpuPerRequestUs;
      if (!cpu) continue;
      const same = refs.filter((x) => x.connections === r.connections && x.direct && x.cpuPerRequestUs);
      const beside = same.map((x) => `${x.label.replace('through ', '')} ${proxyCpu(x.cpuPerRequestUs!)!.toFixed(0)} µs`).filter((x) => !x.startsWith('direct')).join(', ');
      print(`  platform CPU <= ${PLATFORM_CPU_TARGET_US} µs per request: ${verdict(cpu.server! <= PLATFORM_CPU_TARGET_US)} (${cpu.server!.toFixed(0)} µs; ${beside})`);
      if (cpu.postgres !== undefined) print(`  PostgreSQL CPU <= ${PG_CPU_TARGET_US} µs per request: ${verdict(cpu.postgres <= PG_CPU_TARGET_US)} (${cpu.postgres.toFixed(0)} µs)`);
    }
    const added = percentile(g.exact.proxied, 50) - percentile(g.exact.direct, 50);
    print(`${g.title}: added p50 <= ${ADDED_P50_TARGET_MS} ms (one at a time, exact): ${verdict(added <= ADDED_P50_TARGET_MS)} (${exactMs(added)})`);
  }
}

await runBench(main);
