/**
 * bench/org-import: a 100-workspace org template imported with the process backend (the embedded
 * default) until every workspace is online, at provision concurrency caps 3 (the default), 10 and
 * unlimited (MOLECULE_PROVISION_CONCURRENCY=0). Target: < 60 s in total at the default cap.
 *
 * The org: one lead, 9 team leads under it, 10 members under each (100 workspaces, template echo),
 * sent inline to POST /org/import. Each workspace's time is from the import request to the first
 * GET /workspaces (polled every 100 ms, one request for all) that shows it online. The platform is
 * the built server as a child process on PGlite, restarted fresh for each cap. Knob: BENCH_ORG_SIZE
 * (100; rounded to whole teams of 10).
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import { intEnv, launchPlatform, ms, percentile as pct, print, printTable, runBench, sleep } from './support.js';

const SIZE = intEnv('BENCH_ORG_SIZE', 100);
const TARGET_MS = 60_000;
const ADMIN_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const HEADERS = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

function orgTemplate(size: number): unknown {
  const teams = Math.max(1, Math.round((size - 1) / 11));
  return {
    name: `bench org of ${1 + teams * 11}`,
    defaults: { template: 'echo' },
    workspaces: [
      {
        name: 'lead',
        children: Array.from({ length: teams }, (_, t) => ({
          name: `team-${t}`,
          children: Array.from({ length: 10 }, (_, m) => ({ name: `team-${t}-member-${m}` })),
        })),
      },
    ],
  };
}

interface Run {
  cap: string;
  count: number;
  total: number;
  perWorkspace: number[];
}

async function importOnce(cap: number): Promise<Run> {
  const { proc, base, dataDir } = await launchPlatform(ADMIN_TOKEN, { MOLECULE_PROVISIONER: 'process', MOLECULE_PROVISION_CONCURRENCY: String(cap) }, 'molecule-bench-org-');
  try {
    const t0 = performance.now();
    const r = await fetch(`${base}/org/import`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ template: orgTemplate(SIZE) }) });
    if (r.status !== 201) throw new Error(`POST /org/import answered ${r.status}: ${await r.text()}`);
    const ids = new Set(((await r.json()) as { workspaces: { id: string }[] }).workspaces.map((w) => w.id));
    const onlineAt = new Map<string, number>();
    for (;;) {
      const rows = (await (await fetch(`${base}/workspaces`, { headers: HEADERS })).json()) as { id: string; status: string; last_sample_error: string }[];
      const now = performance.now() - t0;
      for (const w of rows) {
        if (!ids.has(w.id)) continue;
        if (w.status === 'failed') throw new Error(`workspace ${w.id} failed: ${w.last_sample_error}`);
        if (w.status === 'online' && !onlineAt.has(w.id)) onlineAt.set(w.id, now);
      }
      if (onlineAt.size === ids.size) break;
      if (now > TARGET_MS * 5) throw new Error(`${ids.size - onlineAt.size} of ${ids.size} still not online after ${ms(now)}`);
      await sleep(100);
    }
    const perWorkspace = [...onlineAt.values()];
    return { cap: cap === 0 ? 'unlimited' : String(cap), count: ids.size, total: Math.max(...perWorkspace), perWorkspace };
  } finally {
    await proc.stop();
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }
}

async function main(): Promise<void> {
  print(`bench/org-import  node ${process.version}, ${os.cpus().length} CPUs, process backend, PGlite, org of ~${SIZE} (template echo)`);
  const runs: Run[] = [];
  for (const cap of [3, 10, 0]) runs.push(await importOnce(cap));
  const base = runs[0]!.total;
  printTable(
    ['cap', 'workspaces', 'all online', 'vs 60 s target', 'vs cap 3', 'per workspace p50', 'p99'],
    runs.map((r) => [r.cap, String(r.count), ms(r.total), `${(r.total / TARGET_MS).toFixed(2)}x`, `${(r.total / base).toFixed(2)}x`, ms(pct(r.perWorkspace, 50)), ms(pct(r.perWorkspace, 99))]),
  );
  print(`default cap (3): all online target < ${ms(TARGET_MS)}: ${base < TARGET_MS ? 'met' : 'NOT met'}`);
}

await runBench(main);
