/**
 * bench/http: what one platform process answers on its hottest read, and how fast it comes up.
 *
 * 1. Cold start: wall time from spawning `npm start` (fresh temp MOLECULE_DATA_DIR, a free PORT,
 *    ADMIN_TOKEN set) to the first 200 from /health, on an empty data dir and again on the data dir
 *    the first start left. The same for the built `molecule up` without npm and its build check,
 *    to show where the time goes.
 * 2. Throughput: requests/s and p50/p99 latency of `GET /workspaces/:id` with the admin bearer,
 *    for the server on real PostgreSQL (+ Redis when given) and on PGlite, each beside a bare
 *    Fastify route answering the same JSON from memory (bench/bare-server.ts), measured just before
 *    it: the limit this machine, Node and Fastify allow. server/bare is the figure to watch (target
 *    >= 0.5x on Postgres). The PostgreSQL group adds the bare route running the same SELECT, which
 *    splits the gap into "one database round trip" and "everything else the server does". Each
 *    server is measured twice: as configured (its read cache serves repeated reads of one workspace
 *    from memory, invalidated by every change) and with WORKSPACE_CACHE_TTL_MS=0 (every read goes to
 *    the database), so both the polling path and the database path are visible.
 *
 * Every server under test runs as a child process (the built `packages/server/dist/bin.js`, as
 * deployed) and autocannon runs here. Running the server in-process with startServer would put the
 * load generator and the server on one event loop, so each would throttle the other and the
 * numbers would describe neither. The PostgreSQL target gets a fresh database CREATEd on the server
 * TEST_DATABASE_URL names (scripts/bench.sh starts one) and dropped afterwards; without it that
 * target is skipped.
 *
 * Run: `npm run bench` (builds, starts PostgreSQL + Redis, runs this). Knobs: BENCH_CONNECTIONS
 * (10), BENCH_DURATION seconds per target (8), BENCH_WARMUP seconds (2), BENCH_ONLY=cold|throughput.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { withBenchPostgres, intEnv, launchPlatform, runBench, latency, launch, ms, platformEnv, print, printTable, ROOT, sleep, waitForHealth, type Env, type Proc } from './support.js';
import { freePort } from '@molecule/server/testing';

const SERVER_BIN = path.join(ROOT, 'packages/server/dist/bin.js');
const CLI_BIN = path.join(ROOT, 'packages/cli/dist/main.js');
const BARE_SERVER = fileURLToPath(new URL('./bare-server.ts', import.meta.url));

const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 10);
const DURATION_S = intEnv('BENCH_DURATION', 8);
const WARMUP_S = intEnv('BENCH_WARMUP', 2);
const COLD_START_TARGET_MS = 3000;
const PG_RATIO_TARGET = 0.5;
const ADMIN_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };

// ---------------------------------------------------------------------------------------------
// Cold start

async function coldStart(label: string, command: string, args: string[]): Promise<{ label: string; first: number; second: number }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-bench-cold-'));
  try {
    const times: number[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const env = platformEnv({ MOLECULE_DATA_DIR: dataDir, PORT: String(port), ADMIN_TOKEN });
      const t0 = performance.now();
      const proc = launch(command, args, env);
      try {
        times.push((await waitForHealth(`http://127.0.0.1:${port}`, proc)) - t0);
      } finally {
        await proc.stop();
      }
    }
    return { label, first: times[0]!, second: times[1]! };
  } finally {
    // npm may exit before its node child has finished shutting down: retry while it lets go.
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

// ---------------------------------------------------------------------------------------------
// Throughput

interface Row {
  label: string;
  rps: number;
  p50: number;
  p99: number;
  requests: number;
}

async function load(label: string, url: string, headers: Record<string, string> = {}): Promise<Row> {
  const opts = { url, connections: CONNECTIONS, headers };
  await autocannon({ ...opts, duration: WARMUP_S });
  const r = await autocannon({ ...opts, duration: DURATION_S });
  if (r.errors > 0 || r.timeouts > 0 || r.non2xx > 0) {
    throw new Error(`${label}: ${r.non2xx} non-2xx answers, ${r.errors} errors, ${r.timeouts} timeouts; the run is invalid`);
  }
  return { label, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total };
}

interface Platform {
  proc: Proc;
  base: string;
  workspaceId: string;
  /** The GET /workspaces/:id answer, which the bare route replays. */
  body: unknown;
  dataDir: string;
}

async function startPlatform(extra: Env): Promise<Platform> {
  const { proc, base, dataDir } = await launchPlatform(ADMIN_TOKEN, extra, 'molecule-bench-data-');
  const created = await fetch(`${base}/workspaces`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', role: 'measures GET /workspaces/:id', runtime: 'external' }),
  });
  if (created.status !== 201) throw new Error(`POST /workspaces answered ${created.status}: ${await created.text()}`);
  const workspaceId = ((await created.json()) as { id: string }).id;
  const got = await fetch(`${base}/workspaces/${workspaceId}`, { headers: AUTH });
  if (got.status !== 200) throw new Error(`GET /workspaces/:id answered ${got.status}`);
  return { proc, base, workspaceId, body: await got.json(), dataDir };
}

async function stopPlatform(p: Platform): Promise<void> {
  await p.proc.stop();
  await rm(p.dataDir, { recursive: true, force: true });
}

