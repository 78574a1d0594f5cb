/**
 * bench/memory: the built-in memory plugin (molecule-memory-postgres) as a child process, on
 * PostgreSQL and on PGlite. BENCH_MEMORY_ROWS (100,000) memories with deterministic 256-dim fake
 * embeddings across BENCH_MEMORY_NAMESPACES (100) workspace namespaces, committed over HTTP with
 * BENCH_MEMORY_CONCURRENCY (16) in flight; then BENCH_MEMORY_SEARCHES (300) searches one at a time
 * for each of: full text and vector in one namespace, full text and vector over all namespaces.
 * PGlite gets BENCH_MEMORY_PGLITE_ROWS (20,000): one connection, and 100k rows there take minutes.
 * Targets (PostgreSQL, 100k rows): search p99 under 20 ms, commit at least 1,000/s.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@molecule/server/testing';
import { intEnv, launch, platformEnv, pool, percentile, print, printTable, runBench, withBenchPostgres, ROOT, type Env, type Proc } from './support.js';

const ROWS = intEnv('BENCH_MEMORY_ROWS', 100_000);
const PGLITE_ROWS = intEnv('BENCH_MEMORY_PGLITE_ROWS', 20_000);
const NAMESPACES = intEnv('BENCH_MEMORY_NAMESPACES', 100);
const CONCURRENCY = intEnv('BENCH_MEMORY_CONCURRENCY', 16);
const SEARCHES = intEnv('BENCH_MEMORY_SEARCHES', 300);
const DIMS = intEnv('BENCH_MEMORY_DIMS', 256);
const SEARCH_P99_TARGET_MS = 20;
const COMMIT_TARGET_PER_S = 1000;

/** mulberry32: a small seeded PRNG, so every run writes and asks the same things. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'pa', 'do', 'fi', 'gu', 'be', 'xo', 'ly'];
const VOCAB = Array.from({ length: 1000 }, (_, i) => SYLLABLES[i % 16]! + SYLLABLES[(i >> 4) % 16]! + SYLLABLES[(i >> 8) % 16]! + 'n');
const content = (r: () => number) => Array.from({ length: 12 }, () => VOCAB[Math.floor(r() * VOCAB.length)]).join(' ');
const embedding = (r: () => number) => Array.from({ length: DIMS }, () => r() * 2 - 1);

async function post(base: string, url: string, body: unknown, method = 'POST'): Promise<void> {
  const res = await fetch(base + url, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}: ${text}`);
}

async function startPlugin(env: Env): Promise<{ proc: Proc; base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = launch(process.execPath, [path.join(ROOT, 'packages/memory-postgres/dist/main.js')], platformEnv({ PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env }));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exited()) throw new Error(`the plugin exited:\n${proc.output()}`);
    const ok = await fetch(`${base}/v1/health`).then((r) => r.ok, () => false);
    if (ok) return { proc, base };
    if (Date.now() > deadline) throw new Error(`no /v1/health in 60 s:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function timed(n: number, make: (i: number) => unknown, base: string): Promise<{ p50: number; p99: number; hits: number }> {
  const times: number[] = [];
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(`${base}/v1/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(make(i)) });
    const body = (await res.json()) as { memories?: unknown[] };
    times.push(performance.now() - t0);
    if (!res.ok) throw new Error(`search answered ${res.status}: ${JSON.stringify(body)}`);
    hits += body.memories!.length;
  }
  return { p50: percentile(times, 50), p99: percentile(times, 99), hits: hits / n };
}

async function group(label: string, rows: number, env: Env): Promise<void> {
  const { proc, base } = await startPlugin(env);
  const health = (await (await fetch(`${base}/v1/health`)).json()) as { capabilities: string[] };
  const names = Array.from({ length: NAMESPACES }, () => `workspace:${randomUUID()}`);
  for (const n of names) await post(base, `/v1/namespaces/${n}`, { kind: 'workspace' }, 'PUT');
  const r = rng(42);
  const items = Array.from({ length: rows }, (_, i) => i);
  const t0 = performance.now();
  await pool(items, CONCURRENCY, async (i) => {
    const rr = rng(1000 + i);
    await post(base, `/v1/namespaces/${names[i % NAMESPACES]}/memories`, { content: content(rr), embedding: embedding(rr), kind: i % 10 === 0 ? 'decision' : 'fact' });
  });
  const perS = rows / ((performance.now() - t0) / 1000);
  const one = (i: number) => [names[i % NAMESPACES]!];
  const word = () => VOCAB[Math.floor(r() * VOCAB.length)]!;
  const results = [
    ['full text, 1 namespace', await timed(SEARCHES, (i) => ({ namespaces: one(i), query: word(), limit: 20 }), base)],
    ['vector, 1 namespace', await timed(SEARCHES, (i) => ({ namespaces: one(i), embedding: embedding(r), limit: 20 }), base)],
    ['full text, all namespaces', await timed(SEARCHES, () => ({ namespaces: names, query: word(), limit: 20 }), base)],
    ['vector, all namespaces', await timed(Math.max(10, Math.floor(SEARCHES / 10)), () => ({ namespaces: names, embedding: embedding(r), limit: 20 }), base)],
  ] as const;
  await proc.stop();
  print();
  print(`${label}: ${rows.toLocaleString('en')} memories in ${NAMESPACES} namespaces (${Math.round(rows / NAMESPACES)} each), ${DIMS}-dim embeddings; capabilities: ${health.capabilities.join(', ')}`);
  print(`commit: ${perS.toFixed(0)} memories/s at ${CONCURRENCY} in flight (${(perS / COMMIT_TARGET_PER_S).toFixed(2)}x the ${COMMIT_TARGET_PER_S}/s target)`);
  printTable(
    ['search', 'p50', 'p99', 'p99 vs 20 ms target', 'rows returned (avg)'],
    results.map(([name, s]) => [name, `${s.p50.toFixed(1)} ms`, `${s.p99.toFixed(1)} ms`, `${(SEARCH_P99_TARGET_MS / s.p99).toFixed(2)}x`, s.hits.toFixed(1)]),
  );
}

await runBench(async () => {
  print(`bench/memory: ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(1)}; ratios are target / measured for latency and measured / target for throughput (>= 1 meets)`);
  await withBenchPostgres(({ url }) => group('PostgreSQL', ROWS, { DATABASE_URL: url }));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-bench-memory-'));
  try {
    if (PGLITE_ROWS < ROWS) print(`\nPGlite uses ${PGLITE_ROWS.toLocaleString('en')} rows, not ${ROWS.toLocaleString('en')} (BENCH_MEMORY_PGLITE_ROWS): one connection commits one at a time, and the full load takes minutes there.`);
    await group('PGlite (embedded)', Math.min(PGLITE_ROWS, ROWS), { MEMORY_DATA_DIR: dir });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
