import { writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeartbeatBody, RegisterBody, RUNTIME_CAPABILITIES } from '@molecule/contracts';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestAgent, WORKSPACE_ID, type Json, type TestAgent } from './test-support/agent.js';
import { startFakePlatform, type FakePlatform, type Responder } from './test-support/fake-platform.js';
import { freePort } from '@molecule/server/testing';

const FAST = { heartbeatIntervalMs: 40, registerBackoff: { initialMs: 20, maxMs: 80 }, requestTimeoutMs: 2000 };
const SCRIPT = `
name: Beating
adapter: script
max_concurrent_tasks: 4
capabilities: [session]
idle_timeout_seconds: 90
script:
  - match: "^slow"
    steps: [{ delay_ms: 30000 }]
  - match: "^fail"
    steps: [{ fail: "scripted failure" }]
  - steps: [{ reply: "ok" }]
`;

let platforms: FakePlatform[] = [];
let agents: TestAgent[] = [];
afterEach(async () => {
  await Promise.all(agents.map((a) => a.close({ graceMs: 0 })));
  await Promise.all(platforms.map((p) => p.close()));
  agents = [];
  platforms = [];
});

async function platform(opts: Parameters<typeof startFakePlatform>[0] = {}): Promise<FakePlatform> {
  const p = await startFakePlatform(opts);
  platforms.push(p);
  return p;
}

async function agentFor(
  platformUrl: string,
  opts: { yaml?: string; env?: Record<string, string>; files?: Record<string, string> } = {},
): Promise<TestAgent> {
  const a = await startTestAgent({
    ...FAST,
    yaml: opts.yaml,
    files: opts.files,
    env: { PLATFORM_URL: platformUrl, WORKSPACE_ID, MOLECULE_WORKSPACE_TOKEN: 'tok', ...opts.env },
  });
  agents.push(a);
  return a;
}

const send = (a: TestAgent, text: string, returnImmediately = false) =>
  fetch(a.url, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SendMessage', params: { message: { parts: [{ text }] }, configuration: { returnImmediately } } }),
  }).then((r) => r.json() as Promise<Json>);

const errorLogs = (a: TestAgent) => a.logs().filter((l) => l.level === 50);
const mode = async (file: string) => (await stat(file)).mode & 0o777;

describe('platform client: register', () => {
  it('registers at boot with the bearer and a RegisterBody: own id, own URL, card, push', async () => {
    const p = await platform();
    const a = await agentFor(p.url);
    await expect.poll(() => p.registers().length).toBe(1);
    const reg = p.registers()[0]!;
    expect(reg.headers.authorization).toBe('Bearer tok');
    const body = RegisterBody.parse(reg.body);
    expect(body).toMatchObject({ id: WORKSPACE_ID, url: a.url, delivery_mode: 'push' });
    expect(body.agent_card).toMatchObject({ name: 'Test Agent', url: a.url, capabilities: { streaming: true } });
    await expect.poll(() => a.platform?.state).toBe('registered');
  });

  it('keeps retrying with backoff while the platform is unreachable, then registers', async () => {
    const port = await freePort();
    const a = await agentFor(`http://127.0.0.1:${port}`);
    await expect
      .poll(() => a.logs().filter((l) => l.msg === 'platform not reachable for registration; retrying').length, { timeout: 5000 })
      .toBeGreaterThanOrEqual(2);
    expect(a.logs().find((l) => l.msg === 'platform not reachable for registration; retrying')).toMatchObject({ reason: 'ECONNREFUSED' });
    const p = await platform({ port });
    await expect.poll(() => p.registers().length, { timeout: 5000 }).toBe(1);
    await expect.poll(() => p.heartbeats().length).toBeGreaterThan(0);
    expect(a.platform?.state).toBe('registered');
  });

  it('retries 5xx answers and stops retrying once registered', async () => {
    const p = await platform({ responder: (req, nth) => (req.path === '/registry/register' && nth <= 2 ? { status: 503, body: { error: 'starting' } } : undefined) });
    const a = await agentFor(p.url);
    await expect.poll(() => a.platform?.state).toBe('registered');
    await expect.poll(() => p.heartbeats().length).toBeGreaterThanOrEqual(3);
    expect(p.registers()).toHaveLength(3);
  });

  it('gives up on a 4xx (logged once, not retried) and still heartbeats', async () => {
    const p = await platform({ responder: (req) => (req.path === '/registry/register' ? { status: 400, body: { error: 'bad delivery_mode' } } : undefined) });
    const a = await agentFor(p.url);
    await expect.poll(() => p.heartbeats().length).toBeGreaterThanOrEqual(3);
    expect(p.registers()).toHaveLength(1);
    expect(a.platform?.state).toBe('rejected');
    expect(errorLogs(a)).toEqual([expect.objectContaining({ status: 400, error: 'bad delivery_mode', msg: expect.stringMatching(/registration failed/) })]);
  });

  it('stores an auth_token handed out at register (0600) and uses it from then on', async () => {
    const p = await platform({
      responder: (req) =>
        req.path === '/registry/register' ? { status: 200, body: { status: 'registered', delivery_mode: 'push', auth_token: 'minted' } } : undefined,
    });
    const a = await agentFor(p.url);
    await expect.poll(() => p.heartbeats().length).toBeGreaterThan(0);
    expect(p.heartbeats()[0]!.headers.authorization).toBe('Bearer minted');
    expect(await readFile(path.join(a.dir, '.auth_token'), 'utf8')).toBe('minted');
    expect(await mode(path.join(a.dir, '.auth_token'))).toBe(0o600);
  });
});

