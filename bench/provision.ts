/**
 * bench/provision: how fast workspaces come alive with the process backend (the embedded default),
 * and with the docker backend beside it when a Docker engine is available (TEST_DOCKER_HOST and
 * TEST_RUNTIME_IMAGE, which scripts/bench.sh provides as root).
 *
 * 1. Baseline: `molecule-agent` started by hand (standalone, echo adapter) until its /health answers:
 *    the floor for any create -> online.
 * 2. Create -> online, one at a time: POST /workspaces {template: echo} until GET /workspaces/:id says
 *    online (the agent started, registered, and the platform recorded it). Target p50 < 2 s.
 * 3. 100 created at once until all are online. Target < 60 s.
 * 4. Docker: the runtime image's container alone until /health answers, then create -> online one
 *    at a time (host networking, as the tests run it). Target p50 < 5 s.
 * 5. Per adapter runtime (issue #16): create -> online p50 from its template on the process backend,
 *    molecule-agent's peak memory at idle (VmHWM after /health) per runtime, and the memory that
 *    loading each SDK adds (RSS of a bare node before and after importing it; the SDK loads on the
 *    first message, so an idle agent does not pay it).
 *
 * The platform runs as a child process (the built server, PGlite, MOLECULE_PROVISIONER=process); the
 * agents are its children. Polling GET /workspaces/:id every 25 ms adds a little load, which the
 * figures include. Knobs: BENCH_SERIAL (10), BENCH_BURST (100), BENCH_ONLY_ADAPTERS=1 (only step 5).
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { intEnv, launchPlatform, runBench, launch, ms, percentile as pct, platformEnv, print, printTable, ROOT, sleep, waitForHealth } from './support.js';
import { dockerClientOptions, freePort } from '@molecule/server/testing';

const SERIAL = intEnv('BENCH_SERIAL', 10);
const ONLY_ADAPTERS = process.env.BENCH_ONLY_ADAPTERS === '1';
const BURST = intEnv('BENCH_BURST', 100);
const ADMIN_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const HEADERS = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const P50_TARGET_MS = 2000;
const DOCKER_P50_TARGET_MS = 5000;
const BURST_TARGET_MS = 60_000;

async function agentBaseline(): Promise<number> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-bench-agent-'));
  const t0 = performance.now();
  const proc = launch(process.execPath, [path.join(ROOT, 'packages/runtime/dist/main.js')], platformEnv({ PORT: String(port), MOLECULE_CONFIGS_DIR: dir, MOLECULE_WORKSPACE_DIR: dir }));
  try {
    return (await waitForHealth(`http://127.0.0.1:${port}`, proc)) - t0;
  } finally {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The runtime image's container alone (host network, standalone agent) until its /health answers. */
async function containerBaseline(docker: Docker, image: string): Promise<number> {
  const port = await freePort();
  const t0 = performance.now();
  const c = await docker.createContainer({ Image: image, Env: [`PORT=${port}`], HostConfig: { NetworkMode: 'host', Init: true } });
  try {
    await c.start();
    const deadline = t0 + 60_000;
    for (;;) {
      const up = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
      if (up) return performance.now() - t0;
      if (performance.now() > deadline) throw new Error('the runtime container did not answer /health within 60 s');
      await sleep(10);
    }
  } finally {
    await c.remove({ force: true });
  }
}

/** Create -> online, one at a time, `n` times; with `deleteAfter` the workspaces are deleted at the end. */
async function serialRuns(base: string, n: number, prefix: string, deleteAfter = false, template = 'echo'): Promise<number[]> {
  const out: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const id = await create(base, `${prefix}-${i}`, template);
    ids.push(id);
    await untilOnline(base, id);
    out.push(performance.now() - t0);
  }
  // Containers outlive the platform process, so the docker runs clean up through the API.
  if (deleteAfter) for (const id of ids) await fetch(`${base}/workspaces/${id}`, { method: 'DELETE', headers: { authorization: HEADERS.authorization } });
  return out;
}

