import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { configsDir, WORKSPACE_ID, type Json } from './test-support/agent.js';
import { startFakePlatform, type FakePlatform } from './test-support/fake-platform.js';

const BIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/** Runs the built `molecule-agent` with only the given environment (as the process provisioner does). */
function launch(env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN], { env: { PATH: process.env.PATH ?? '', PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => (out += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = () => /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1];
  return { child, exited, output: () => out, url };
}

let platforms: FakePlatform[] = [];
afterEach(async () => {
  await Promise.all(platforms.map((p) => p.close()));
  platforms = [];
});

describe('molecule-agent binary', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('serves A2A, then shuts down gracefully on %s', async (signal) => {
    const dir = await configsDir('name: Bin\nadapter: echo\n');
    const a = launch({ MOLECULE_CONFIGS_DIR: dir });
    await expect.poll(() => a.url(), { timeout: 10_000 }).toBeDefined();
    const res = await fetch(a.url()!, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { content: 'hi' } } }) });
    expect(((await res.json()) as Json).result.status.message.parts[0].text).toBe('echo: hi');
    a.child.kill(signal);
    expect(await a.exited).toBe(0);
    expect(a.output()).toMatch(/"msg":"molecule-agent stopped"/);
  });

  it('registers and heartbeats with the token from the configs dir', async () => {
    const p = await startFakePlatform();
    platforms.push(p);
    const dir = await configsDir('name: Bin\n', { '.auth_token': 'file-token\n' });
    const a = launch({ MOLECULE_CONFIGS_DIR: dir, PLATFORM_URL: p.url, WORKSPACE_ID, MOLECULE_HEARTBEAT_INTERVAL_SECONDS: '1' });
    await expect.poll(() => p.heartbeats().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(p.registers()[0]).toMatchObject({ headers: { authorization: 'Bearer file-token' }, body: { id: WORKSPACE_ID, url: a.url() } });
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
  });

  it('refuses to start on bad configuration, naming the field, with exit code 2', async () => {
    const dir = await configsDir('max_concurrent_tasks: lots\n');
    const a = launch({ MOLECULE_CONFIGS_DIR: dir, PORT: 'eighty' });
    expect(await a.exited).toBe(2);
    expect(a.output()).toMatch(/PORT: must be a whole number/);
    expect(a.output()).toMatch(/config\.yaml max_concurrent_tasks/);
  });
});
