/**
 * Shared by the benchmarks: child processes in their own process groups (stopped whole, killed on
 * exit), the platform's environment and health wait, env knobs, and the table printer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pLimit from 'p-limit';
import { freePort, freshDb } from '@molecule/server/testing';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export type Env = Record<string, string | undefined>;

export function intEnv(name: string, def: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${raw}: expected a positive whole number`);
  return n;
}

export const print = (s = '') => void process.stdout.write(`${s}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `p`th percentile (0-100) of `xs` by the nearest-rank rule; NaN for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const slot = pLimit(limit);
  await Promise.all(items.map((item) => slot(() => fn(item))));
}

/** One JSON request to the platform; anything but a 2xx throws with the answer. */
export async function api(base: string, method: string, url: string, headers: Record<string, string>, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${url}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Child processes: each in its own process group, so `npm start` (npm -> sh -> node) stops whole.

export interface Proc {
  readonly child: ChildProcess;
  /** The last 64 KiB the process printed, for failure messages. */
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

const running = new Set<Proc>();

/** Stops every child still running (for a bench's `finally`). */
export async function stopAll(): Promise<void> {
  for (const p of [...running]) await p.stop();
}
process.on('exit', () => {
  for (const p of running) signalGroup(p.child, 'SIGKILL');
});

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // already gone is fine
  }
}

export function launch(command: string, args: string[], env: Env): Proc {
  const child = spawn(command, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-64 * 1024);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proc: Proc = {
    child,
    output: () => out,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    async stop() {
      signalGroup(child, 'SIGTERM');
      const killer = setTimeout(() => signalGroup(child, 'SIGKILL'), 15_000);
      await exit;
      clearTimeout(killer);
      running.delete(proc);
    },
  };
  running.add(proc);
  return proc;
}

/** The environment a platform child gets: ours, minus anything that would pick its database or token. */
export function platformEnv(overrides: Env): Env {
  const env: Env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(DATABASE_URL|REDIS_URL|ADMIN_TOKEN|PORT|HOST|LOG_LEVEL|MOLECULE_.*)$/.test(k)) delete env[k];
  }
  return { ...env, ...overrides };
}

/** Polls /health until it answers 200; returns performance.now() of that answer. */
export async function waitForHealth(base: string, proc: Proc, deadlineMs = 120_000): Promise<number> {
  const deadline = performance.now() + deadlineMs;
  while (performance.now() < deadline) {
    if (proc.exited()) throw new Error(`process exited before /health answered:\n${proc.output()}`);
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return performance.now();
    } catch {
      // Not listening yet: keep polling until the deadline.
    }
    await sleep(10);
  }
  throw new Error(`/health at ${base} did not answer 200 within ${deadlineMs} ms:\n${proc.output()}`);
}

// ---------------------------------------------------------------------------------------------
// CPU accounting. On a small shared machine the load generator, the servers, PostgreSQL and Redis
// (and whatever else runs) compete for the same cores, so requests/s alone says little about the
// code under test. CPU time per request, per process, says what a request costs wherever it runs.

const TICKS_PER_S = 100; // USER_HZ on Linux

/** utime + stime of one process, in ms; 0 when it is gone or /proc is unavailable. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** A process and its direct children (a postmaster and its backends), summed. */
export function treeCpuMs(root: number): number {
  let total = cpuMs(root);
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (Number.isInteger(pid) && parentOf(pid) === root) total += cpuMs(pid);
  }
  return total;
}

/** CPU ms so far of each named process; read before and after a run. */
export type CpuProbe = () => Record<string, number>;

/**
 * A probe over named pids (`postgres` is the postmaster, counted with its backends); undefined
 * where /proc is unavailable.
 */
export function cpuProbe(pids: Record<string, number>): CpuProbe | undefined {
  if (!existsSync('/proc/self/stat')) return undefined;
  // PostgreSQL and nginx do their work in children of the pid given (backends, workers).
  return () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, k === 'postgres' || k === 'nginx' ? treeCpuMs(pid) : cpuMs(pid)]));
}

/** The postmaster (whose backends serve the server) and the redis-server a group uses. */
export async function servicePids(databaseUrl: string, redisUrl: string | undefined): Promise<Record<string, number>> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  const backend = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const postmaster = parentOf(backend);
  await c.end();
  const out: Record<string, number> = {};
  if (postmaster !== undefined) out.postgres = postmaster;
  if (redisUrl) {
    const { Redis } = await import('ioredis');
    const r = new Redis(redisUrl);
    const info = await r.info('server');
    await r.quit();
    const m = /process_id:(\d+)/.exec(info);
    if (m) out.redis = Number(m[1]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Report

export const latency = (v: number) => (v < 1 ? '<1 ms' : `${v.toFixed(0)} ms`);
export const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(0)} ms`);
const pad = (cells: string[], widths: number[]) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');

export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  print(pad(headers, widths));
  for (const r of rows) print(pad(r, widths));
}

/** The built server as a child process on a free port and a fresh data dir, answering /health. */
export async function launchPlatform(
  adminToken: string,
  extra: Env,
  dataDirPrefix = 'molecule-bench-data-',
): Promise<{ proc: Proc; base: string; dataDir: string }> {
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), dataDirPrefix));
  const base = `http://127.0.0.1:${port}`;
  // BENCH_SERVER_NODE_ARGS: extra node flags for the platform, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = launch(
    process.execPath,
    [...nodeArgs, path.join(ROOT, 'packages/server/dist/bin.js')],
    platformEnv({
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_TOKEN: adminToken,
      MOLECULE_DATA_DIR: dataDir,
      MOLECULE_PROVISIONER: 'none',
      LOG_LEVEL: 'warn',
      ...extra,
    }),
  );
  await waitForHealth(base, proc);
  return { proc, base, dataDir };
}

/** Runs a bench's main: a failure is printed and sets the exit code; children are always stopped. */
export async function runBench(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  } finally {
    await stopAll();
  }
}

/**
 * Runs `fn` against a fresh database on the PostgreSQL server TEST_DATABASE_URL names (with Redis
 * when TEST_REDIS_URL is set), dropped afterwards. Without TEST_DATABASE_URL it says so and
 * returns undefined (scripts/bench.sh starts both services).
 */
export async function withBenchPostgres<T>(
  fn: (pg: { url: string; redisUrl: string | undefined; env: Env }) => Promise<T>,
): Promise<T | undefined> {
  if (!process.env.TEST_DATABASE_URL) {
    print('TEST_DATABASE_URL is not set: skipping the PostgreSQL target (scripts/bench.sh starts one)');
    return undefined;
  }
  const db = await freshDb('postgres');
  try {
    const url = db.url!;
    const redisUrl = process.env.TEST_REDIS_URL;
    return await fn({ url, redisUrl, env: { DATABASE_URL: url, ...(redisUrl ? { REDIS_URL: redisUrl } : {}) } });
  } finally {
    await db.drop();
  }
}
