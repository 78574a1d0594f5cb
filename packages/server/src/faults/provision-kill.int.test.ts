import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { freePort } from '../net/free-port.js';
import { freshDb, type TestDb } from '../test-support/harness.js';
import { PROCESS_ADMIN_TOKEN as ADMIN, startPlatformProcess, type PlatformProcess } from '../test-support/platform-process.js';

/**
 * The platform process is killed (`kill -9`) while it provisions local agent processes, and started
 * again on the same database and data directory: no workspace stays `provisioning` past its
 * deadline, and every agent process left running belongs to a live workspace (none orphaned);
 * deleting the workspaces stops them all.
 */

const TIMEOUT_SECONDS = 8;
const COUNT = 4;

/** Pids of running agent processes whose environment names one of `ids`. */
async function agentPids(ids: readonly string[]): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string;
    try {
      environ = await readFile(`/proc/${entry}/environ`, 'latin1');
    } catch {
      continue;
    }
    const id = environ
      .split('\0')
      .find((v) => v.startsWith('WORKSPACE_ID='))
      ?.slice('WORKSPACE_ID='.length);
    if (id && ids.includes(id)) out.set(id, [...(out.get(id) ?? []), Number(entry)]);
  }
  return out;
}

describe('fault: the platform killed mid-provision', () => {
  let tdb: TestDb;
  let dataDir: string;
  let platform: PlatformProcess | undefined;
  let base: string;
  const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };

  async function startPlatform(): Promise<void> {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    platform = await startPlatformProcess(port, {
      DATABASE_URL: tdb.url!,
      REDIS_URL: '',
      MOLECULE_DATA_DIR: dataDir,
      MOLECULE_PROVISIONER: 'process',
      PROVISION_TIMEOUT_SECONDS: String(TIMEOUT_SECONDS),
      LOG_LEVEL: 'warn',
    });
  }

  const get = async (id: string) => (await (await fetch(`${base}/workspaces/${id}`, { headers })).json()) as { status: string; instance_id?: string | null };

  beforeAll(async () => {
    tdb = await freshDb('postgres');
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-fault-provision-'));
  });

  afterAll(async () => {
    await platform?.kill();
    await tdb?.drop();
  });

  it('after a restart nothing stays provisioning past its deadline and no agent process is orphaned', async () => {
    await startPlatform();
    const created = await Promise.all(
      Array.from({ length: COUNT }, async (_, i) => {
        const r = await fetch(`${base}/workspaces`, { method: 'POST', headers, body: JSON.stringify({ name: `mid-${i}`, template: 'echo' }) });
        expect(r.status).toBe(201);
        return ((await r.json()) as { id: string }).id;
      }),
    );
    // Killed while the agents are being provisioned.
    await platform!.kill();
    expect((await Promise.all(created.map(get).map((p) => p.catch(() => undefined)))).every((x) => x === undefined)).toBe(true);

    await startPlatform();
    // Every workspace settles: online (its agent came up and registered) or failed (its deadline passed).
    await expect
      .poll(async () => (await Promise.all(created.map(get))).map((w) => w.status).filter((s) => s === Status.Provisioning).length, {
        timeout: (TIMEOUT_SECONDS + 40) * 1000,
        interval: 500,
      })
      .toBe(0);
    const settled = await Promise.all(created.map(get));
    for (const w of settled) expect([Status.Online, Status.Failed]).toContain(w.status);

    // No orphan: at most one agent per workspace, and only for a workspace that is online with that very process.
    const pids = await agentPids(created);
    for (const [i, id] of created.entries()) {
      const running = pids.get(id) ?? [];
      const w = settled[i]!;
      if (w.status === Status.Online) expect(running).toEqual([Number(String(w.instance_id).split(':')[1])]);
      else expect(running, `workspace ${id} is ${w.status} but its agent runs`).toEqual([]);
    }

    for (const id of created) expect((await fetch(`${base}/workspaces/${id}?confirm=true`, { method: 'DELETE', headers: { authorization: headers.authorization } })).status).toBe(200);
    await expect.poll(async () => (await agentPids(created)).size, { timeout: 20_000, interval: 200 }).toBe(0);
  }, 180_000);
});
