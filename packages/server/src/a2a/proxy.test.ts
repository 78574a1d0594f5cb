import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { A2A_IDEMPOTENT_MESSAGES_EXTENSION, QueueStatus, Status } from '@molecule/contracts';
import { mintWorkspaceToken } from '../auth/repo.js';
import { bearer, createWs, json } from '../test-support/api.js';
import { startFakeAgent, type FakeAgent } from '../test-support/fake-agent.js';
import { startWithFakeBackend, type FakeBackend } from '../test-support/fake-provisioner.js';
import type { TestApp } from '../test-support/harness.js';
import { freePort } from '../test-support/net.js';
import { setStatus } from '../workspaces/repo.js';
import { CeilingTimeoutError, classifyDispatchError, IdleTimeoutError, UnsafeAgentUrlError } from './dispatch.js';
import { loadA2ACorpus } from '../../../contracts/src/test-support/a2a-corpus.js';
import { DEAD_AGENT_STATUSES } from './limits.js';
import { expiresInSeconds, isBusyAnswer } from './proxy.js';
import { xTimeoutSeconds } from './routes.js';
import { FAILED_AFTER_CRASH, RESENT_AFTER_CRASH } from './queue-repo.js';
import { recordUsage } from '../budgets/service.js';
import { platformUnavailable } from '../errors.js';

type Row = Record<string, unknown>;

const send = (text: string, extra: Row = {}) => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'message/send',
  params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] }, ...extra },
});

