/**
 * bench/heartbeat: how many agent heartbeats one platform process sustains, and at what latency.
 *
 * N simulated agents (BENCH_AGENTS, default 1000) are created as external workspaces through the
 * API and registered (poll delivery), so every one is online with its own `mol_ws_` token. autocannon
 * then sends POST /registry/heartbeat round-robin across them (each request its own workspace id,
 * bearer and body, through `setupRequest`), with BENCH_HEARTBEAT_CONNECTIONS connections in flight
 * (default 32): requests/s and p50/p99 latency, for the server on real PostgreSQL + Redis (bus and
 * liveness, the production shape) and on PGlite (the embedded default), each beside a bare Fastify
 * route that parses the same JSON and answers a fixed body (bench/bare-server.ts), measured just
 * before it, with the ratio. Target (issue #3): >= 5,000 beats/s at p99 < 50 ms on PostgreSQL, which
 * is a fleet of 100,000 agents beating every 20 s.
 *
 * Every beat does what a real one does: validate the token (one UPDATE), record the beat and
 * evaluate the status (one UPDATE ... RETURNING), refresh liveness and publish WORKSPACE_HEARTBEAT.
 * One agent in ten changes its current_task on each beat, so TASK_UPDATED is published too.
 * After each run the bench checks that every agent is still online and that the rows recorded the
 * beats, so a run that silently failed cannot print a good number.
 *
 * The server runs as a child process (the built dist/bin.js), autocannon here: see bench/http.ts for
 * why. Run: `npm run bench` (it builds and starts PostgreSQL + Redis), or after a build
 * `node --import tsx bench/heartbeat.ts` for the PGlite group alone. Knobs: BENCH_AGENTS,
 * BENCH_HEARTBEAT_CONNECTIONS, BENCH_DURATION seconds per target (8), BENCH_WARMUP seconds (2).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { api, cpuProbe, servicePids, withBenchPostgres, intEnv, launchPlatform, pool, runBench, latency, launch, print, printTable, ROOT, sleep, waitForHealth, type CpuProbe, type Env, type Proc } from './support.js';
import { freePort } from '@molecule/server/testing';

const SERVER_BIN = path.join(ROOT, 'packages/server/dist/bin.js');
const BARE_SERVER = fileURLToPath(new URL('./bare-server.ts', import.meta.url));

const AGENTS = intEnv('BENCH_AGENTS', 1000);
const CONNECTIONS = intEnv('BENCH_HEARTBEAT_CONNECTIONS', 32);
const DURATION_S = intEnv('BENCH_DURATION', 8);
const WARMUP_S = intEnv('BENCH_WARMUP', 2);
const TARGET_RPS = 5000;
const TARGET_P99_MS = 50;
const ADMIN_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

interface Agent {
  id: string;
  headers: Record<string, string>;
}

interface Row {
  label: string;
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  /** CPU time per beat, by process group, when measured. */
  cpuPerBeatUs?: Record<string, number>;
}

/** The beat agent `a` sends on its `n`th turn. */
function beatBody(a: Agent, n: number, agentIndex: number): string {
  return JSON.stringify({
    workspace_id: a.id,
    error_rate: 0,
    sample_error: '',
    active_tasks: agentIndex % 10 === 0 ? 1 : 0,
    uptime_seconds: n,
    current_task: agentIndex % 10 === 0 ? `task ${n}` : '',
    runtime_state: '',
    runtime_metadata: { capabilities: { heartbeat: false, scheduler: false, status_mgmt: false }, idle_timeout_seconds: 600 },
  });
}

/** Sustained heartbeats round-robin over `agents` (warm-up, then the measured run). */
async function beats(label: string, base: string, agents: readonly Agent[], probe?: CpuProbe): Promise<Row> {
  let turn = 0;
  const opts = {
    url: base,
    connections: CONNECTIONS,
    requests: [
      {
        method: 'POST' as const,
        path: '/registry/heartbeat',
        setupRequest: (req: autocannon.Request) => {
          const i = turn++ % agents.length;
          const a = agents[i]!;
          return { ...req, headers: a.headers, body: beatBody(a, turn, i) };
        },
      },
    ],
  };
  await autocannon({ ...opts, duration: WARMUP_S });
  const before = probe?.();
  const r = await autocannon({ ...opts, duration: DURATION_S });
  const after = probe?.();
  if (r.errors > 0 || r.timeouts > 0 || r.non2xx > 0) {
    throw new Error(`${label}: ${r.non2xx} non-2xx answers, ${r.errors} errors, ${r.timeouts} timeouts; the run is invalid`);
  }
  const row: Row = { label, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total };
  if (before && after) {
    row.cpuPerBeatUs = Object.fromEntries(Object.keys(after).map((k) => [k, ((after[k]! - before[k]!) * 1000) / r.requests.total]));
  }
  return row;
}

