import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

/** Runs the built `molecule-server` and returns its URL once it answers /health. */
async function launch(env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => (out += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

describe('molecule-server binary', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('shuts down gracefully on %s', async (signal) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-bin-'));
    const s = await launch({ PORT: '0', MOLECULE_DATA_DIR: dir, ADMIN_TOKEN: 'bin-test-admin-token-0123456789' });
    await expect.poll(() => /molecule is listening/.test(s.output()), { timeout: 20_000 }).toBe(true);
    const url = /"url":"(http:\/\/[^"]+)"/.exec(s.output())![1]!;
    expect((await fetch(`${url}/health`)).status).toBe(200);
    s.child.kill(signal);
    expect(await s.exited).toBe(0);
    expect(s.output()).toMatch(/"msg":"stopped"/);
  });

  it('refuses to start on a public host without ADMIN_TOKEN and says how to fix it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-bin-'));
    const s = await launch({ PORT: '0', HOST: '0.0.0.0', MOLECULE_DATA_DIR: dir, ADMIN_TOKEN: '' });
    expect(await s.exited).toBe(1);
    expect(s.output()).toMatch(/Set ADMIN_TOKEN/);
  });
});