/** The docker backend's figures, or undefined without an engine. */
async function dockerFigures(): Promise<{ floor: number; serial: number[] } | undefined> {
  const host = process.env.TEST_DOCKER_HOST;
  const image = process.env.TEST_RUNTIME_IMAGE;
  if (!host || !image) {
    print('TEST_DOCKER_HOST / TEST_RUNTIME_IMAGE are not set: no docker figures (scripts/bench.sh starts an engine as root)');
    return undefined;
  }
  const docker = new Docker(dockerClientOptions(host));
  const baseline = [];
  for (let i = 0; i < 3; i++) baseline.push(await containerBaseline(docker, image));
  const { proc, base, dataDir } = await launchPlatform(
    ADMIN_TOKEN,
    { MOLECULE_PROVISIONER: 'docker', DOCKER_HOST: host, MOLECULE_DOCKER_NETWORK: 'host', MOLECULE_RUNTIME_IMAGE: image },
    'molecule-bench-provision-docker-',
  );
  try {
    return { floor: pct(baseline, 50), serial: await serialRuns(base, SERIAL, 'docker-serial', true) };
  } finally {
    await proc.stop();
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

async function create(base: string, name: string, template = 'echo'): Promise<string> {
  const r = await fetch(`${base}/workspaces`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ name, template }) });
  if (r.status !== 201) throw new Error(`POST /workspaces answered ${r.status}: ${await r.text()}`);
  return ((await r.json()) as { id: string }).id;
}

async function statusOf(base: string, id: string): Promise<{ status: string; last_sample_error: string }> {
  return (await (await fetch(`${base}/workspaces/${id}`, { headers: HEADERS })).json()) as { status: string; last_sample_error: string };
}

async function untilOnline(base: string, id: string, deadlineMs = 60_000): Promise<void> {
  const deadline = performance.now() + deadlineMs;
  for (;;) {
    const w = await statusOf(base, id);
    if (w.status === 'online') return;
    if (w.status === 'failed') throw new Error(`workspace ${id} failed: ${w.last_sample_error}`);
    if (performance.now() > deadline) throw new Error(`workspace ${id} not online after ${deadlineMs} ms (status ${w.status})`);
    await sleep(25);
  }
}

/** The adapter runtimes measured: runtime, its template, the SDK its adapter loads, the keys it needs (fake: no model is called). */
const ADAPTERS = [
  { runtime: 'claude-code', template: 'claude-code', sdk: '@anthropic-ai/claude-agent-sdk', env: { ANTHROPIC_API_KEY: 'sk-bench' } },
  { runtime: 'codex', template: 'codex', sdk: '@openai/codex-sdk', env: { OPENAI_API_KEY: 'sk-bench' } },
] as const;

