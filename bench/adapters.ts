/**
 * bench/adapters: what each SDK-driven adapter (issue 16: openai-agents, langgraph, acp) costs
 * `molecule-agent`, beside echo and the built-in openai adapter.
 *
 * 1. Loading the adapter (its SDK included) in a fresh Node process: the RSS it adds and the time the
 *    import takes (median of BENCH_ADAPTER_RUNS, default 3).
 * 2. A standalone `molecule-agent` per adapter, from its template: spawn -> /health, and its peak RSS
 *    (VmHWM) after a few idle seconds. The acp row runs the fake ACP agent (test-support), whose own
 *    process is not counted.
 * 3. Create -> online on the process backend per template, one at a time (p50 of BENCH_SERIAL,
 *    default 5): the platform runs as a child process (the built server, PGlite).
 *
 * The model endpoint is a dead loopback URL: nothing here sends a message, and the adapters do not
 * contact the model until one arrives. Run after `npm run build`.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@molecule/server/testing';
import { intEnv, launch, launchPlatform, ms, percentile as pct, platformEnv, print, printTable, ROOT, runBench, sleep, waitForHealth } from './support.js';

const RUNS = intEnv('BENCH_ADAPTER_RUNS', 3);
const SERIAL = intEnv('BENCH_SERIAL', 5);
const IDLE_MS = 3000;
const DEAD_MODEL = 'http://127.0.0.1:9/v1';
const RUNTIME = path.join(ROOT, 'packages/runtime');
const FAKE_ACP = path.join(RUNTIME, 'src/test-support/fake-acp-agent.mjs');
const ADMIN_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const HEADERS = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

interface Row {
  adapter: string;
  /** The adapter module under packages/runtime/dist/adapters, or none for echo. */
  module: string | undefined;
  /** The template the agent and the workspace are created from. */
  template: string;
}

const ROWS: Row[] = [
  { adapter: 'echo', module: undefined, template: 'echo' },
  { adapter: 'openai', module: 'openai.js', template: 'assistant' },
  { adapter: 'openai-agents', module: 'openai-agents.js', template: 'openai-agents' },
  { adapter: 'langgraph', module: 'langgraph.js', template: 'langgraph' },
  { adapter: 'acp', module: 'acp.js', template: 'acp-fake' },
];

/** RSS added and milliseconds taken by importing `module` in a fresh process (median of RUNS). */
function loadCost(module: string | undefined): { mb: number; ms: number } {
  const mbs: number[] = [];
  const mss: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const script = `const b = process.memoryUsage().rss; const t = performance.now();${module ? ` await import(${JSON.stringify(path.join(RUNTIME, 'dist/adapters', module))});` : ''} const d = performance.now() - t; globalThis.gc(); console.log(JSON.stringify({ mb: (process.memoryUsage().rss - b) / 1048576, ms: d }));`;
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { cwd: RUNTIME, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`loading ${module} failed: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as { mb: number; ms: number };
    mbs.push(out.mb);
    mss.push(out.ms);
  }
  return { mb: pct(mbs, 50), ms: pct(mss, 50) };
}

/** Peak RSS (VmHWM) of a process, in MB. */
async function peakMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** A standalone agent from `templates/<template>`: spawn -> /health, then its peak RSS after IDLE_MS. */
async function idleAgent(templates: string, template: string): Promise<{ start: number; peak: number }> {
  const port = await freePort();
  const configs = await mkdtemp(path.join(os.tmpdir(), 'molecule-bench-configs-'));
  const workspace = await mkdtemp(path.join(os.tmpdir(), 'molecule-bench-ws-'));
  await cp(path.join(templates, template), configs, { recursive: true });
  const t0 = performance.now();
  const proc = launch(
    process.execPath,
    [path.join(RUNTIME, 'dist/main.js')],
    platformEnv({ PORT: String(port), MOLECULE_CONFIGS_DIR: configs, MOLECULE_WORKSPACE_DIR: workspace, OPENAI_BASE_URL: DEAD_MODEL, OPENAI_API_KEY: 'bench' }),
  );
  try {
    const start = (await waitForHealth(`http://127.0.0.1:${port}`, proc)) - t0;
    await sleep(IDLE_MS);
    return { start, peak: await peakMb(proc.child.pid!) };
  } finally {
    await proc.stop();
    await rm(configs, { recursive: true, force: true });
    await rm(workspace, { recursive: true, force: true });
  }
}

