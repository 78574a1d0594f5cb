import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@molecule/server/testing';

// The built binary, as `npm start` and users run it; scripts/test.sh builds before this project runs.
const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const adminToken = `admin-${randomBytes(16).toString('hex')}`;

/** Only what the child needs: the test's own environment (ADMIN_TOKEN, DATABASE_URL…) stays out. */
function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

/** Runs `node dist/main.js <args>` to completion. */
function runBuilt(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/**
 * Spawns `molecule up` on a free port and resolves with its URL once it listens. The child goes
 * into `track` at once, so cleanup reaches it even when it never comes up.
 */
async function startUp(dataDir: string, track: ChildProcess[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN, 'up', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], {
    env: baseEnv({ ADMIN_TOKEN: adminToken, LOG_LEVEL: 'info', MOLECULE_PROVISIONER: 'none', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track.push(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // With ADMIN_TOKEN set the server logs (JSON, stdout is not a TTY) one line carrying its URL.
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let rec: { msg?: string; url?: string };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        return; // not a log record
      }
      if (rec.msg === 'molecule is listening' && rec.url) resolve(rec.url);
    });
    child.on('exit', (code) => reject(new Error(`molecule up exited with ${code} before listening: ${stderr}`)));
  });
  return { child, url };
}

describe('the built molecule binary', () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
  });

  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGKILL');
      await exited;
    }
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('`molecule up` serves /health, `workspace ls` lists through it, and SIGTERM stops it with exit 0', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-cli-int-'));
    dirs.push(dataDir);
    const { child, url } = await startUp(dataDir, children);
    expect((await fetch(`${url}/health`)).status).toBe(200);

    const env = { MOLECULE_URL: url, MOLECULE_ADMIN_TOKEN: adminToken };
    const created = await runBuilt(['workspace', 'create', 'spawned', '--json'], env);
    expect(created.err).toBe('');
    expect(created.code).toBe(0);
    const id = (JSON.parse(created.out) as { id: string }).id;

    const ls = await runBuilt(['workspace', 'ls'], env);
    expect(ls).toMatchObject({ code: 0, err: '' });
    expect(ls.out).toMatch(new RegExp(`^${id}\\s+spawned\\s`, 'm'));

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('`org import demo-team` with the process backend shows its progress and ends with every workspace online', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-cli-org-'));
    dirs.push(dataDir);
    const { child, url } = await startUp(dataDir, children, { MOLECULE_PROVISIONER: 'process' });
    const env = { MOLECULE_URL: url, MOLECULE_ADMIN_TOKEN: adminToken };
    const r = await runBuilt(['org', 'import', 'demo-team', '--timeout', '120'], env);
    expect(r.err).toMatch(/^\[[.#]{30}\] {2}0\/4 online/m);
    expect(r.err).toMatch(/^\[#{30}\] {2}4\/4 online$/m);
    expect(r.out).toContain('all 4 workspace(s) of "Demo team" are online');
    expect(r.code).toBe(0);
    const ls = await runBuilt(['workspace', 'ls', '--json'], env);
    const listed = JSON.parse(ls.out) as { name: string; status: string }[];
    expect(listed.map((w) => [w.name, w.status]).sort()).toEqual([
      ['Lead', 'online'],
      ['Reviewer', 'online'],
      ['Slow worker', 'online'],
      ['worker', 'online'],
    ]);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }, 180_000);

  it('`workspace ls` exits 1 with the `npm start` hint when nothing listens', async () => {
    const r = await runBuilt(['workspace', 'ls'], { MOLECULE_URL: `http://127.0.0.1:${await freePort()}`, MOLECULE_ADMIN_TOKEN: adminToken });
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain('is the platform running? start it with `npm start`');
  });
});
