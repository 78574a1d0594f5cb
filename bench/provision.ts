/**
 * bench/provision: how fast workspaces come alive with the process backend (the embedded default).
 *
 * 1. Baseline: `molecule-agent` started by hand (standalone, echo adapter) until its /health answers:
 *    the floor for any create -> online.
 * 2. Create -> online, one at a time: POST /workspaces {template: echo} until GET /workspaces/:id says
 *    online (the agent started, registered, and the platform recorded it). Target p50 < 2 s.
 * 3. 100 created at once until all are online. Target < 60 s.
 *
 * The platform runs as a child process (the built server, PGlite, MOLECULE_PROVISIONER=process); the
 * agents are its children. Polling GET /workspaces/:id every 25 ms adds a little load, which the
 * figures include. Knobs: BENCH_SERIAL (10), BENCH_BURST (100).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../packages/server/src/test-support/net.js';
import { intEnv, launchPlatform, runBench, launch, ms, percentile as pct, platformEnv, print, printTable, ROOT, sleep, waitForHealth } from './support.js';

const SERIAL = intEnv('BENCH_SERIAL', 10);
const BURST = intEnv('BENCH_BURST', 100);
const ADMIN_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const HEADERS = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const P50_TARGET_MS = 2000;
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

async function create(base: string, name: string): Promise<string> {
  const r = await fetch(`${base}/workspaces`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ name, template: 'echo' }) });
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

async function main(): Promise<void> {
  print(`bench/provision  node ${process.version}, ${os.cpus().length} CPUs, process backend, PGlite`);
  const baseline = [];
  for (let i = 0; i < 3; i++) baseline.push(await agentBaseline());
  const floor = pct(baseline, 50);

  const { proc: server, base, dataDir } = await launchPlatform(ADMIN_TOKEN, { MOLECULE_PROVISIONER: 'process' }, 'molecule-bench-provision-');
  try {
    const serial: number[] = [];
    for (let i = 0; i < SERIAL; i++) {
      const t0 = performance.now();
      await untilOnline(base, await create(base, `serial-${i}`));
      serial.push(performance.now() - t0);
    }
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

    printTable(
      ['measure', 'value', 'vs agent alone'],
      [
        ['agent alone: spawn -> /health (p50 of 3)', ms(floor), '1.00x'],
        [`create -> online, one at a time: p50 (n=${SERIAL})`, ms(pct(serial, 50)), `${(pct(serial, 50) / floor).toFixed(2)}x`],
        [`create -> online, one at a time: p95 (n=${SERIAL})`, ms(pct(serial, 95)), `${(pct(serial, 95) / floor).toFixed(2)}x`],
        [`${BURST} created at once -> all online`, ms(burst), ''],
      ],
    );
    print(`create -> online p50 target < ${ms(P50_TARGET_MS)}: ${pct(serial, 50) < P50_TARGET_MS ? 'met' : 'NOT met'}`);
    print(`${BURST} at once target < ${ms(BURST_TARGET_MS)}: ${burst < BURST_TARGET_MS ? 'met' : 'NOT met'}`);
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

await runBench(main);
