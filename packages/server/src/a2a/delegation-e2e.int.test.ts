import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueStatus, Status } from '@molecule/contracts';
import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { loopLockKey } from '../loops/supervisor.js';
import { DEFAULT_TEMPLATES_DIR } from '../provisioning/templates.js';
import { startServer, type RunningServer } from '../main.js';
import { eventually } from '../test-support/api.js';
import { SLOW_WORKER_TEMPLATE } from '../test-support/e2e.js';
import { freshDb, type TestDb } from '../test-support/harness.js';
import { isAlive } from '../test-support/proc.js';

// Issue #4's "done when", with real molecule-agent processes (process backend, packages/runtime/dist
// built by `npm test`) on real PostgreSQL: a parent from templates/delegator answers through the
// proxy with its echo child's answer (the parent's agent delegated over the platform's MCP tools);
// a busy child's message is queued and delivered exactly once; a killed child answers 503
// `restarting` and comes back.

type Row = Record<string, unknown>;

describe('a delegating org end to end (real agents, MCP tools, queue, restart)', () => {
  let server: RunningServer;
  let pg: TestDb;
  const admin = { authorization: 'Bearer e2e-org-admin-token-0123456789', 'content-type': 'application/json' };
  const org: Record<'parent' | 'worker' | 'slow', string> = { parent: '', worker: '', slow: '' };

  const api = async (method: string, url: string, body?: unknown) => {
    const r = await fetch(`${server.url}${url}`, { method, headers: admin, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as Row & Row[] };
  };
  const get = async (id: string) => (await api('GET', `/workspaces/${id}`)).body;
  const activity = async (id: string, query = '') => (await api('GET', `/workspaces/${id}/activity?limit=200${query}`)).body;
  /** `message/send` through the platform's proxy, as the user (admin credential). */
  const send = (id: string, text: string) =>
    api('POST', `/workspaces/${id}/a2a`, { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } } });
  const replyOf = (body: Row): string | undefined => (body.result as { status?: { message?: { parts?: { text?: string }[] } } } | undefined)?.status?.message?.parts?.[0]?.text;
  const mentions = (row: Row, marker: string) => JSON.stringify(row.request_body ?? null).includes(marker);
  const online = (id: string, timeout = 60_000) => expect.poll(async () => (await get(id)).status, { timeout, interval: 200 }).toBe(Status.Online);

  beforeAll(async () => {
    // The repository's templates plus a slow single-slot worker, in a templates dir of this test's own.
    const templates = await mkdtemp(path.join(os.tmpdir(), 'molecule-org-templates-'));
    for (const name of ['delegator', 'echo']) await cp(path.join(DEFAULT_TEMPLATES_DIR, name), path.join(templates, name), { recursive: true });
    await mkdir(path.join(templates, 'slow'));
    await writeFile(path.join(templates, 'slow', 'config.yaml'), SLOW_WORKER_TEMPLATE);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-org-'));
    // A database of its own on the real PostgreSQL: advisory locks are per session there, which the
    // kill test relies on.
    pg = await freshDb('postgres');
    const { config } = loadConfig({
      PORT: '0',
      MOLECULE_DATA_DIR: dir,
      ADMIN_TOKEN: admin.authorization.slice(7),
      MOLECULE_PROVISIONER: 'process',
      MOLECULE_TEMPLATES_DIR: templates,
      DATABASE_URL: pg.url,
    });
    server = await startServer(config, [], createLogger({ level: 'silent', pretty: false }));

    const parent = await api('POST', '/workspaces', { name: `front-${randomUUID().slice(0, 6)}`, template: 'delegator' });
    expect(parent.status).toBe(201);
    org.parent = String(parent.body.id);
    const worker = await api('POST', '/workspaces', { name: 'worker', template: 'echo', parent_id: org.parent });
    const slow = await api('POST', '/workspaces', { name: 'slow', role: 'batch', template: 'slow', parent_id: org.parent });
    expect([worker.status, slow.status]).toEqual([201, 201]);
    org.worker = String(worker.body.id);
    org.slow = String(slow.body.id);
    for (const id of Object.values(org)) await eventually(async () => (await get(id)).status === Status.Online, 120_000);
  }, 180_000); // three real agent processes on a loaded 2-core CI machine
  afterAll(async () => {
    // Deleting the parent stops its whole subtree: no agent process outlives the test.
    if (server && org.parent) {
      const pids = await Promise.all(Object.values(org).filter(Boolean).map(async (id) => Number(String((await get(id)).instance_id).split(':')[1])));
      await api('DELETE', `/workspaces/${org.parent}?confirm=true`);
      await eventually(async () => pids.every((pid) => !isAlive(pid)), 60_000);
    }
    await server?.close();
    await pg?.drop();
  }, 90_000);

  it('a message to the delegator comes back with its child\'s answer; both activity logs show the exchange (C037)', async () => {
    const marker = `hello-${randomUUID().slice(0, 8)}`;
    const r = await send(org.parent, marker);
    expect(r.status).toBe(200);
    expect(replyOf(r.body)).toBe(`echo: ${marker}`);

    // The parent: the user's message in, its own delegate_task tool use (C037), the delegation and
    // the message it sent to the worker.
    await expect
      .poll(async () => (await activity(org.parent)).filter((row) => mentions(row, marker)).map((row) => `${String(row.activity_type)}:${String(row.method)}:${String(row.status)}`).sort(), {
        timeout: 15_000,
      })
      .toEqual(['a2a_receive:message/send:ok', 'a2a_send:message/send:ok', 'agent_log:delegate_task:ok', 'delegation:delegate:pending']);
    const parentRows = (await activity(org.parent)).filter((row) => mentions(row, marker));
    expect(parentRows.find((row) => row.activity_type === 'a2a_receive')).toMatchObject({ source_id: null, target_id: org.parent });
    expect(parentRows.find((row) => row.activity_type === 'agent_log')).toMatchObject({
      source_id: org.parent,
      target_id: org.parent,
      request_body: { tool: 'delegate_task', input: `worker: ${marker}` },
      response_body: { output: `echo: ${marker}` },
    });
    expect(parentRows.find((row) => row.activity_type === 'a2a_send')).toMatchObject({ source_id: org.parent, target_id: org.worker });
    const results = (await activity(org.parent, '&type=delegate_result')).filter((row) => JSON.stringify(row.response_body).includes(marker));
    expect(results).toEqual([expect.objectContaining({ status: 'completed', target_id: org.worker })]);

    // The worker: the parent's message in, answered.
    const workerRows = (await activity(org.worker, '&type=a2a_receive')).filter((row) => mentions(row, marker));
    expect(workerRows).toEqual([expect.objectContaining({ source_id: org.parent, target_id: org.worker, method: 'message/send', status: 'ok' })]);
  }, 60_000);

  it('C044 C058 C060 a message to a busy child is queued (202) and delivered exactly once when it frees up', async () => {
    const first = `first-${randomUUID().slice(0, 8)}`;
    const second = `second-${randomUUID().slice(0, 8)}`;
    const works = async (marker: string) => (await activity(org.slow, '&type=agent_log')).filter((row) => mentions(row, marker));

    const firstReply = send(org.slow, first);
    // The slow worker reports its Work tool use as it starts: from then on its only slot is taken.
    await expect.poll(async () => (await works(first)).length, { timeout: 15_000, interval: 100 }).toBe(1);
    const queued = await send(org.slow, second);
    expect(queued.status).toBe(202);
    expect(queued.body).toMatchObject({ queued: true, status: QueueStatus.Queued });
    const queueId = String(queued.body.queue_id);

    const done = await firstReply;
    expect(replyOf(done.body)).toBe(`done: ${first}`);
    await expect
      .poll(async () => (await api('GET', `/workspaces/${org.slow}/a2a/queue/${queueId}`)).body.status, { timeout: 30_000, interval: 200 })
      .toBe(QueueStatus.Completed);
    const item = (await api('GET', `/workspaces/${org.slow}/a2a/queue/${queueId}`)).body;
    expect(item).toMatchObject({ workspace_id: org.slow, response_status: 200 });
    expect(JSON.stringify(item.response_body)).toContain(`done: ${second}`);

    // Exactly once: the agent ran the queued message one time, and the platform delivered it one time.
    await expect.poll(async () => (await works(second)).length, { timeout: 15_000 }).toBe(1);
    const received = (await activity(org.slow, '&type=a2a_receive')).filter((row) => mentions(row, second));
    expect(received.filter((row) => row.status === 'ok')).toHaveLength(1);
    // Refusals while the first message ran (the send itself, and drain attempts before the slot freed).
    expect(received.filter((row) => row.status === 'busy').length).toBeGreaterThanOrEqual(1);
    expect(received.every((row) => row.status === 'ok' || row.status === 'busy')).toBe(true);
  }, 90_000);

  it('C047 C059 a killed child answers 503 restarting through the proxy, comes back online, and the delegator reaches it again', async () => {
    const firstPid = Number(String((await get(org.worker)).instance_id).split(':')[1]);
    expect(isAlive(firstPid)).toBe(true);

    // Hold the health sweep's lock so the proxy, not the sweep, is what notices the death.
    const held = await server.deps.db.tryWithAdvisoryLock(loopLockKey('health-sweep'), async () => {
      process.kill(-firstPid, 'SIGKILL');
      await expect.poll(() => isAlive(firstPid)).toBe(false);
      return send(org.worker, 'are you there?');
    });
    expect(held.ran).toBe(true);
    const dead = held.ran ? held.value : undefined;
    expect(dead?.status).toBe(503);
    expect(dead?.body).toMatchObject({ code: 'agent_unavailable', restarting: true, retry_after: 15 });

    await online(org.worker);
    const newPid = Number(String((await get(org.worker)).instance_id).split(':')[1]);
    expect(newPid).not.toBe(firstPid);
    const back = await send(org.worker, 'again');
    expect(replyOf(back.body)).toBe('echo: again');
    const marker = `after-restart-${randomUUID().slice(0, 8)}`;
    expect(replyOf((await send(org.parent, marker)).body)).toBe(`echo: ${marker}`);
  }, 120_000);
});