async function untilOnline(base: string, id: string): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const w = (await (await fetch(`${base}/workspaces/${id}`, { headers: HEADERS })).json()) as { status: string; last_sample_error: string };
    if (w.status === 'online') return;
    if (w.status === 'failed') throw new Error(`workspace ${id} failed: ${w.last_sample_error}`);
    if (performance.now() > deadline) throw new Error(`workspace ${id} not online after 60 s (status ${w.status})`);
    await sleep(25);
  }
}

/** Create -> online per template, one at a time, SERIAL times each. */
async function createToOnline(templates: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  const { proc, base, dataDir } = await launchPlatform(
    ADMIN_TOKEN,
    { MOLECULE_PROVISIONER: 'process', MOLECULE_TEMPLATES_DIR: templates, OPENAI_BASE_URL: DEAD_MODEL, OPENAI_API_KEY: 'bench' },
    'molecule-bench-adapters-',
  );
  try {
    for (const row of ROWS) {
      const times: number[] = [];
      for (let i = 0; i < SERIAL; i++) {
        const t0 = performance.now();
        const r = await fetch(`${base}/workspaces`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ name: `${row.adapter}-${i}`, template: row.template }) });
        if (r.status !== 201) throw new Error(`POST /workspaces answered ${r.status}: ${await r.text()}`);
        await untilOnline(base, ((await r.json()) as { id: string }).id);
        times.push(performance.now() - t0);
      }
      out.set(row.adapter, times);
    }
  } finally {
    await proc.stop();
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
  return out;
}

async function main(): Promise<void> {
  print(`bench/adapters  node ${process.version}, ${os.cpus().length} CPUs, process backend, PGlite`);
  // The repository's templates, plus gemini-cli's shape with the fake ACP agent in place of `gemini`.
  const templates = await mkdtemp(path.join(os.tmpdir(), 'molecule-bench-templates-'));
  for (const row of ROWS) if (row.template !== 'acp-fake') await cp(path.join(ROOT, 'templates', row.template), path.join(templates, row.template), { recursive: true });
  await mkdir(path.join(templates, 'acp-fake'));
  await writeFile(path.join(templates, 'acp-fake', 'config.yaml'), `name: ACP\nadapter: acp\nacp:\n  command: ${JSON.stringify(process.execPath)}\n  args: [${JSON.stringify(FAKE_ACP)}]\n`);
  try {
    const rows: string[][] = [];
    const online = await createToOnline(templates);
    const echoPeak = (await idleAgent(templates, 'echo')).peak;
    for (const row of ROWS) {
      const load = loadCost(row.module);
      const idle = await idleAgent(templates, row.template);
      const times = online.get(row.adapter) ?? [];
      rows.push([
        row.adapter,
        `${load.mb.toFixed(1)} MB`,
        ms(load.ms),
        ms(idle.start),
        `${idle.peak.toFixed(0)} MB`,
        `${idle.peak - echoPeak >= 0 ? '+' : ''}${(idle.peak - echoPeak).toFixed(0)} MB`,
        ms(pct(times, 50)),
      ]);
    }
    printTable(['adapter', 'load: RSS added', 'load: time', 'agent alone: spawn -> /health', 'agent idle: peak RSS', 'vs echo', `create -> online p50 (n=${SERIAL})`], rows);
  } finally {
    await rm(templates, { recursive: true, force: true });
  }
}

await runBench(main);