describe('A2A proxy', () => {
  let t: TestApp;
  let fake: FakeBackend;
  let agent: FakeAgent;

  beforeAll(async () => {
    ({ t, fake } = await startWithFakeBackend());
  });
  afterAll(async () => t.close());
  afterEach(async () => agent?.close());

  /** An online workspace whose agent is a fresh fake agent. */
  async function online(name: string, extra: Row = {}, agentOpts: { slots?: number } = {}) {
    agent = await startFakeAgent(agentOpts);
    const ws = await createWs(t, { name, ...extra });
    await expect.poll(async () => (await t.db.query<{ instance_id: string | null }>('SELECT instance_id FROM workspaces WHERE id = $1', [ws.id])).rows[0]!.instance_id).not.toBeNull();
    await setStatus(t.db, ws.id, Status.Online);
    await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [ws.id, agent.url]);
    t.deps.workspaceCache.invalidate(ws.id);
    return ws;
  }

  const post = (id: string, payload: unknown, headers: Record<string, string> = t.admin) =>
    t.app.inject({ method: 'POST', url: `/workspaces/${id}/a2a`, headers: { ...json, ...headers }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) });

  const activity = async (id: string) =>
    (await t.db.query<Row>('SELECT activity_type, source_id, target_id, method, status, error_detail FROM activity_logs WHERE workspace_id = $1 ORDER BY created_at, id', [id])).rows;
  const queueRows = async (id: string) => (await t.db.query<Row>('SELECT * FROM a2a_queue WHERE workspace_id = $1 ORDER BY created_at', [id])).rows;
  const replyText = (body: string) => (JSON.parse(body) as { result: { status: { message: { parts: { text: string }[] } } } }).result.status.message.parts[0]!.text;

  it('C051 forwards message/send from the user to the agent and passes its answer through, writing a2a_receive', async () => {
    const ws = await online('p-basic');
    const r = await post(ws.id, send('hi'));
    expect(r.statusCode, r.body).toBe(200);
    expect(replyText(r.body)).toBe('echo: hi');
    expect(agent.received).toHaveLength(1);
    await expect.poll(() => activity(ws.id)).toEqual([expect.objectContaining({ activity_type: 'a2a_receive', source_id: null, target_id: ws.id, method: 'message/send', status: 'ok' })]);
  });

  it('C054 a v0.2 string content becomes parts, content is removed and a messageId is filled', async () => {
    const ws = await online('p-v02');
    const r = await post(ws.id, { jsonrpc: '2.0', id: 7, method: 'message/send', params: { message: { role: 'user', content: 'old style' } } });
    expect(r.statusCode, r.body).toBe(200);
    const msg = (agent.received[0]!.body.params as { message: Row }).message;
    expect(msg.parts).toEqual([{ kind: 'text', text: 'old style' }]);
    expect(msg).not.toHaveProperty('content');
    expect(typeof msg.messageId).toBe('string');
  });

  it('C056 a body without the JSON-RPC envelope is wrapped and delivered', async () => {
    const ws = await online('p-bare');
    const r = await post(ws.id, { method: 'message/send', params: { message: { role: 'user', parts: [{ kind: 'text', text: 'bare ☃' }] } } });
    expect(r.statusCode, r.body).toBe(200);
    expect(replyText(r.body)).toBe('echo: bare ☃');
    expect(agent.received[0]!.body.jsonrpc).toBe('2.0');
  });

  it('C055 a method the proxy need not read (tasks/list, a custom one) is forwarded unchanged and its answer passed through', async () => {
    const ws = await online('p-passthrough');
    const list = { jsonrpc: '2.0', id: 'l1', method: 'tasks/list', params: { contextId: 'c1', pageSize: 2 } };
    agent.next({ kind: 'status', status: 200, body: JSON.stringify({ jsonrpc: '2.0', id: 'l1', result: { tasks: [] } }) });
    const r = await post(ws.id, list);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toEqual({ jsonrpc: '2.0', id: 'l1', result: { tasks: [] } });
    expect(agent.received.map((x) => x.body)).toEqual([list]);
    // The agent's own method-not-found reaches the caller as the agent said it.
    agent.next({ kind: 'status', status: 200, body: JSON.stringify({ jsonrpc: '2.0', id: 9, error: { code: -32601, message: 'Method not found' } }) });
    const custom = await post(ws.id, { jsonrpc: '2.0', id: 9, method: 'acme/reindex', params: { deep: true } });
    expect(custom.json()).toMatchObject({ id: 9, error: { code: -32601 } });
    expect(agent.received[1]!.body).toEqual({ jsonrpc: '2.0', id: 9, method: 'acme/reindex', params: { deep: true } });
  });

  it('C056 a bare body without an id is forwarded with a generated one, and the answer carries it', async () => {
    const ws = await online('p-bare-id');
    const r = await post(ws.id, { method: 'message/send', params: { message: { content: 'no id' } } });
    expect(r.statusCode, r.body).toBe(200);
    const id = agent.received[0]!.body.id;
    expect(id).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
    expect(r.json<{ id: unknown }>().id).toBe(id);
  });

  describe('the A2A corpus replayed through the proxy', () => {
    const cases = loadA2ACorpus();
    it.each(cases.map((c) => [c.name, c] as const))('C051 C055 %s', async (_name, c) => {
      const ws = await online(`corpus-${c.version}`);
      const r = await post(ws.id, c.body);
      if (c.expect.ok) {
        expect(r.statusCode, r.body).toBe(200);
        expect(agent.received).toHaveLength(1);
        const msg = (agent.received[0]!.body.params as { message?: { parts?: { text?: string }[] } }).message;
        if (c.expect.text !== undefined) expect((msg?.parts ?? []).map((p) => p.text ?? '').join('')).toBe(c.expect.text);
      } else {
        expect(r.statusCode).toBe(200);
        expect(r.json<{ error: { code: number; data: { field: string } } }>().error).toMatchObject({ code: c.expect.code, data: { field: c.expect.field } });
        expect(agent.received).toHaveLength(0);
      }
    });
  });

  describe('bad input: a JSON-RPC error in HTTP 200 (C055, deliberately not 400), nothing dispatched', () => {
    const cases: [string, unknown, number, string | undefined][] = [
      ['C055 content that is a number', { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', content: 42 } } }, -32602, 'params.message.content'],
      ['C055 content that is a boolean', { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', content: true } } }, -32602, 'params.message.content'],
      ['C055 a message with neither content nor parts', { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user' } } }, -32602, 'params.message.parts'],
      ['no method', { jsonrpc: '2.0', id: 1, params: {} }, -32600, 'method'],
      ['params that are not an object', { jsonrpc: '2.0', id: 1, method: 'message/send', params: [1] }, -32602, 'params'],
      ['a JSON array', [1, 2], -32600, undefined],
    ];
    it.each(cases)('%s', async (_name, payload, code, field) => {
      const ws = await online(`p-bad-${code}-${field ?? 'x'}`);
      const r = await post(ws.id, payload);
      expect(r.statusCode).toBe(200);
      const body = r.json<{ jsonrpc: string; error: { code: number; data?: { field?: string } } }>();
      expect(body.jsonrpc).toBe('2.0');
      expect(body.error.code).toBe(code);
      if (field) expect(body.error.data?.field).toBe(field);
      expect(agent.received).toHaveLength(0);
      expect(await activity(ws.id)).toEqual([]);
    });

    it('C056 truncated, non-JSON, empty and whitespace-only bodies', async () => {
      const ws = await online('p-nonjson');
      for (const payload of ['{"jsonrpc":"2.0","method":"message/se', 'hello', '', '   ']) {
        const r = await post(ws.id, payload);
        expect(r.statusCode, JSON.stringify(payload)).toBe(200);
        expect(r.json<{ error: { code: number } }>().error.code).toBeLessThan(-32000);
      }
      expect(agent.received).toHaveLength(0);
    });

    it('a wrong content type is 415 and an oversize body 413', async () => {
      const ws = await online('p-ctype');
      const r1 = await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/a2a`, headers: { ...t.admin, 'content-type': 'text/plain' }, payload: JSON.stringify(send('x')) });
      expect(r1.statusCode).toBe(415);
      const r2 = await post(ws.id, send('x'.repeat(1024 * 1024 + 10)));
      expect(r2.statusCode).toBe(413);
      expect(agent.received).toHaveLength(0);
    });
  });

  describe('caller identity and access', () => {
    it('no credential, an unknown bearer or a revoked one: 401 and nothing dispatched', async () => {
      const ws = await online('p-auth');
      const other = await createWs(t, { name: 'p-auth-other' });
      const tok = await mintWorkspaceToken(t.db, other.id);
      await t.db.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = $1', [other.id]);
      for (const headers of [{}, bearer('mol_ws_not-a-real-token-000000000000'), bearer(tok.token)]) {
        expect((await post(ws.id, send('x'), headers)).statusCode).toBe(401);
      }
      expect(agent.received).toHaveLength(0);
    });

    it('C057 a workspace bearer is the caller; X-Workspace-ID must agree with it; the admin cannot claim one', async () => {
      const parent = await createWs(t, { name: 'p-parent' });
      const child = await online('p-child', { parent_id: parent.id });
      const tok = (await mintWorkspaceToken(t.db, parent.id)).token;
      const ok = await post(child.id, send('from parent'), bearer(tok));
      expect(ok.statusCode, ok.body).toBe(200);
      await expect.poll(() => activity(parent.id)).toEqual([expect.objectContaining({ activity_type: 'a2a_send', source_id: parent.id, target_id: child.id })]);
      expect(await activity(child.id)).toEqual([expect.objectContaining({ activity_type: 'a2a_receive', source_id: parent.id })]);

      expect((await post(child.id, send('x'), { ...bearer(tok), 'x-workspace-id': child.id })).statusCode).toBe(403);
      expect((await post(child.id, send('x'), { ...t.admin, 'x-workspace-id': parent.id })).statusCode).toBe(403);
      expect((await post(child.id, send('x'), { ...t.admin, 'x-workspace-id': 'system:cron' })).statusCode).toBe(403);
      expect(agent.received).toHaveLength(1);
    });

    it('the hierarchy rule: an unrelated workspace gets 403 and nothing is sent', async () => {
      const a = await createWs(t, { name: 'p-tree-a' });
      const b = await createWs(t, { name: 'p-tree-b' });
      const a1 = await createWs(t, { name: 'p-a1', parent_id: a.id });
      const b1 = await online('p-b1', { parent_id: b.id });
      const tok = (await mintWorkspaceToken(t.db, a1.id)).token;
      const r = await post(b1.id, send('x'), bearer(tok));
      expect(r.statusCode).toBe(403);
      expect(agent.received).toHaveLength(0);
    });

    it('unknown target 404, removed target 410, malformed id 400', async () => {
      expect((await post(randomUUID(), send('x'))).statusCode).toBe(404);
      const ws = await online('p-removed');
      await setStatus(t.db, ws.id, Status.Removed);
      t.deps.workspaceCache.invalidate(ws.id);
      expect((await post(ws.id, send('x'))).statusCode).toBe(410);
      expect((await post('not-a-uuid', send('x'))).statusCode).toBe(400);
      expect(agent.received).toHaveLength(0);
    });
  });

  it('budget: over the monthly limit is 402; reported usage counts toward it', async () => {
    const ws = await online('p-budget', { budget_limit: 1 });
    agent.next({ kind: 'usage', input: 1000, output: 1000 }); // 3000 + 15000 micro-USD = 1.8 cents
    expect((await post(ws.id, send('spend'))).statusCode).toBe(200);
    await expect.poll(async () => (await post(ws.id, send('again'))).statusCode).toBe(402);
    expect(agent.received).toHaveLength(1);
  });

  it('C051 the budget comes before the poll short-circuit: a poll-mode target over its budget is 402, nothing recorded', async () => {
    const ws = await online('p-poll-budget', { budget_limit: 1 });
    await t.db.query(`UPDATE workspaces SET delivery_mode = 'poll' WHERE id = $1`, [ws.id]);
    await recordUsage(t.db, ws.id, { input_tokens: 10_000, output_tokens: 10_000 });
    t.deps.workspaceCache.invalidate(ws.id);
    const r = await post(ws.id, send('over budget'));
    expect(r.statusCode, r.body).toBe(402);
    expect(r.json()).toMatchObject({ code: 'budget_exceeded' });
    expect(await activity(ws.id)).toEqual([]);
  });

  it('C053 the delivery mode is read with the target row: when that read fails the answer is 503 platform_unavailable, never a silent poll queueing', async () => {
    const ws = await online('p-mode-read');
    await t.db.query(`UPDATE workspaces SET delivery_mode = 'poll' WHERE id = $1`, [ws.id]);
    t.deps.workspaceCache.invalidate(ws.id);
    const query = t.deps.db.query.bind(t.deps.db);
    t.deps.db.query = (async (sql: string, params?: unknown[]) => {
      // What the database adapter makes of a lost connection.
      if (/FROM workspaces/.test(sql)) throw platformUnavailable();
      return query(sql, params);
    }) as typeof t.deps.db.query;
    try {
      const r = await post(ws.id, send('mode?'));
      expect(r.statusCode, r.body).toBe(503);
      expect(r.json()).toMatchObject({ code: 'platform_unavailable' });
    } finally {
      t.deps.db.query = query;
    }
    expect(agent.received).toHaveLength(0);
    expect(await activity(ws.id)).toEqual([]);
  });

  it('C052 a poll-mode target: recorded, answered queued, nothing dialled (a non-blocking send; a blocking one waits for the reply, inbox.test.ts)', async () => {
    const ws = await online('p-poll');
    await t.db.query(`UPDATE workspaces SET delivery_mode = 'poll', url = 'http://169.254.169.254/' WHERE id = $1`, [ws.id]);
    t.deps.workspaceCache.invalidate(ws.id);
    const r = await post(ws.id, send('for later', { configuration: { blocking: false } }));
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'queued', delivery_mode: 'poll', method: 'message/send' });
    await expect.poll(() => activity(ws.id)).toEqual([expect.objectContaining({ activity_type: 'a2a_receive', method: 'message/send', status: 'queued' })]);
  });

  it('C050 the URL is checked again at dispatch: a metadata address is never dialled', async () => {
    const ws = await online('p-ssrf');
    await t.db.query(`UPDATE workspaces SET url = 'http://169.254.169.254/latest' WHERE id = $1`, [ws.id]);
    t.deps.workspaceCache.invalidate(ws.id);
    const r = await post(ws.id, send('x'));
    expect(r.statusCode).toBe(502);
    expect(r.json()).toMatchObject({ error: 'workspace URL is not publicly routable' });
  });

  it('C050 a hostname is checked at connect time too: it resolving to a blocked range is refused', async () => {
    const ws = await online('p-rebind');
    let calls = 0;
    const policy = t.deps.agentUrlPolicy;
    // First answer passes the pre-check; the connect-time lookup then sees the rebound address.
    t.deps.agentUrlPolicy = { ...policy, resolve: async () => (calls++ === 0 ? ['127.0.0.1'] : ['169.254.169.254']) };
    try {
      await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [ws.id, `http://agent.test:${agent.port}`]);
      t.deps.workspaceCache.invalidate(ws.id);
      const r = await post(ws.id, send('x'));
      expect(r.statusCode).toBe(502);
      expect(agent.received).toHaveLength(0);
    } finally {
      t.deps.agentUrlPolicy = policy;
    }
  });

  describe('busy agents and the queue', () => {
    it('C044 C058 C063 a busy answer is queued (202), delivered exactly once when the agent frees up, and its status shows the answer', async () => {
      const ws = await online('p-busy', {}, { slots: 1 });
      agent.next({ kind: 'hold' });
      const first = post(ws.id, send('long task'));
      await expect.poll(() => agent.held).toBe(1);
      const msg = send('queued one');
      const r = await post(ws.id, msg);
      expect(r.statusCode, r.body).toBe(202);
      const { queue_id, queued } = r.json<{ queue_id: string; queued: boolean }>();
      expect(queued).toBe(true);
      // The same message again (a client retry): the same queue item, no second row.
      const again = await post(ws.id, msg);
      expect(again.statusCode).toBe(202);
      expect(again.json<{ queue_id: string }>().queue_id).toBe(queue_id);
      expect(await queueRows(ws.id)).toHaveLength(1);

      agent.release();
      expect((await first).statusCode).toBe(200);
      await expect.poll(async () => (await queueRows(ws.id))[0]!.status).toBe(QueueStatus.Completed);
      const deliveries = agent.received.filter((x) => !x.busy && (x.body.params as { message: { parts: { text: string }[] } }).message.parts[0]!.text === 'queued one');
      expect(deliveries).toHaveLength(1);
      // The retry was answered from the queue, not sent again.
      expect(agent.received.filter((x) => (x.body.params as { message: { messageId: string } }).message.messageId === msg.params.message.messageId).length).toBeLessThanOrEqual(3);

      const status = await t.app.inject({ method: 'GET', url: `/workspaces/${ws.id}/a2a/queue/${queue_id}`, headers: t.admin });
      expect(status.statusCode).toBe(200);
      expect(status.json()).toMatchObject({ id: queue_id, status: 'completed', attempts: 0, response_status: 200 });
      expect(replyText(JSON.stringify(status.json<{ response_body: unknown }>().response_body))).toBe('echo: queued one');
    });

    it('C058 a queued messageId sent again with a different body is 409: nothing sent, nothing queued, the first kept', async () => {
      const ws = await online('p-reuse', {}, { slots: 0 });
      const msg = send('the original');
      expect((await post(ws.id, msg)).statusCode).toBe(202);
      const other = { ...msg, id: 2, params: { message: { ...msg.params.message, parts: [{ kind: 'text', text: 'something else' }] } } };
      const r = await post(ws.id, other);
      expect(r.statusCode, r.body).toBe(409);
      expect(r.json()).toMatchObject({ code: 'conflict', error: expect.stringContaining('different message') });
      // A true retry (same body, another JSON-RPC id) is still the same queue item.
      expect((await post(ws.id, { ...msg, id: 3 })).statusCode).toBe(202);
      const rows = await queueRows(ws.id);
      expect(rows).toHaveLength(1);
      expect(JSON.stringify(rows[0]!.body)).toContain('the original');
      expect(JSON.stringify(agent.received.map((x) => x.body))).not.toContain('something else');
    });

    it('first come, first served: while messages wait, a new one queues behind them and they arrive in order', async () => {
      const ws = await online('p-fifo', {}, { slots: 0 });
      const texts = ['one', 'two', 'three'];
      expect((await post(ws.id, send(texts[0]!))).statusCode).toBe(202);
      await t.deps.a2a.drainer.idle();
      agent.setSlots(1); // free now, but older messages wait: the next ones must not overtake them
      for (const x of texts.slice(1)) expect((await post(ws.id, send(x))).statusCode).toBe(202);
      await expect.poll(async () => (await queueRows(ws.id)).every((r) => r.status === QueueStatus.Completed)).toBe(true);
      const delivered = agent.received.filter((x) => !x.busy).map((x) => (x.body.params as { message: { parts: { text: string }[] } }).message.parts[0]!.text);
      expect(delivered).toEqual(texts);
    });

    it('C060 a heartbeat with a free slot drains the queue', async () => {
      const ws = await online('p-beat', {}, { slots: 0 });
      const r = await post(ws.id, send('waits for a beat'));
      expect(r.statusCode).toBe(202);
      agent.setSlots(1);
      const tok = (await mintWorkspaceToken(t.db, ws.id)).token;
      const beat = await t.app.inject({ method: 'POST', url: '/registry/heartbeat', headers: { ...json, ...bearer(tok) }, payload: { workspace_id: ws.id, active_tasks: 0, error_rate: 0 } });
      expect(beat.statusCode, beat.body).toBe(200);
      await expect.poll(async () => (await queueRows(ws.id))[0]!.status).toBe(QueueStatus.Completed);
    });

    it('C061 C062 an item past its expires_in_seconds is never delivered', async () => {
      const ws = await online('p-expiry', {}, { slots: 0 });
      const r = await post(ws.id, send('short-lived', { expires_in_seconds: 1 }));
      expect(r.statusCode).toBe(202);
      expect((await queueRows(ws.id))[0]!.expires_at).not.toBeNull();
      await t.db.query(`UPDATE a2a_queue SET expires_at = now() - interval '1 second' WHERE workspace_id = $1`, [ws.id]);
      await t.deps.a2a.drainer.idle();
      agent.setSlots(5);
      const before = agent.received.length;
      t.deps.a2a.drainer.hint(ws.id);
      t.deps.a2a.drainer.kick(ws.id);
      await t.deps.a2a.drainer.idle();
      expect(agent.received.length).toBe(before);
      expect((await queueRows(ws.id))[0]!.status).toBe(QueueStatus.Queued);
    });

    it('C061 an expires_in_seconds that is not a positive whole number is the proxy\'s own refusal (400, the field named), nothing sent or queued', async () => {
      const ws = await online('p-expiry-bad', {}, { slots: 0 });
      for (const v of [-5, 0, 1.5, '30', null, true]) {
        const r = await post(ws.id, send('x', { expires_in_seconds: v }));
        expect(r.statusCode, String(v)).toBe(400);
        expect(r.json<{ error: { data: { field: string } } }>().error.data.field).toBe('params.expires_in_seconds');
      }
      expect(agent.received).toHaveLength(0);
      expect(await queueRows(ws.id)).toEqual([]);
    });

    it('C061 expires_in_seconds: only a positive integer sets an expiry', () => {
      expect(expiresInSeconds({ expires_in_seconds: 30 })).toBe(30);
      for (const v of [0, -5, 1.5, '30', null, true, undefined]) expect(expiresInSeconds({ expires_in_seconds: v })).toBeUndefined();
      expect(expiresInSeconds({})).toBeUndefined();
    });

    it('C045 a native-session agent gets 503 + Retry-After and no queue row', async () => {
      const ws = await online('p-native', {}, { slots: 0 });
      t.deps.runtimeOverrides.setCapabilities(ws.id, { session: true });
      const r = await post(ws.id, send('x'));
      expect(r.statusCode).toBe(503);
      expect(r.headers['retry-after']).toBe('30');
      expect(r.json()).toMatchObject({ busy: true, native_session: true });
      expect(await queueRows(ws.id)).toEqual([]);
      await expect.poll(() => activity(ws.id)).toEqual([expect.objectContaining({ status: 'busy' })]);
    });

    it('C064 queue lookup: no bearer 401; the caller, the target and admin see it; anyone else and unknown ids get 404', async () => {
      const parent = await createWs(t, { name: 'p-q-parent' });
      const ws = await online('p-q', { parent_id: parent.id }, { slots: 0 });
      const callerTok = (await mintWorkspaceToken(t.db, parent.id)).token;
      const targetTok = (await mintWorkspaceToken(t.db, ws.id)).token;
      const stranger = await createWs(t, { name: 'p-q-stranger' });
      const strangerTok = (await mintWorkspaceToken(t.db, stranger.id)).token;
      const r = await post(ws.id, send('x'), bearer(callerTok));
      const { queue_id } = r.json<{ queue_id: string }>();
      const get = (headers: Record<string, string>, id = queue_id, path = ws.id) => t.app.inject({ method: 'GET', url: `/workspaces/${path}/a2a/queue/${id}`, headers });
      expect((await get({})).statusCode).toBe(401);
      expect((await get(bearer(callerTok))).statusCode).toBe(200);
      expect((await get(bearer(targetTok))).statusCode).toBe(200);
      expect((await get(t.admin)).statusCode).toBe(200);
      expect((await get(bearer(strangerTok))).statusCode).toBe(404);
      expect((await get(t.admin, randomUUID())).statusCode).toBe(404);
      expect((await get(t.admin, queue_id, stranger.id)).statusCode).toBe(404);
    });

    it('the periodic sweep: expired items expire, a delivery stuck past the ceiling fails (its agent does not declare idempotent messageIds), the rest drain', async () => {
      const ws = await online('p-sweep', {}, { slots: 0 });
      for (const text of ['expires', 'interrupted', 'drains']) await post(ws.id, send(text));
      await t.deps.a2a.drainer.idle();
      const ids = Object.fromEntries((await queueRows(ws.id)).map((r) => [(r.body as { params: { message: { parts: { text: string }[] } } }).params.message.parts[0]!.text, r.id as string]));
      await t.db.query(`UPDATE a2a_queue SET expires_at = now() - interval '1 second' WHERE id = $1`, [ids.expires]);
      await t.db.query(`UPDATE a2a_queue SET status = 'dispatched', dispatched_at = now() - interval '2 hours' WHERE id = $1`, [ids.interrupted]);
      agent.setSlots(5);
      expect(await t.deps.a2a.drainer.sweep(t.db)).toEqual({ kicked: 1 });
      await t.deps.a2a.drainer.idle();
      const by = Object.fromEntries((await queueRows(ws.id)).map((r) => [r.id as string, r.status]));
      expect(by[ids.expires!]).toBe(QueueStatus.Expired);
      expect(by[ids.interrupted!]).toBe(QueueStatus.Failed);
      expect(by[ids.drains!]).toBe(QueueStatus.Completed);
    });

    it('a delivery whose platform process stopped is re-sent to an agent that declares idempotent messageIds, failed for one that does not; a live claim is left alone', async () => {
      const textOf = (r: Row) => (r.body as { params: { message: { parts: { text: string }[] } } }).params.message.parts[0]!.text;
      const dead = randomUUID();
      const live = randomUUID();
      await t.db.query(`INSERT INTO platform_instances (id, seen_at) VALUES ($1, now() - interval '5 minutes'), ($2, now())`, [dead, live]);
      const claim = (id: string, by: string) => t.db.query(`UPDATE a2a_queue SET status = 'dispatched', dispatched_at = now(), dispatched_by = $2 WHERE id = $1`, [id, by]);

      const plain = await online('p-crash-plain', {}, { slots: 0 });
      const plainAgent = agent;
      await post(plain.id, send('plain'));
      await t.deps.a2a.drainer.idle();
      await claim((await queueRows(plain.id))[0]!.id as string, dead);

      const idem = await online('p-crash-idem', {}, { slots: 0 });
      await t.db.query(`UPDATE workspaces SET agent_card = $2 WHERE id = $1`, [idem.id, JSON.stringify({ name: 'i', capabilities: { extensions: [{ uri: A2A_IDEMPOTENT_MESSAGES_EXTENSION }] } })]);
      t.deps.workspaceCache.invalidate(idem.id);
      for (const text of ['orphaned', 'in flight']) await post(idem.id, send(text));
      await t.deps.a2a.drainer.idle();
      const ids = Object.fromEntries((await queueRows(idem.id)).map((r) => [textOf(r), r.id as string]));
      await claim(ids.orphaned!, dead);
      await claim(ids['in flight']!, live);

      agent.setSlots(5);
      await t.deps.a2a.drainer.sweep(t.db);
      await t.deps.a2a.drainer.idle();
      const idemRows = Object.fromEntries((await queueRows(idem.id)).map((r) => [textOf(r), r]));
      expect(idemRows.orphaned).toMatchObject({ status: QueueStatus.Completed, last_error: RESENT_AFTER_CRASH });
      expect(agent.received.filter((x) => !x.busy).map((x) => textOf(x as unknown as Row))).toEqual(['orphaned']);
      expect(idemRows['in flight']).toMatchObject({ status: QueueStatus.Dispatched, dispatched_by: live });
      expect((await queueRows(plain.id))[0]).toMatchObject({ status: QueueStatus.Failed, last_error: FAILED_AFTER_CRASH });
      expect(plainAgent.received.filter((x) => !x.busy)).toEqual([]);
      await plainAgent.close();
    });

    it('admin drop of stale items', async () => {
      const ws = await online('p-drop', {}, { slots: 0 });
      await post(ws.id, send('old'));
      await t.deps.a2a.drainer.idle();
      await t.db.query(`UPDATE a2a_queue SET created_at = now() - interval '2 hours' WHERE workspace_id = $1`, [ws.id]);
      const bad = await t.app.inject({ method: 'POST', url: '/admin/a2a-queue/drop-stale', headers: { ...t.admin, ...json }, payload: { older_than_seconds: -1 } });
      expect(bad.statusCode).toBe(400);
      const r = await t.app.inject({ method: 'POST', url: '/admin/a2a-queue/drop-stale', headers: { ...t.admin, ...json }, payload: { older_than_seconds: 3600, workspace_id: ws.id } });
      expect(r.json()).toEqual({ dropped: 1 });
      expect((await queueRows(ws.id))[0]!.status).toBe(QueueStatus.Dropped);
    });
  });

  describe('dead agents', () => {
    it('C046 which upstream statuses may mean a dead agent', () => {
      for (const s of [502, 503, 504, 521, 522, 523, 524]) expect(DEAD_AGENT_STATUSES.has(s)).toBe(true);
      for (const s of [200, 400, 404, 500, 520, 525]) expect(DEAD_AGENT_STATUSES.has(s)).toBe(false);
    });

    it('C047 C048 a 502 from an agent the backend says is stopped: offline, restart, 503 restarting with Retry-After 15', async () => {
      const ws = await online('p-dead');
      fake.states.set('p-dead', { state: 'stopped' });
      agent.next({ kind: 'status', status: 502, body: 'bad gateway' });
      const starts = fake.calls.start.length;
      const r = await post(ws.id, send('x'));
      expect(r.statusCode).toBe(503);
      expect(r.headers['retry-after']).toBe('15');
      expect(r.json()).toMatchObject({ restarting: true });
      await expect.poll(() => fake.calls.start.length).toBeGreaterThan(starts);
    });

    it('C047 the same status from a running agent passes through unchanged, its body replaced when not JSON-RPC', async () => {
      const ws = await online('p-alive');
      agent.next({ kind: 'status', status: 504, body: '<html>stack trace at /srv/secret.py</html>', contentType: 'text/html' });
      const r = await post(ws.id, send('x'));
      expect(r.statusCode).toBe(504);
      expect(r.body).not.toContain('secret');
      expect(r.json()).toMatchObject({ error: 'agent answered HTTP 504' });
    });

    it('C059 an agent that cannot be reached and is not running: structured 503, never an opaque 502', async () => {
      const ws = await online('p-gone');
      await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [ws.id, `http://127.0.0.1:${await freePort()}`]);
      t.deps.workspaceCache.invalidate(ws.id);
      fake.states.set('p-gone', { state: 'stopped' });
      const r = await post(ws.id, send('x'));
      expect(r.statusCode).toBe(503);
      expect(r.json()).toMatchObject({ restarting: true });
    });

    it('an unreachable agent the backend cannot judge: 502 with a safe message', async () => {
      const ws = await online('p-unknown');
      await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [ws.id, `http://127.0.0.1:${await freePort()}`]);
      t.deps.workspaceCache.invalidate(ws.id);
      fake.states.set('p-unknown', { state: 'unknown', error: new Error('docker daemon timeout at /var/run/docker.sock') });
      const r = await post(ws.id, send('x'));
      expect(r.statusCode).toBe(502);
      expect(r.body).not.toContain('docker.sock');
    });
  });

  describe('timeouts', () => {
    it('C040 C043 C044 C060 a plain A2A agent that goes quiet past its idle timeout is busy: the message is queued (202), left alone while the agent may still be on it, and re-delivered once when it beats with a free slot', async () => {
      const ws = await online('p-idle');
      t.deps.runtimeOverrides.setIdleTimeout(ws.id, 1);
      agent.always({ kind: 'hang' });
      const msg = send('x');
      const r = await post(ws.id, msg);
      expect(r.statusCode, r.body).toBe(202);
      expect(r.json()).toMatchObject({ queued: true, queue_id: expect.any(String) });
      // The agent may still be working on it: a drain pass (the periodic sweep's) sends nothing.
      await t.deps.a2a.drainer.sweep(t.db);
      await t.deps.a2a.drainer.idle();
      expect(agent.received).toHaveLength(1);
      expect((await queueRows(ws.id))[0]).toMatchObject({ status: QueueStatus.Queued, attempts: 0 });
      // A heartbeat still busy keeps it waiting; one with a free slot releases it.
      const tok = (await mintWorkspaceToken(t.db, ws.id)).token;
      const beat = (active: number) => t.app.inject({ method: 'POST', url: '/registry/heartbeat', headers: { ...json, ...bearer(tok) }, payload: { workspace_id: ws.id, active_tasks: active } });
      expect((await beat(1)).statusCode).toBe(200);
      await t.deps.a2a.drainer.sweep(t.db);
      await t.deps.a2a.drainer.idle();
      expect(agent.received).toHaveLength(1);
      agent.always({ kind: 'echo' });
      expect((await beat(0)).statusCode).toBe(200);
      await expect.poll(async () => (await queueRows(ws.id))[0]!.status, { timeout: 5000 }).toBe(QueueStatus.Completed);
      // Delivered twice in all (at least once: an agent that dedupes by messageId runs it once).
      const sent = agent.received.map((x) => (x.body.params as { message: { messageId: string } }).message.messageId);
      expect(sent).toEqual([msg.params.message.messageId, msg.params.message.messageId]);
    });

    it('X-Timeout sets this request\'s idle timeout: a quiet agent is busy after it (202), whatever the workspace\'s own', async () => {
      const ws = await online('p-xtimeout');
      t.deps.runtimeOverrides.setIdleTimeout(ws.id, 3600);
      agent.next({ kind: 'hang' });
      // Answered within the test's own timeout: the caller's 1 s, not the workspace's hour.
      const r = await post(ws.id, send('x'), { ...t.admin, 'x-timeout': '1' });
      expect(r.statusCode, r.body).toBe(202);
    });

    it.each(['0', '-1', '1.5', 'abc', '', '10s', '99999999999'])('X-Timeout %j is a 400 naming the header; nothing sent or queued', async (value) => {
      const ws = await online(`p-xtimeout-bad-${value.length}`);
      const r = await post(ws.id, send('x'), { ...t.admin, 'x-timeout': value });
      expect(r.statusCode, r.body).toBe(400);
      expect(r.json()).toMatchObject({ code: 'invalid_request', error: expect.stringContaining('X-Timeout') });
      expect(agent.received).toHaveLength(0);
      expect(await queueRows(ws.id)).toEqual([]);
    });

    it('X-Timeout is capped at the 30-minute ceiling', () => {
      expect(xTimeoutSeconds('5')).toBe(5);
      expect(xTimeoutSeconds('86400')).toBe(1800);
      expect(xTimeoutSeconds(undefined)).toBeUndefined();
    });

    it('C045 a native-session agent that goes quiet past its idle timeout gets 503 + Retry-After, no queue row', async () => {
      const ws = await online('p-idle-native');
      t.deps.runtimeOverrides.setIdleTimeout(ws.id, 1);
      t.deps.runtimeOverrides.setCapabilities(ws.id, { session: true });
      agent.next({ kind: 'hang' });
      const r = await post(ws.id, send('x'));
      expect(r.statusCode).toBe(503);
      expect(r.headers['retry-after']).toBeDefined();
      expect(r.json()).toMatchObject({ native_session: true });
      expect(await queueRows(ws.id)).toEqual([]);
    });

    it('C041 any event of the target resets the idle clock', async () => {
      const ws = await online('p-idle-reset');
      t.deps.runtimeOverrides.setIdleTimeout(ws.id, 1);
      agent.next({ kind: 'hold' });
      const pending = post(ws.id, send('x'));
      const beats = setInterval(() => void t.deps.broadcaster.broadcastOnly('WORKSPACE_HEARTBEAT', ws.id, {}), 300);
      try {
        await new Promise((r) => setTimeout(r, 2000));
        agent.release();
        expect((await pending).statusCode).toBe(200);
      } finally {
        clearInterval(beats);
      }
    });

    it('C043 failures are classified by type and code, through wrapping, never by message text', () => {
      expect(classifyDispatchError(new Error('outer', { cause: new IdleTimeoutError(5) }))).toBe('idle_timeout');
      expect(classifyDispatchError(new CeilingTimeoutError(1800))).toBe('ceiling');
      expect(classifyDispatchError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('unreachable');
      expect(classifyDispatchError(new Error('wrap', { cause: Object.assign(new Error('y'), { code: 'ECONNRESET' }) }))).toBe('connection_lost');
      expect(classifyDispatchError(new UnsafeAgentUrlError('blocked'))).toBe('unsafe_url');
      expect(classifyDispatchError(new Error('context deadline exceeded ECONNREFUSED idle'))).toBe('other');
      expect(isBusyAnswer({ error: { code: -32050 } })).toBe(true);
      expect(isBusyAnswer({ error: { code: -32000, data: { busy: true } } })).toBe(true);
      expect(isBusyAnswer({ error: { code: -32000, message: 'busy' } })).toBe(false);
    });
  });

  it('message/stream is passed through as SSE, byte for byte; its last event is the logged answer (chat history)', async () => {
    const ws = await online('p-stream');
    agent.next({ kind: 'stream', chunks: ['{"a":1}', '{"b":2}'] });
    const r = await post(ws.id, { ...send('x'), method: 'message/stream' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toContain('text/event-stream');
    expect(r.body).toBe('data: {"a":1}\n\ndata: {"b":2}\n\n');
    await expect
      .poll(async () => (await t.db.query<{ response_body: unknown }>(`SELECT response_body FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'a2a_receive'`, [ws.id])).rows)
      .toEqual([{ response_body: { b: 2 } }]);
  });

  it('an answer over 10 MiB is refused with 502', async () => {
    const ws = await online('p-huge');
    agent.next({ kind: 'huge', bytes: 10 * 1024 * 1024 + 100 });
    const r = await post(ws.id, send('x'));
    expect(r.statusCode).toBe(502);
    expect(r.json()).toMatchObject({ error: 'failed to read agent response' });
  });

  it('the agent card route points every endpoint at the proxy and declares the bearer it requires, for credentialed callers the hierarchy allows', async () => {
    const ws = await online('p-card');
    const url = `/workspaces/${ws.id}/a2a/agent-card`;
    expect((await t.app.inject({ method: 'GET', url, headers: t.admin })).statusCode).toBe(404); // no card registered yet
    // The agent's own scheme is replaced by what the proxy requires.
    const card = {
      name: 'c',
      url: agent.url,
      supportedInterfaces: [{ url: agent.url, protocolBinding: 'JSONRPC' }],
      additionalInterfaces: [{ url: agent.url, transport: 'JSONRPC' }],
      securitySchemes: { agent_key: { type: 'apiKey', in: 'header', name: 'x-key' } },
      security: [{ agent_key: [] }],
    };
    await t.db.query('UPDATE workspaces SET agent_card = $2 WHERE id = $1', [ws.id, JSON.stringify(card)]);
    const r = await t.app.inject({ method: 'GET', url, headers: t.admin });
    expect(r.statusCode).toBe(200);
    const proxied = `http://localhost:80/workspaces/${ws.id}/a2a`;
    expect(r.json()).toEqual({
      name: 'c',
      url: proxied,
      supportedInterfaces: [{ url: proxied, protocolBinding: 'JSONRPC' }],
      additionalInterfaces: [{ url: proxied, transport: 'JSONRPC' }],
      // Both dialects read it: v0.3 type/scheme + security, v1 httpAuthSecurityScheme + securityRequirements.
      securitySchemes: { molecule_platform: { type: 'http', scheme: 'bearer', description: expect.any(String), httpAuthSecurityScheme: { scheme: 'Bearer', description: expect.any(String), bearerFormat: '' } } },
      security: [{ molecule_platform: [] }],
      securityRequirements: [{ schemes: { molecule_platform: { list: [] } } }],
    });
    expect(r.body).not.toContain(agent.url);
    expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
    const a = await createWs(t, { name: 'p-card-a' });
    const a1 = await createWs(t, { name: 'p-card-a1', parent_id: a.id });
    const tok = (await mintWorkspaceToken(t.db, a1.id)).token;
    const other = await createWs(t, { name: 'p-card-other' });
    await t.db.query('UPDATE workspaces SET parent_id = $2 WHERE id = $1', [ws.id, other.id]);
    expect((await t.app.inject({ method: 'GET', url, headers: bearer(tok) })).statusCode).toBe(403);
  });

  it('a workspace with no URL yet: 503 with Retry-After, nothing dialled', async () => {
    const ws = await online('p-nourl');
    await t.db.query(`UPDATE workspaces SET url = '' WHERE id = $1`, [ws.id]);
    t.deps.workspaceCache.invalidate(ws.id);
    const r = await post(ws.id, send('x'));
    expect(r.statusCode).toBe(503);
    expect(r.headers['retry-after']).toBe('15');
  });
});
