import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { createLogger } from '../../log.js';
import type { WorkspaceRow } from '../../workspaces/repo.js';
import { isAlive } from '../../test-support/proc.js';
import { ProcessBackend } from './backend.js';

// A stand-in agent: prints what it was given, starts a grandchild (to prove the whole process group
// stops), and stays up until signalled.
const STAND_IN = `
const { spawn } = require('node:child_process');
const fs = require('node:fs');
console.log(JSON.stringify({ env: process.env, cwd: process.cwd(), token: fs.readFileSync(process.env.MOLECULE_CONFIGS_DIR + '/.auth_token', 'utf8') }));
const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
fs.writeFileSync(process.env.MOLECULE_WORKSPACE_DIR + '/grandchild.pid', String(g.pid));
if (process.env.EXIT_AT_ONCE) process.exit(3);
setInterval(() => {}, 1000);
`;


describe('process backend', () => {
  let dir: string;
  let backend: ProcessBackend;
  const exits: { id: string; code: number | null }[] = [];
  const ws = (name: string): WorkspaceRow =>
    ({ id: crypto.randomUUID(), name, status: Status.Provisioning, runtime: 'molecule' }) as WorkspaceRow;
  const spec = (w: WorkspaceRow, env: Record<string, string> = {}, applyTemplate = false) => ({
    workspace: w,
    env: { WORKSPACE_ID: w.id, PLATFORM_URL: 'http://127.0.0.1:1', ...env },
    secretFiles: { '.auth_token': 'mol_ws_secret', '.platform_inbound_secret': 'mol_in_secret' },
    templateFiles: { 'config.yaml': 'name: x\nadapter: echo\n', 'skills/a.md': '# a' },
    applyTemplate,
  });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-process-'));
    const agentBin = path.join(dir, 'agent.cjs');
    await writeFile(agentBin, STAND_IN);
    backend = new ProcessBackend({
      dataDir: dir,
      agentBin,
      log: createLogger({ level: 'silent', pretty: false }),
      stopGraceMs: 2000,
      onExit: (id, code) => void exits.push({ id, code }),
    });
    process.env.MOLECULE_TEST_LEAK = 'server-secret';
  });
  afterAll(() => {
    delete process.env.MOLECULE_TEST_LEAK;
  });

  it('starts the agent with its files, its own dirs and only the environment it needs', async () => {
    const w = ws('p1');
    const { instanceId } = await backend.start(spec(w), AbortSignal.timeout(10_000));
    expect(instanceId).toMatch(/^process:\d+$/);
    expect(await backend.isRunning(w)).toEqual({ state: 'running' });
    const configs = path.join(backend.dirOf(w.id), 'configs');
    expect((await stat(path.join(configs, '.auth_token'))).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(configs, '.platform_inbound_secret'))).mode & 0o777).toBe(0o600);
    expect(await readFile(path.join(configs, 'skills/a.md'), 'utf8')).toBe('# a');
    await expect.poll(() => backend.logs(w, 64 * 1024)).toMatch(/"token":"mol_ws_secret"/);
    const printed = JSON.parse((await backend.logs(w, 64 * 1024)).split('\n')[0]!) as { env: Record<string, string>; cwd: string };
    expect(printed.env).toMatchObject({ WORKSPACE_ID: w.id, PORT: '0', HOST: '127.0.0.1', MOLECULE_CONFIGS_DIR: configs });
    expect(printed.env).not.toHaveProperty('MOLECULE_TEST_LEAK');
    expect(printed.cwd).toBe(path.join(backend.dirOf(w.id), 'workspace'));
    await backend.stop(w, AbortSignal.timeout(10_000));
  });

  it('stop ends the whole process group; stopping again is a success (C103)', async () => {
    const w = ws('p2');
    const { instanceId } = await backend.start(spec(w), AbortSignal.timeout(10_000));
    const pid = Number(instanceId.split(':')[1]);
    const gpidFile = path.join(backend.dirOf(w.id), 'workspace', 'grandchild.pid');
    await expect.poll(async () => readFile(gpidFile, 'utf8').catch(() => '')).not.toBe('');
    const gpid = Number(await readFile(gpidFile, 'utf8'));
    await backend.stop(w, AbortSignal.timeout(10_000));
    await expect.poll(() => isAlive(pid) || isAlive(gpid)).toBe(false);
    expect(await backend.isRunning(w)).toEqual({ state: 'stopped' });
    await backend.stop(w, AbortSignal.timeout(10_000));
    expect(exits.find((e) => e.id === w.id)).toBeUndefined();
  });

  it('finds a running agent again after a server restart, and never mistakes a recycled pid', async () => {
    const w = ws('p3');
    await backend.start(spec(w), AbortSignal.timeout(10_000));
    const fresh = new ProcessBackend({ dataDir: dir, agentBin: 'unused', log: createLogger({ level: 'silent', pretty: false }) });
    expect(await fresh.isRunning(w)).toEqual({ state: 'running' });
    // A pid file pointing at a live process that is not this workspace's agent.
    const other = ws('p3-other');
    await backend.start(spec(other), AbortSignal.timeout(10_000));
    await writeFile(path.join(backend.dirOf(other.id), 'agent.pid'), String(process.pid));
    expect(await fresh.isRunning(other)).toEqual({ state: 'stopped' });
    await fresh.stop(w, AbortSignal.timeout(10_000));
    expect(await backend.isRunning(w)).toEqual({ state: 'stopped' });
    await backend.stop(other, AbortSignal.timeout(10_000));
  });

  it('reports an agent that exits on its own, and removeVolumes deletes its dirs', async () => {
    const w = ws('p4');
    await backend.start(spec(w, { EXIT_AT_ONCE: '1' }), AbortSignal.timeout(10_000));
    await expect.poll(() => exits.find((e) => e.id === w.id)).toEqual({ id: w.id, code: 3 });
    expect(await backend.isRunning(w)).toEqual({ state: 'stopped' });
    await backend.removeVolumes(w);
    await expect(stat(backend.dirOf(w.id))).rejects.toThrow(/ENOENT/);
    expect(await backend.logs(w, 100)).toBe('');
  });

  it('C129 C130 a restart keeps edited configs, restores emptied ones, and apply_template rewrites them', async () => {
    const w = ws('p6');
    const configs = path.join(backend.dirOf(w.id), 'configs');
    const config = path.join(configs, 'config.yaml');
    await backend.start(spec(w), AbortSignal.timeout(10_000));
    await writeFile(config, 'name: edited\nadapter: echo\n');
    await writeFile(path.join(configs, 'notes.md'), 'mine');
    await backend.start({ ...spec(w), secretFiles: { '.auth_token': 'mol_ws_rotated', '.platform_inbound_secret': 'mol_in_rotated' } }, AbortSignal.timeout(10_000));
    expect(await readFile(config, 'utf8')).toBe('name: edited\nadapter: echo\n');
    expect(await readFile(path.join(configs, '.auth_token'), 'utf8')).toBe('mol_ws_rotated');
    await rm(config);
    await backend.start(spec(w), AbortSignal.timeout(10_000));
    expect(await readFile(config, 'utf8')).toBe('name: x\nadapter: echo\n');
    await writeFile(config, 'name: edited again\n');
    await backend.start(spec(w, {}, true), AbortSignal.timeout(10_000));
    expect(await readFile(config, 'utf8')).toBe('name: x\nadapter: echo\n');
    await expect(stat(path.join(configs, 'notes.md'))).rejects.toThrow(/ENOENT/);
    expect((await stat(path.join(configs, '.auth_token'))).mode & 0o777).toBe(0o600);
    await backend.stop(w, AbortSignal.timeout(10_000));
  });

  it('refuses template files that would escape the configs dir', async () => {
    const w = ws('p5');
    await expect(backend.start({ ...spec(w), templateFiles: { '../../evil': 'x' } }, AbortSignal.timeout(10_000))).rejects.toThrow(/escapes/);
    expect(await backend.isRunning(w)).toEqual({ state: 'stopped' });
  });
});