interface Platform {
  proc: Proc;
  base: string;
  dataDir: string;
  agents: Agent[];
}

/** Starts the built server with `extra` env, then creates and registers the agents. */
async function startPlatform(extra: Env): Promise<Platform> {
  const { proc, base, dataDir } = await launchPlatform(ADMIN_TOKEN, extra, 'molecule-bench-hb-');
  const agents: Agent[] = [];
  const t0 = performance.now();
  await pool(
    Array.from({ length: AGENTS }, (_, i) => i),
    16,
    async (i) => {
      const ws = await api(base, 'POST', '/workspaces', AUTH, { name: `agent-${i}`, runtime: 'external' });
      const token = (ws.connection as { auth_token: string }).auth_token;
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      await api(base, 'POST', '/registry/register', headers, { id: ws.id, agent_card: { name: `agent-${i}` } });
      agents.push({ id: ws.id as string, headers });
    },
  );
  print(`  ${AGENTS} agents created and registered in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { proc, base, dataDir, agents };
}

async function stopPlatform(p: Platform): Promise<void> {
  await p.proc.stop();
  await rm(p.dataDir, { recursive: true, force: true });
}

/** Every agent is still online and was heard from during the run: the figures describe real beats. */
async function verify(p: Platform, since: Date): Promise<void> {
  const list = (await (await fetch(`${p.base}/workspaces`, { headers: AUTH })).json()) as {
    status: string;
    last_heartbeat_at: string | null;
  }[];
  const online = list.filter((w) => w.status === 'online').length;
  const beaten = list.filter((w) => w.last_heartbeat_at !== null && new Date(w.last_heartbeat_at) >= since).length;
  if (online !== AGENTS || beaten !== AGENTS) {
    throw new Error(`after the run ${online}/${AGENTS} agents are online and ${beaten}/${AGENTS} recorded a beat during it`);
  }
}

async function benchBare(label: string, agents: readonly Agent[]): Promise<Row> {
  const port = await freePort();
  // process.execArgv carries `--import tsx`, which runs the .ts child the way it runs us.
  const proc = launch(process.execPath, [...process.execArgv, BARE_SERVER], { ...process.env, PORT: String(port) });
  try {
    const deadline = performance.now() + 30_000;
    while (!proc.output().includes('listening')) {
      if (proc.exited() || performance.now() > deadline) throw new Error(`bare server did not start:\n${proc.output()}`);
      await sleep(10);
    }
    return await beats(label, `http://127.0.0.1:${port}`, agents, cpuProbe({ server: proc.child.pid! }));
  } finally {
    await proc.stop();
  }
}

interface Group {
  title: string;
  /** The bare no-op first, then the platform's rows. */
  rows: [Row, ...Row[]];
}

const HAPROXY_CFG = path.join(ROOT, 'deploy/haproxy.cfg');
const HAPROXY_BIN = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';

/**
 * The same beats through HAProxy (deploy/haproxy.cfg) round-robin over `p` and a second replica
 * started on the same PostgreSQL and Redis: what a second process buys on this machine.
 */
async function beatsThroughReplicas(p: Platform, extra: Env, services: Record<string, number>): Promise<Row> {
  const second = await launchPlatform(ADMIN_TOKEN, extra, 'molecule-bench-hb-b-');
  const lbPort = await freePort();
  const lb = launch(HAPROXY_BIN, ['-f', HAPROXY_CFG, '-db'], {
    ...process.env,
    MOLECULE_LB_BIND: `127.0.0.1:${lbPort}`,
    MOLECULE_REPLICA_A: p.base.replace('http://', ''),
    MOLECULE_REPLICA_B: second.base.replace('http://', ''),
  });
  try {
    const base = `http://127.0.0.1:${lbPort}`;
    await waitForHealth(base, lb);
    const since = new Date();
    const probe = cpuProbe({ 'server a': p.proc.child.pid!, 'server b': second.proc.child.pid!, haproxy: lb.child.pid!, ...services });
    const row = await beats('two replicas behind HAProxy (deploy/haproxy.cfg)', base, p.agents, probe);
    await verify(p, since);
    return row;
  } finally {
    await lb.stop();
    await second.proc.stop();
    await rm(second.dataDir, { recursive: true, force: true });
  }
}