describe('platform client: inbound secret (C034)', () => {
  it('C034: persists platform_inbound_secret from register with mode 0600 by atomic replace', async () => {
    const p = await platform({ secret: 's' });
    const { dir } = await agentFor(p.url);
    const file = path.join(dir, '.platform_inbound_secret');
    await expect.poll(() => readFile(file, 'utf8').catch(() => '')).toBe('s');
    expect(await mode(file)).toBe(0o600);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('C034: replaces an existing (0644) secret file by rename, updates on change, ignores empty values', async () => {
    const secrets = ['s1', '', 's2', 's2'];
    const responder: Responder = (req, nth) =>
      req.path === '/registry/heartbeat' ? { status: 200, body: { status: 'ok', platform_inbound_secret: secrets[Math.min(nth, secrets.length) - 1] } } : undefined;
    const p = await platform({ secret: 's0', responder });
    const a = await startTestAgent({ ...FAST, env: { PLATFORM_URL: p.url, WORKSPACE_ID, MOLECULE_WORKSPACE_TOKEN: 'tok' }, files: {} });
    agents.push(a);
    const file = path.join(a.dir, '.platform_inbound_secret');
    await expect.poll(() => p.heartbeats().length).toBeGreaterThanOrEqual(5);
    expect(await readFile(file, 'utf8')).toBe('s2');
    expect(await mode(file)).toBe(0o600);
    const stored = a.logs().filter((l) => l.msg === 'platform inbound secret stored');
    expect(stored).toHaveLength(3); // s0 at register, s1, s2; '' and the repeated s2 write nothing

    // A pre-existing world-readable file is replaced (new inode), not rewritten in place.
    await a.close({ graceMs: 0 });
    await writeFile(file, 'old', { mode: 0o644 });
    const before = (await stat(file)).ino;
    const p2 = await platform({ secret: 'fresh' });
    const b = await startTestAgent({ ...FAST, env: { PLATFORM_URL: p2.url, WORKSPACE_ID, MOLECULE_WORKSPACE_TOKEN: 'tok', MOLECULE_CONFIGS_DIR: a.dir } });
    agents.push(b);
    await expect.poll(() => readFile(file, 'utf8')).toBe('fresh');
    expect(await mode(file)).toBe(0o600);
    expect((await stat(file)).ino).not.toBe(before);
  });

  it('C034: logs and swallows a persistence error; heartbeats go on', async () => {
    const p = await platform();
    const a = await startTestAgent({ ...FAST, env: { PLATFORM_URL: p.url, WORKSPACE_ID, MOLECULE_WORKSPACE_TOKEN: 'tok' } });
    agents.push(a);
    // The next boot's target is a directory: rename onto it fails.
    await a.close({ graceMs: 0 });
    const target = path.join(a.dir, '.platform_inbound_secret');
    await rm(target, { force: true });
    await mkdir(target);
    const before = p.heartbeats().length;
    const b = await startTestAgent({ ...FAST, env: { PLATFORM_URL: p.url, WORKSPACE_ID, MOLECULE_WORKSPACE_TOKEN: 'tok', MOLECULE_CONFIGS_DIR: a.dir } });
    agents.push(b);
    await expect.poll(() => p.heartbeats().length).toBeGreaterThanOrEqual(before + 3);
    // Said once, not on every beat.
    expect(errorLogs(b).filter((l) => l.msg === 'could not store the platform inbound secret; keeping the previous one')).toHaveLength(1);
    expect(b.platform?.state).toBe('registered');
    await b.close({ graceMs: 0 }); // no write in progress while the dir is inspected
    expect((await readdir(a.dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('platform client: heartbeat (C001, C014, C032)', () => {
  it('C001/C032: sends every HeartbeatBody field, with runtime_metadata capabilities and idle timeout', async () => {
    const p = await platform();
    const a = await agentFor(p.url, { yaml: SCRIPT });
    await expect.poll(() => p.heartbeats().length).toBeGreaterThan(0);
    const first = p.heartbeats()[0]!;
    expect(first.headers.authorization).toBe('Bearer tok');
    expect(HeartbeatBody.safeParse(first.body).success).toBe(true);
    expect(first.body).toEqual({
      workspace_id: WORKSPACE_ID,
      error_rate: 0,
      sample_error: '',
      active_tasks: 0,
      current_task: '',
      uptime_seconds: expect.any(Number),
      runtime_state: '',
      runtime_metadata: {
        capabilities: Object.fromEntries(RUNTIME_CAPABILITIES.map((c) => [c, c === 'session'])),
        idle_timeout_seconds: 90,
      },
    });
    expect(Number.isInteger(first.body.uptime_seconds)).toBe(true);

    // Work in flight shows up as active_tasks and current_task.
    await send(a, 'slow research on otters', true);
    await expect
      .poll(() => p.heartbeats().at(-1)!.body, { timeout: 3000 })
      .toMatchObject({ active_tasks: 1, current_task: 'slow research on otters' });

    // error_rate and sample_error come from the window of finished tasks.
    await send(a, 'fail please');
    await send(a, 'fine');
    await expect
      .poll(() => p.heartbeats().at(-1)!.body, { timeout: 3000 })
      .toMatchObject({ error_rate: 0.5, sample_error: 'scripted failure', active_tasks: 1 });
  });

  it('C032: leaves idle_timeout_seconds out when it is not set', async () => {
    const p = await platform();
    await agentFor(p.url);
    await expect.poll(() => p.heartbeats().length).toBeGreaterThan(0);
    const meta = p.heartbeats()[0]!.body.runtime_metadata as Record<string, unknown>;
    expect(meta).not.toHaveProperty('idle_timeout_seconds');
    expect(Object.values(meta.capabilities as object).every((v) => v === false)).toBe(true);
  });

  it('C014: beats on the configured interval and stops on close', async () => {
    const p = await platform();
    const a = await agentFor(p.url);
    await expect.poll(() => p.heartbeats().length, { timeout: 3000 }).toBeGreaterThanOrEqual(4);
    await a.close({ graceMs: 0 });
    const after = p.heartbeats().length;
    await sleep(FAST.heartbeatIntervalMs * 5); // asserting an absence needs a wait
    // A beat already on the wire when close() aborted it may still land; a running loop would add ~5.
    expect(p.heartbeats().length).toBeLessThanOrEqual(after + 1);
  });

  it.each([401, 410])('C038: three consecutive %i answers log exactly one ERROR naming the likely cause', async (status) => {
    const p = await platform({ responder: (req) => (req.path === '/registry/heartbeat' ? { status, body: { error: 'no' } } : undefined) });
    const a = await agentFor(p.url);
    await expect.poll(() => p.heartbeats().length, { timeout: 3000 }).toBeGreaterThanOrEqual(6);
    const errors = errorLogs(a);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ status, consecutive: 3, workspace_id: WORKSPACE_ID });
    expect(errors[0]!.msg).toMatch(/removed/);
    expect(errors[0]!.msg).toMatch(/revoked/);
    expect(a.logs().filter((l) => l.msg === 'heartbeat rejected by the platform' && l.level === 40)).toHaveLength(2);
  });

  it('C038: a success in between starts the count again', async () => {
    // 401, 401, 200, 401, 401, 200 ...: never three in a row.
    const p = await platform({ responder: (req, nth) => (req.path === '/registry/heartbeat' && nth % 3 !== 0 ? { status: 401, body: {} } : undefined) });
    const a = await agentFor(p.url);
    await expect.poll(() => p.heartbeats().length, { timeout: 3000 }).toBeGreaterThanOrEqual(7);
    expect(errorLogs(a)).toEqual([]);
  });

  it('re-reads a file token after a 401 and carries on with the new one', async () => {
    let dir = '';
    let reissued = false;
    const p = await platform({
      responder: (req) => {
        if (req.path !== '/registry/heartbeat' || req.headers.authorization !== 'Bearer old') return undefined;
        if (dir && !reissued) {
          writeFileSync(path.join(dir, '.auth_token'), 'new\n'); // the platform re-issued the token
          reissued = true;
        }
        return { status: 401, body: { error: 'unauthorized' } };
      },
    });
    const a = await startTestAgent({ ...FAST, env: { PLATFORM_URL: p.url, WORKSPACE_ID }, files: { '.auth_token': 'old' } });
    agents.push(a);
    dir = a.dir;
    await expect.poll(() => p.heartbeats().some((h) => h.headers.authorization === 'Bearer new'), { timeout: 3000 }).toBe(true);
    expect(p.heartbeats().filter((h) => h.headers.authorization === 'Bearer old').length).toBeLessThan(3);
    expect(errorLogs(a)).toEqual([]);
  });
});