/** Runs bench/bare-server.ts with `env` and loads its GET /workspaces/:id. */
async function benchBare(label: string, workspaceId: string, env: Env): Promise<Row> {
  const port = await freePort();
  // process.execArgv carries `--import tsx`, which runs the .ts child the way it runs us.
  const proc = launch(process.execPath, [...process.execArgv, BARE_SERVER], { ...process.env, ...env, PORT: String(port) });
  try {
    const deadline = performance.now() + 30_000;
    while (!proc.output().includes('listening')) {
      if (proc.exited() || performance.now() > deadline) throw new Error(`bare server did not start:\n${proc.output()}`);
      await sleep(10);
    }
    return await load(label, `http://127.0.0.1:${port}/workspaces/${workspaceId}`);
  } finally {
    await proc.stop();
  }
}

interface Group {
  title: string;
  /** The first row is the bare in-memory route the others are compared with. */
  rows: Row[];
  bodyBytes: number;
}

/**
 * One database's group: the bare in-memory route measured right before the server (so drift on a
 * shared machine hits both alike), the server, and for PostgreSQL the bare route plus the same
 * SELECT, which separates the database round trip from the server's own cost.
 */
async function benchGroup(title: string, serverLabel: string, extra: Env, selectUrl?: string): Promise<Group> {
  const p = await startPlatform(extra);
  try {
    const rows = [await benchBare('bare Fastify, JSON from memory', p.workspaceId, { BARE_BODY: JSON.stringify(p.body) })];
    if (selectUrl) rows.push(await benchBare('bare Fastify + the same SELECT', p.workspaceId, { BARE_DATABASE_URL: selectUrl }));
    rows.push(await load(serverLabel, `${p.base}/workspaces/${p.workspaceId}`, AUTH));
    await stopPlatform(p);
    // The same server with its read cache off: every request goes to the database.
    const off = await startPlatform({ ...extra, WORKSPACE_CACHE_TTL_MS: '0' });
    try {
      rows.push(await load(`${serverLabel}, read cache off`, `${off.base}/workspaces/${off.workspaceId}`, AUTH));
    } finally {
      await stopPlatform(off);
    }
    return { title, rows, bodyBytes: JSON.stringify(p.body).length };
  } catch (err) {
    if (!p.proc.exited()) await stopPlatform(p);
    throw err;
  }
}

async function main(): Promise<void> {
  for (const f of [SERVER_BIN, CLI_BIN]) {
    if (!existsSync(f)) throw new Error(`${path.relative(ROOT, f)} is missing: run \`npm run build\` (npm run bench does)`);
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  print(`bench/http  node ${process.version}, ${os.cpus().length} CPUs (${cpu}), ${os.platform()}`);
  print(`load: autocannon, ${CONNECTIONS} connections, ${WARMUP_S} s warm-up + ${DURATION_S} s per target, same machine as the servers`);
  const busy = os.loadavg()[0]!;
  if (busy > os.cpus().length / 2) {
    print(`warning: load average ${busy.toFixed(1)} before the run; other work on this machine will skew these figures`);
  }
  print();

  const only = process.env.BENCH_ONLY;
  if (only !== undefined && only !== 'cold' && only !== 'throughput') throw new Error(`BENCH_ONLY=${only}: expected cold or throughput`);
  if (only !== 'throughput') {
    print('cold start: spawn -> first 200 from GET /health (ADMIN_TOKEN set, fresh temp data dir, free port)');
    const cold = [
      await coldStart('npm start', 'npm', ['start']),
      await coldStart('node packages/cli/dist/main.js up', process.execPath, [CLI_BIN, 'up']),
    ];
    printTable(
      ['command', 'first start (empty dir)', 'second start (existing dir)'],
      cold.map((c) => [c.label, ms(c.first), ms(c.second)]),
    );
    const npmStart = cold[0]!;
    const worst = Math.max(npmStart.first, npmStart.second);
    print(`npm start target < ${ms(COLD_START_TARGET_MS)}: ${worst < COLD_START_TARGET_MS ? 'met' : 'NOT met'} (slowest ${ms(worst)})`);
    print();
  }

  if (only === 'cold') return;
  const groups: Group[] = [];
  const pg = await withBenchPostgres(({ url, redisUrl, env }) =>
    benchGroup(redisUrl ? 'PostgreSQL (+ Redis bus)' : 'PostgreSQL', 'molecule server', env, url),
  );
  if (pg) groups.push(pg);
  groups.push(await benchGroup('PGlite (embedded default)', 'molecule server', {}));

  print(`throughput: GET /workspaces/:id with the admin bearer (${groups[0]!.bodyBytes} byte JSON answer)`);
  const table: string[][] = [];
  for (const g of groups) {
    const bare = g.rows[0]!;
    table.push([g.title, '', '', '', '', '']);
    for (const r of g.rows) {
      table.push([`  ${r.label}`, r.rps.toFixed(0), latency(r.p50), latency(r.p99), String(r.requests), `${(r.rps / bare.rps).toFixed(2)}x`]);
    }
  }
  printTable(['target', 'req/s', 'p50', 'p99', 'requests', 'vs bare'], table);
  const pgGroup = groups.find((g) => g.title.startsWith('PostgreSQL'));
  if (pgGroup) {
    const [bare, select, server, uncached] = pgGroup.rows as [Row, Row, Row, Row];
    const ratio = server.rps / bare.rps;
    print(`PostgreSQL server/bare target >= ${PG_RATIO_TARGET}x: ${ratio >= PG_RATIO_TARGET ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`);
    print(`PostgreSQL server with the read cache off / (bare + the same SELECT): ${(uncached.rps / select.rps).toFixed(2)}x`);
  }
  print('latency percentiles have 1 ms resolution (autocannon); "<1 ms" is a 0 bucket');
}

await runBench(main);