async function benchGroup(
  title: string,
  extra: Env,
  services: () => Promise<Record<string, number>> = async () => ({}),
  opts: { replicas?: boolean } = {},
): Promise<Group> {
  print(`${title}:`);
  const p = await startPlatform(extra);
  try {
    const bare = await benchBare('bare Fastify, no-op POST (same JSON body)', p.agents);
    const since = new Date();
    const servicePidsNow = await services();
    const probe = cpuProbe({ server: p.proc.child.pid!, ...servicePidsNow });
    const server = await beats('molecule server, POST /registry/heartbeat', p.base, p.agents, probe);
    await verify(p, since);
    const rows: Group['rows'] = [bare, server];
    if (opts.replicas) rows.push(await beatsThroughReplicas(p, extra, servicePidsNow));
    return { title, rows };
  } finally {
    await stopPlatform(p);
  }
}

/** The beats the database recorded per second, read from pg_stat (a cross-check of autocannon's count). */
async function countUpdates(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ n: string }>("SELECT n_tup_upd AS n FROM pg_stat_user_tables WHERE relname = 'workspaces'");
    return Number(r.rows[0]?.n ?? 0);
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  if (!existsSync(SERVER_BIN)) throw new Error(`${path.relative(ROOT, SERVER_BIN)} is missing: run \`npm run build\` (npm run bench does)`);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  print(`bench/heartbeat  node ${process.version}, ${os.cpus().length} CPUs (${cpu}), ${os.platform()}`);
  print(`load: autocannon, ${CONNECTIONS} connections round-robin over ${AGENTS} agents, ${WARMUP_S} s warm-up + ${DURATION_S} s per target, same machine as the servers`);
  const busy = os.loadavg()[0]!;
  if (busy > os.cpus().length / 2) {
    print(`warning: load average ${busy.toFixed(1)} before the run; other work on this machine will skew these figures`);
  }
  print();

  const groups: Group[] = [];
  const pgGroup = await withBenchPostgres(async ({ url, redisUrl, env }) => {
    const before = await countUpdates(url).catch(() => 0);
    // Replicas share events and liveness through Redis: the two-replica row needs it.
    const g = await benchGroup(redisUrl ? 'PostgreSQL + Redis (bus and liveness)' : 'PostgreSQL', env, () => servicePids(url, redisUrl), { replicas: redisUrl !== undefined });
    const after = await countUpdates(url).catch(() => 0);
    print(`  workspaces rows updated in PostgreSQL during the group (warm-ups included): ${after - before}`);
    return g;
  });
  if (pgGroup) groups.push(pgGroup);
  groups.push(await benchGroup('PGlite (embedded default)', {}));
  print();

  print('throughput: POST /registry/heartbeat, each request a different agent (its own bearer and body)');
  const table: string[][] = [];
  for (const g of groups) {
    const bare = g.rows[0];
    table.push([g.title, '', '', '', '', '']);
    for (const r of g.rows) {
      table.push([`  ${r.label}`, r.rps.toFixed(0), latency(r.p50), latency(r.p99), String(r.requests), `${(r.rps / bare.rps).toFixed(2)}x`]);
    }
  }
  printTable(['target', 'beats/s', 'p50', 'p99', 'requests', 'vs no-op'], table);
  print();
  print('CPU time per beat (from /proc, measured run only): what a beat costs wherever it runs');
  for (const g of groups) {
    for (const r of g.rows) {
      const cpu = r.cpuPerBeatUs;
      if (!cpu) continue;
      const parts = Object.entries(cpu).map(([k, us]) => `${k} ${us.toFixed(0)} µs`);
      const servers = Object.entries(cpu).filter(([k]) => k.startsWith('server')).reduce((a, [, us]) => a + us, 0);
      const total = Object.values(cpu).reduce((a, b) => a + b, 0);
      print(
        `  ${g.title}, ${r.label}: ${parts.join(', ')} (total ${total.toFixed(0)} µs); one core for the platform alone sustains ~${servers > 0 ? (1e6 / servers).toFixed(0) : '?'} beats/s, ` +
          `for all of it ~${total > 0 ? (1e6 / total).toFixed(0) : '?'} beats/s`,
      );
    }
  }
  for (const g of groups) {
    const s = g.rows[1]!;
    const met = s.rps >= TARGET_RPS && s.p99 < TARGET_P99_MS;
    print(
      `${g.title}: target >= ${TARGET_RPS} beats/s at p99 < ${TARGET_P99_MS} ms: ${met ? 'met' : 'NOT met'} ` +
        `(${s.rps.toFixed(0)}/s, p99 ${latency(s.p99)}; ${((s.rps * 20) / 1000).toFixed(0)}k agents at a 20 s interval)`,
    );
  }
  print('latency percentiles have 1 ms resolution (autocannon); "<1 ms" is a 0 bucket');
}

await runBench(main);
