/**
 * bench/files: what the platform's chat file routes cost on top of talking to the agent directly.
 *
 * The platform (PGlite, process backend) runs one echo molecule-agent. A ~48 MB upload (two 24 MB
 * files: the agent takes at most 25 MB per file and 50 MB per request) and a 50 MB download go once
 * straight to the agent's internal endpoints (with its inbound secret) and once through
 * `POST /workspaces/:id/chat/uploads` and `GET /workspaces/:id/chat/download`, BENCH_FILES_RUNS times
 * each (3); the bench prints the median times, the ratio platform / direct, and the platform
 * process's peak RSS growth over the whole run (VmHWM from /proc): streaming means it stays far below
 * the file size. The data dir is made under /home, a root the download route allows (C080).
 */
import { randomBytes } from 'node:crypto';
import { openAsBlob, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { api, intEnv, launchPlatform, ms, percentile, print, printTable, runBench, sleep, type Proc } from './support.js';

const ADMIN_TOKEN = 'bench-files-admin-token-0123456789';
const RUNS = intEnv('BENCH_FILES_RUNS', 3);
const MB = 1024 * 1024;
const UPLOAD_PART_BYTES = 24 * MB;
const DOWNLOAD_BYTES = 50 * MB;

/** VmRSS or VmHWM of a process, in bytes (0 without /proc). */
function memOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Reads a whole answer without keeping it; fails on a non-2xx. */
async function drain(res: Response, what: string): Promise<number> {
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  let n = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) n += chunk.length;
  return n;
}

async function main(): Promise<void> {
  const base = os.homedir().startsWith('/home/') ? os.homedir() : '/home';
  const dataDir = await mkdtemp(path.join(base, 'molecule-bench-files-'));
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'molecule-bench-files-src-'));
  let unusedDataDir: string | undefined;
  let platformProc: Proc | undefined;
  try {
    const platform = await launchPlatform(ADMIN_TOKEN, { MOLECULE_PROVISIONER: 'process', MOLECULE_DATA_DIR: dataDir }, 'molecule-bench-files-');
    unusedDataDir = platform.dataDir;
    platformProc = platform.proc;
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const created = await api(platform.base, 'POST', '/workspaces', { ...admin, 'content-type': 'application/json' }, { name: 'files', template: 'echo' });
    const id = created.id as string;
    let url = '';
    const deadline = performance.now() + 120_000;
    while (performance.now() < deadline) {
      const ws = await api(platform.base, 'GET', `/workspaces/${id}`, admin);
      if (ws.status === 'online' && typeof ws.url === 'string' && ws.url) {
        url = ws.url;
        break;
      }
      await sleep(200);
    }
    if (!url) throw new Error('the workspace did not come online within 120 s');
    // MOLECULE_DATA_DIR above wins over the temporary one launchPlatform made (removed in finally).
    const wsDir = path.join(dataDir, 'workspaces', id);
    const secret = (await readFile(path.join(wsDir, 'configs', '.platform_inbound_secret'), 'utf8')).trim();
    const inbound = { authorization: `Bearer ${secret}` };

    const parts = [path.join(scratch, 'a.bin'), path.join(scratch, 'b.bin')];
    for (const p of parts) await writeFile(p, randomBytes(UPLOAD_PART_BYTES));
    const big = path.join(wsDir, 'workspace', 'big.bin');
    await writeFile(big, randomBytes(DOWNLOAD_BYTES));
    const form = async () => {
      const f = new FormData();
      for (const p of parts) f.append('files', await openAsBlob(p), path.basename(p));
      return f;
    };

    const pid = platform.proc.child.pid!;
    const rssBefore = memOf(pid, 'VmRSS');
    const hwmBefore = memOf(pid, 'VmHWM');
    const times: Record<string, number[]> = { 'upload direct': [], 'upload via platform': [], 'download direct': [], 'download via platform': [] };
    for (let i = 0; i < RUNS; i++) {
      times['upload direct']!.push(await timed(async () => void (await drain(await fetch(`${url}/internal/chat/uploads/ingest`, { method: 'POST', headers: inbound, body: await form() }), 'direct upload'))));
      times['upload via platform']!.push(
        await timed(async () => void (await drain(await fetch(`${platform.base}/workspaces/${id}/chat/uploads`, { method: 'POST', headers: admin, body: await form() }), 'platform upload'))),
      );
      times['download direct']!.push(
        await timed(async () => {
          const n = await drain(await fetch(`${url}/internal/file/read?path=${encodeURIComponent(big)}`, { headers: inbound }), 'direct download');
          if (n !== DOWNLOAD_BYTES) throw new Error(`direct download: ${n} bytes`);
        }),
      );
      times['download via platform']!.push(
        await timed(async () => {
          const n = await drain(await fetch(`${platform.base}/workspaces/${id}/chat/download?path=${encodeURIComponent(big)}`, { headers: admin }), 'platform download');
          if (n !== DOWNLOAD_BYTES) throw new Error(`platform download: ${n} bytes`);
        }),
      );
    }
    const hwmAfter = memOf(pid, 'VmHWM');
    const median = (k: string) => percentile(times[k]!, 50);
    print(`bench/files: ${RUNS} runs each; upload ${(2 * UPLOAD_PART_BYTES) / MB} MB in two files, download ${DOWNLOAD_BYTES / MB} MB`);
    printTable(
      ['transfer', 'direct p50', 'platform p50', 'platform / direct'],
      (['upload', 'download'] as const).map((op) => [op, ms(median(`${op} direct`)), ms(median(`${op} via platform`)), `${(median(`${op} via platform`) / median(`${op} direct`)).toFixed(2)}x`]),
    );
    print(
      `platform RSS before ${(rssBefore / MB).toFixed(0)} MB; peak RSS growth during the transfers ${(Math.max(0, hwmAfter - Math.max(hwmBefore, rssBefore)) / MB).toFixed(1)} MB (peak ${(hwmAfter / MB).toFixed(0)} MB; a buffered ${DOWNLOAD_BYTES / MB} MB transfer would add at least that much)`,
    );
  } finally {
    // Stopped before its data dir goes (the agent stops with it).
    await platformProc?.stop();
    await rm(scratch, { recursive: true, force: true });
    if (unusedDataDir) await rm(unusedDataDir, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  }
}

await runBench(main);