/** molecule-agent alone for `runtime` until /health, then its peak resident memory (VmHWM), in MiB. */
async function idlePeakMiB(runtime: string, env: Record<string, string>): Promise<number> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-bench-agent-'));
  const proc = launch(process.execPath, [path.join(ROOT, 'packages/runtime/dist/main.js')], platformEnv({ PORT: String(port), MOLECULE_CONFIGS_DIR: dir, MOLECULE_WORKSPACE_DIR: dir, MOLECULE_RUNTIME: runtime, ...env }));
  try {
    await waitForHealth(`http://127.0.0.1:${port}`, proc);
    await sleep(500);
    const status = await readFile(`/proc/${proc.child.pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } finally {
    await proc.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** What importing `pkg` adds to a bare node's resident memory, in MiB. */
function sdkLoadMiB(pkg: string): number {
  const script = `const a = process.memoryUsage().rss; await import(${JSON.stringify(pkg)}); console.log(process.memoryUsage().rss - a);`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: path.join(ROOT, 'packages/runtime'), encoding: 'utf8' });
  return Number(out.trim()) / 1024 / 1024;
}

async function adapterFigures(): Promise<string[][]> {
  const rows: string[][] = [['molecule (echo)', 'see above', `${(await idlePeakMiB('molecule', {})).toFixed(1)} MiB`, '-']];
  for (const a of ADAPTERS) {
    const { proc, base, dataDir } = await launchPlatform(ADMIN_TOKEN, { MOLECULE_PROVISIONER: 'process' }, 'molecule-bench-provision-adapter-');
    try {
      for (const [key, value] of Object.entries(a.env)) {
        const r = await fetch(`${base}/settings/secrets`, { method: 'PUT', headers: HEADERS, body: JSON.stringify({ key, value }) });
        if (!r.ok) throw new Error(`PUT /settings/secrets answered ${r.status}`);
      }
      const n = Math.min(SERIAL, 5);
      const serial = await serialRuns(base, n, `adapter-${a.runtime}`, false, a.template);
      rows.push([a.runtime, `${ms(pct(serial, 50))} (n=${n})`, `${(await idlePeakMiB(a.runtime, a.env)).toFixed(1)} MiB`, `+${sdkLoadMiB(a.sdk).toFixed(1)} MiB`]);
    } finally {
      await proc.stop();
      await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    }
  }
  return rows;
}

async function main(): Promise<void> {
  print(`bench/provision  node ${process.version}, ${os.cpus().length} CPUs, process and docker backends, PGlite`);
  if (ONLY_ADAPTERS) {
    printTable(['adapter runtime (process backend)', 'create -> online p50', 'agent idle peak RSS', 'SDK load adds'], await adapterFigures());
    return;
  }
  const baseline = [];
  for (let i = 0; i < 3; i++) baseline.push(await agentBaseline());
  const floor = pct(baseline, 50);

  let processFigures: { floor: number; serial: number[]; burst: number } | undefined;
  const { proc: server, base, dataDir } = await launchPlatform(ADMIN_TOKEN, { MOLECULE_PROVISIONER: 'process' }, 'molecule-bench-provision-');
  try {
    const serial = await serialRuns(base, SERIAL, 'serial');
    const t0 = performance.now();
    const ids = new Set(await Promise.all(Array.from({ length: BURST }, (_, i) => create(base, `burst-${i}`))));
    // One list request every 250 ms watches them all (per-workspace polling would be the load).
    for (;;) {
      const rows = (await (await fetch(`${base}/workspaces`, { headers: HEADERS })).json()) as { id: string; status: string; last_sample_error: string }[];
      const mine = rows.filter((r) => ids.has(r.id));
      const failed = mine.find((r) => r.status === 'failed');
      if (failed) throw new Error(`workspace ${failed.id} failed: ${failed.last_sample_error}`);
      if (mine.every((r) => r.status === 'online')) break;
      if (performance.now() - t0 > BURST_TARGET_MS * 3) throw new Error(`${mine.filter((r) => r.status !== 'online').length} still not online`);
      await sleep(250);
    }
    const burst = performance.now() - t0;

    processFigures = { floor, serial, burst };
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
  if (!processFigures) throw new Error('no process backend figures');
  const { floor: pFloor, serial: pSerial, burst } = processFigures;
  const docker = await dockerFigures();
  const ratio = (v: number, floor: number) => `${(v / floor).toFixed(2)}x`;
  const d = (f: (x: NonNullable<typeof docker>) => string) => (docker ? f(docker) : 'n/a');
  printTable(
    ['measure', 'process', 'vs alone', 'docker', 'vs alone'],
    [
      ['agent alone: spawn -> /health (p50 of 3)', ms(pFloor), '1.00x', d((x) => ms(x.floor)), d(() => '1.00x')],
      [`create -> online, one at a time: p50 (n=${SERIAL})`, ms(pct(pSerial, 50)), ratio(pct(pSerial, 50), pFloor), d((x) => ms(pct(x.serial, 50))), d((x) => ratio(pct(x.serial, 50), x.floor))],
      [`create -> online, one at a time: p95 (n=${SERIAL})`, ms(pct(pSerial, 95)), ratio(pct(pSerial, 95), pFloor), d((x) => ms(pct(x.serial, 95))), d((x) => ratio(pct(x.serial, 95), x.floor))],
      [`${BURST} created at once -> all online`, ms(burst), '', 'not measured', ''],
    ],
  );
  printTable(['adapter runtime (process backend)', 'create -> online p50', 'agent idle peak RSS', 'SDK load adds'], await adapterFigures());
  print(`process: create -> online p50 target < ${ms(P50_TARGET_MS)}: ${pct(pSerial, 50) < P50_TARGET_MS ? 'met' : 'NOT met'}`);
  print(`process: ${BURST} at once target < ${ms(BURST_TARGET_MS)}: ${burst < BURST_TARGET_MS ? 'met' : 'NOT met'}`);
  if (docker) print(`docker: create -> online p50 target < ${ms(DOCKER_P50_TARGET_MS)}: ${pct(docker.serial, 50) < DOCKER_P50_TARGET_MS ? 'met' : 'NOT met'}`);
}

await runBench(main);
