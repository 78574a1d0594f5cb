import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WORKSPACE_ID } from './test-support/agent.js';
import { startFakePlatform, type FakePlatform } from './test-support/fake-platform.js';

const BIN = fileURLToPath(new URL('../dist/mcp-main.js', import.meta.url));

let platforms: FakePlatform[] = [];
afterEach(async () => {
  await Promise.all(platforms.map((p) => p.close()));
  platforms = [];
});

describe('molecule-mcp binary', () => {
  it('C036 registers at startup as an external poll agent and beats, every request with Origin: PLATFORM_URL; logs only on stderr; stops when the host closes stdin', async () => {
    const p = await startFakePlatform();
    platforms.push(p);
    const env = { PATH: process.env.PATH ?? '', WORKSPACE_ID, PLATFORM_URL: p.url, MOLECULE_WORKSPACE_TOKEN: 'env-token', CONFIGS_DIR: await mkdtemp(path.join(os.tmpdir(), 'molecule-mcp-bin-')) };
    const child = spawn(process.execPath, [BIN], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await expect.poll(() => p.heartbeats().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(p.registers()[0]).toMatchObject({
      headers: { authorization: 'Bearer env-token', origin: p.url },
      body: { id: WORKSPACE_ID, url: '', delivery_mode: 'poll', agent_card: { name: `molecule-mcp-${WORKSPACE_ID.slice(0, 8)}` } },
    });
    expect(p.heartbeats()[0]).toMatchObject({ headers: { origin: p.url }, body: { workspace_id: WORKSPACE_ID, active_tasks: 0 } });
    child.stdin.end();
    expect(await exited).toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/"msg":"molecule-mcp serving MCP on stdio"/);
  });
});
