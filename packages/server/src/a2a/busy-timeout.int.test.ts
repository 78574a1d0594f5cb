import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueStatus, Status } from '@molecule/contracts';
import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { startServer, type RunningServer } from '../main.js';
import { eventually } from '../test-support/api.js';
import { SLOW_WORKER_TEMPLATE } from '../test-support/e2e.js';
import { freshDb, type TestDb } from '../test-support/harness.js';
import { isAlive } from '../test-support/proc.js';

// Issue #10's "done when", with real agent processes on real PostgreSQL: an agent that goes quiet
// past the caller's idle timeout is busy, not gone. Its message is queued (202) and delivered again
// once the agent says itself that a slot is free. A plain A2A agent (not molecule-agent, no
// deduplication) gets it at least once; molecule-agent runs the work exactly once, and still
// answers a repeat from the stored result after a restart.
const LONG_TEMPLATE = `name: Long
adapter: script
max_concurrent_tasks: 2
script:
  - steps:
      - reply: "started: {{input}}\\n"
      - delay_ms: 60000
      - reply: "done: {{input}}"
`;
const PLAIN_AGENT = fileURLToPath(new URL('../test-support/plain-agent.mjs', import.meta.url));

type Row = Record<string, unknown>;

describe('an agent that goes quiet past the idle timeout (real processes)', () => {
  let server: RunningServer;
  let pg: TestDb;
  let plain: ChildProcess | undefined;
  const admin = { authorization: 'Bearer e2e-busy-admin-token-0123456789', 'content-type': 'application/json' };
  const api = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${server.url}${url}`, { method, headers: { ...admin, ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as Row & Row[] };
  };
  const get = async (id: string) => (await api('GET', `/workspaces/${id}`)).body;
  const online = (id: string, timeout = 60_000) => expect.poll(async () => (await get(id)).status, { timeout, interval: 200 }).toBe(Status.Online);
  const message = (text: string) => ({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } } });
  const queueItem = async (id: string, queueId: string) => (await api('GET', `/workspaces/${id}/a2a/queue/${queueId}`)).body;
  const completed = (id: string, queueId: string) =>
    expect.poll(async () => (await queueItem(id, queueId)).status, { timeout: 60_000, interval: 200 }).toBe(QueueStatus.Completed);

  beforeAll(async () => {
    const templates = await mkdtemp(path.join(os.tmpdir(), 'molecule-busy-templates-'));
    await mkdir(path.join(templates, 'pause'));
    await writeFile(path.join(templates, 'pause', 'config.yaml'), SLOW_WORKER_TEMPLATE);
    await mkdir(path.join(templates, 'long'));
    await writeFile(path.join(templates, 'long', 'config.yaml'), LONG_TEMPLATE);
    pg = await freshDb('postgres');
    const { config } = loadConfig({
      PORT: '0',
      MOLECULE_DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'molecule-busy-')),
      ADMIN_TOKEN: admin.authorization.slice(7),
      MOLECULE_PROVISIONER: 'process',
      MOLECULE_TEMPLATES_DIR: templates,
      DATABASE_URL: pg.url,
    });
    server = await startServer(config, [], createLogger({ level: 'silent', pretty: false }));
  });
  afterAll(async () => {
    plain?.kill('SIGTERM');
    // Deleting the workspaces stops their agent processes: none outlives the test.
    if (server) {
      const ids = (await server.deps.db.query<{ id: string; instance_id: string | null }>(`SELECT id, instance_id FROM workspaces WHERE instance_id LIKE 'process:%'`)).rows;
      for (const w of ids) await api('DELETE', `/workspaces/${w.id}?confirm=true`);
      await eventually(async () => ids.every((w) => !isAlive(Number(w.instance_id!.split(':')[1]))), 60_000);
    }
    await server?.close();
    await pg?.drop();
  }, 60_000);

  it('C040 C043 C044 C060 a plain A2A agent: queued (202), left alone while it works, re-delivered once when it beats free (at least once)', async () => {
    const created = await api('POST', '/workspaces', { name: `plain-${randomUUID().slice(0, 6)}`, runtime: 'external', delivery_mode: 'push' });
    expect(created.status).toBe(201);
    const id = String(created.body.id);
    const token = String((created.body.connection as Row).auth_token);
    // Heartbeats every 5 s, and one as each message starts and ends: an event resets the idle clock
    // (C041), so the beats are spaced wider than the 1 s the caller allows.
    plain = spawn(process.execPath, [PLAIN_AGENT], {
      env: { PATH: process.env.PATH ?? '', PLATFORM_URL: server.url, WORKSPACE_ID: id, TOKEN: token, HANG_MS: '4000', BEAT_MS: '5000' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const ready = await new Promise<string>((resolve, reject) => {
      createInterface({ input: plain!.stdout! }).on('line', (l) => l.startsWith('ready ') && resolve(l.slice(6)));
      plain!.once('exit', (code) => reject(new Error(`the plain agent exited (${code})`)));
    });
    await online(id);

    const msg = message('plain work');
    const r = await api('POST', `/workspaces/${id}/a2a`, msg, { 'x-timeout': '1' });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toMatchObject({ queued: true, status: QueueStatus.Queued });
    const queueId = String(r.body.queue_id);
    await completed(id, queueId);
    const item = await queueItem(id, queueId);
    expect(item).toMatchObject({ response_status: 200, attempts: 0 });
    expect(JSON.stringify(item.response_body)).toContain('done: plain work');

    // The agent got the message twice, one after the other: the first try it went quiet on, and the
    // re-delivery once it said it was free (never while it was still on the first).
    const received = (await (await fetch(`${ready}/received`)).json()) as string[];
    expect(received).toEqual([msg.params.message.messageId, msg.params.message.messageId]);
    await expect.poll(async () => (await api('GET', `/workspaces/${id}/activity?type=a2a_receive`)).body.map((row) => row.status).sort()).toEqual(['busy', 'ok']);
  }, 90_000);

  it('C040 C043 C044 C058 molecule-agent under the same treatment does the work exactly once, and answers a repeat after a restart from its stored result', async () => {
    const created = await api('POST', '/workspaces', { name: `pause-${randomUUID().slice(0, 6)}`, template: 'pause' });
    expect(created.status).toBe(201);
    const id = String(created.body.id);
    await online(id);
    const works = async (marker: string) =>
      (await api('GET', `/workspaces/${id}/activity?type=agent_log&limit=200`)).body.filter((row) => JSON.stringify(row.request_body ?? null).includes(marker));

    const marker = `once-${randomUUID().slice(0, 8)}`;
    const r = await api('POST', `/workspaces/${id}/a2a`, message(marker), { 'x-timeout': '1' });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const queueId = String(r.body.queue_id);
    await completed(id, queueId);
    const item = await queueItem(id, queueId);
    expect(JSON.stringify(item.response_body)).toContain(`done: ${marker}`);
    // The work ran once: one Work tool use, though the platform delivered the message twice.
    expect(await works(marker)).toHaveLength(1);
    // Activity rows follow the answers (written per tick).
    const delivered = async () => (await api('GET', `/workspaces/${id}/activity?type=a2a_receive`)).body.filter((row) => JSON.stringify(row.request_body ?? null).includes(marker));
    await expect.poll(async () => (await delivered()).map((row) => row.status).sort()).toEqual(['busy', 'ok']);

    // Restarted, the agent still knows the messageId: the queued body sent straight to the new
    // process gets the stored answer, and nothing runs.
    const queued = await server.deps.db.query<{ body: Row }>(`SELECT body FROM a2a_queue WHERE id = $1`, [queueId]);
    const before = String((await get(id)).instance_id);
    expect((await api('POST', `/workspaces/${id}/restart`)).status).toBe(200);
    await expect.poll(async () => { const w = await get(id); return w.status === Status.Online && w.instance_id !== before; }, { timeout: 60_000, interval: 200 }).toBe(true);
    const again = await fetch(String((await get(id)).url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...queued.rows[0]!.body, id: 'after-restart' }) });
    const answer = (await again.json()) as Row;
    expect(answer).toEqual({ ...(item.response_body as Row), id: 'after-restart' });
    expect(await works(marker)).toHaveLength(1);
  }, 120_000);

  it('CancelTask through the proxy on a delegated task (molecule-agent, found with ListTasks) ends the platform delegation canceled', async () => {
    const source = await api('POST', '/workspaces', { name: `src-${randomUUID().slice(0, 6)}`, runtime: 'external' });
    const target = await api('POST', '/workspaces', { name: 'long', template: 'long', parent_id: source.body.id });
    expect([source.status, target.status]).toEqual([201, 201]);
    const [sourceId, targetId] = [String(source.body.id), String(target.body.id)];
    await online(targetId);
    const d = await api('POST', `/workspaces/${sourceId}/delegate`, { target_id: targetId, task: 'a long job' });
    expect(d.status).toBe(202);
    const delegationId = String(d.body.delegation_id);

    // The delegated task, found through the proxy like any A2A client would (tasks/list).
    const rpc = (method: string, params: Row) => api('POST', `/workspaces/${targetId}/a2a`, { jsonrpc: '2.0', id: 1, method, params });
    const working = async () =>
      ((await rpc('ListTasks', {})).body.result as { tasks?: { id: string; status: { state: string } }[] } | undefined)?.tasks?.find((x) => x.status.state === 'TASK_STATE_WORKING')?.id;
    await expect.poll(working, { timeout: 30_000, interval: 200 }).toBeDefined();
    const taskId = (await working())!;
    const canceled = await rpc('CancelTask', { id: taskId });
    expect(canceled.status).toBe(200);
    expect(canceled.body.result).toMatchObject({ id: taskId, status: { state: 'TASK_STATE_CANCELED' } });
    await expect.poll(async () => (await api('GET', `/workspaces/${sourceId}/delegations`)).body.find((x) => x.delegation_id === delegationId)?.status, { timeout: 10_000 }).toBe('canceled');
    const statuses = async () => (await api('GET', `/events/${sourceId}`)).body.filter((e) => e.type === 'DELEGATION_STATUS').map((e) => (e.payload as Row).status);
    await expect.poll(statuses).toContain('canceled');
  }, 90_000);
});
