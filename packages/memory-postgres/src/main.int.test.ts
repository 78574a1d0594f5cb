import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Memory, PluginHealth, SearchResponse, MEMORY_CAPABILITIES } from '@molecule/contracts';
import { freshPostgresUrl } from './test-support/db.js';

const BIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(base + path, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

// C264: the built bin as a real process on PostgreSQL (the Go original gated this behind a build tag and an env var; here it always runs in the integration project).
describe('C264: molecule-memory-postgres as a process on PostgreSQL', () => {
  let child: ChildProcess;
  let output = '';
  let base: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first (scripts/test.sh does)`);
    const db = await freshPostgresUrl();
    drop = db.drop;
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [BIN], { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: db.url, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    // Poll with a deadline until it answers (or exits).
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the plugin exited ${child.exitCode}: ${output}`);
      if ((await call(base, 'GET', '/v1/health').catch(() => ({ status: 0 }))).status === 200) break;
      if (Date.now() > deadline) throw new Error(`no health answer in 20 s: ${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await drop?.();
  });

  it('boots, migrates and reports health with its capabilities', async () => {
    const h = PluginHealth.parse((await call(base, 'GET', '/v1/health')).body);
    expect(h).toMatchObject({ status: 'ok', contract: 'memory-plugin-v1' });
    expect(h.capabilities).toEqual(expect.arrayContaining([...MEMORY_CAPABILITIES]));
    expect(output).toContain('memory plugin listening');
  });

  it('commits, finds and forgets a memory', async () => {
    const ns = `workspace:${randomUUID()}`;
    expect((await call(base, 'PUT', `/v1/namespaces/${ns}`, { kind: 'workspace' })).status).toBe(200);
    const w = await call(base, 'POST', `/v1/namespaces/${ns}/memories`, { content: 'The staging database is called orca', embedding: [1, 2, 3] });
    expect(w.status).toBe(201);
    const m = Memory.parse(w.body);
    const text = SearchResponse.parse((await call(base, 'POST', '/v1/search', { namespaces: [ns], query: 'staging database' })).body);
    expect([text.mode, text.memories.map((x) => x.id)]).toEqual(['fulltext', [m.id]]);
    const sem = SearchResponse.parse((await call(base, 'POST', '/v1/search', { namespaces: [ns], embedding: [2, 4, 6] })).body);
    expect([sem.mode, sem.memories.map((x) => x.id)]).toEqual(['semantic', [m.id]]);
    expect(sem.memories[0]!.score).toBeCloseTo(1, 5);
    expect((await call(base, 'DELETE', `/v1/namespaces/${ns}/memories/${m.id}`)).status).toBe(204);
    const after = SearchResponse.parse((await call(base, 'POST', '/v1/search', { namespaces: [ns], query: 'staging database' })).body);
    expect(after.memories).toEqual([]);
  });

  it('upserts by id idempotently: 201, then 200 with the new content, one memory', async () => {
    const ns = `custom:e2e-${randomUUID().slice(0, 8)}`;
    expect((await call(base, 'PUT', `/v1/namespaces/${ns}`, { kind: 'custom' })).status).toBe(200);
    const id = randomUUID();
    const first = await call(base, 'POST', `/v1/namespaces/${ns}/memories`, { id, content: 'draft' });
    const second = await call(base, 'POST', `/v1/namespaces/${ns}/memories`, { id, content: 'final' });
    const third = await call(base, 'POST', `/v1/namespaces/${ns}/memories`, { id, content: 'final' });
    expect([first.status, second.status, third.status]).toEqual([201, 200, 200]);
    const all = SearchResponse.parse((await call(base, 'POST', '/v1/search', { namespaces: [ns] })).body);
    expect(all.memories.map((x) => [x.id, x.content])).toEqual([[id, 'final']]);
  });
});
