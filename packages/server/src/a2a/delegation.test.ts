import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DelegationStatus, Status } from '@molecule/contracts';
import { mintWorkspaceToken } from '../auth/repo.js';
import { bearer, createWs, eventsOf, json } from '../test-support/api.js';
import { startFakeAgent, type FakeAgent } from '../test-support/fake-agent.js';
import { startWithFakeBackend } from '../test-support/fake-provisioner.js';
import type { TestApp } from '../test-support/harness.js';
import { setStatus } from '../workspaces/repo.js';
import { delegationIdOfTask, isCanceledTask, replyText } from './delegation.js';

describe('delegation', () => {
  let t: TestApp;
  let agent: FakeAgent;

  beforeAll(async () => {
    ({ t } = await startWithFakeBackend());
  });
  afterAll(async () => t.close());
  afterEach(async () => agent?.close());

  /** A parent (source) and an online child (target) whose agent is a fake. */
  async function pair(slots?: number) {
    agent = await startFakeAgent(slots === undefined ? {} : { slots });
    const parent = await createWs(t, { name: `d-parent-${randomUUID().slice(0, 6)}` });
    const child = await createWs(t, { name: 'd-child', parent_id: parent.id });
    await expect.poll(async () => (await t.db.query<{ i: string | null }>('SELECT instance_id AS i FROM workspaces WHERE id = $1', [child.id])).rows[0]!.i).not.toBeNull();
    await setStatus(t.db, child.id, Status.Online);
    await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [child.id, agent.url]);
    t.deps.workspaceCache.invalidate(child.id);
    const token = (await mintWorkspaceToken(t.db, parent.id)).token;
    return { parent, child, auth: bearer(token) };
  }

  const delegate = (sourceId: string, auth: Record<string, string>, payload: unknown, wait = false) =>
    t.app.inject({ method: 'POST', url: `/workspaces/${sourceId}/delegate${wait ? '?wait=true' : ''}`, headers: { ...auth, ...json }, payload: JSON.stringify(payload) });

  it('C066 sync delegation: the delegation id is the messageId and rides in the metadata; the reply text comes back', async () => {
    const { parent, child, auth } = await pair();
    const r = await delegate(parent.id, auth, { target_id: child.id, task: 'summarise' }, true);
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json<{ delegation_id: string; status: string; response_preview: string }>();
    expect(body).toMatchObject({ status: DelegationStatus.Completed, response_preview: 'echo: summarise' });
    const msg = (agent.received[0]!.body.params as { message: { messageId: string; metadata: { delegation_id: string } } }).message;
    expect(msg.messageId).toBe(body.delegation_id);
    expect(msg.metadata.delegation_id).toBe(body.delegation_id);
    expect((await eventsOf(t, parent.id)).map((e) => e.event_type)).toEqual(expect.arrayContaining(['DELEGATION_SENT', 'DELEGATION_COMPLETE']));
  });

  it('C065 C067 a busy target: recorded as queued (not a result), then the drain completes it and emits DELEGATION_COMPLETE', async () => {
    const { parent, child, auth } = await pair(1);
    agent.next({ kind: 'hold' });
    const holder = t.app.inject({ method: 'POST', url: `/workspaces/${child.id}/a2a`, headers: { ...t.admin, ...json }, payload: JSON.stringify({ method: 'message/send', params: { message: { role: 'user', parts: [{ kind: 'text', text: 'occupy' }] } } }) });
    await expect.poll(() => agent.held).toBe(1);
    const r = await delegate(parent.id, auth, { target_id: child.id, task: 'later please' }, true);
    expect(r.statusCode, r.body).toBe(200);
    const d = r.json<{ delegation_id: string; status: string; queue_id: string }>();
    expect(d.status).toBe(DelegationStatus.Queued);
    expect(d.queue_id).toBeTruthy();
    agent.release();
    await holder;
    const list = async () => (await t.app.inject({ method: 'GET', url: `/workspaces/${parent.id}/delegations`, headers: auth })).json<{ delegation_id: string; status: string; response_preview?: string }[]>();
    await expect.poll(async () => (await list()).find((x) => x.delegation_id === d.delegation_id)?.status).toBe(DelegationStatus.Completed);
    expect((await list())[0]!.response_preview).toBe('echo: later please');
    await expect.poll(async () => (await eventsOf(t, parent.id)).filter((e) => e.event_type === 'DELEGATION_COMPLETE').map((e) => e.payload.via)).toEqual(['queue_drain']);
  });

  it('async delegation answers 202 at once; an idempotency key returns the same delegation', async () => {
    const { parent, child, auth } = await pair();
    const body = { target_id: child.id, task: 'once', idempotency_key: 'k-1' };
    const a = await delegate(parent.id, auth, body);
    expect(a.statusCode).toBe(202);
    const b = await delegate(parent.id, auth, body);
    expect(b.statusCode).toBe(200);
    expect(b.json()).toMatchObject({ delegation_id: a.json<{ delegation_id: string }>().delegation_id, idempotent_hit: true });
    await expect.poll(() => agent.received.length).toBe(1);
  });

  it('a delegation across the hierarchy is refused and recorded failed', async () => {
    agent = await startFakeAgent();
    const a = await createWs(t, { name: 'd-a' });
    const b = await createWs(t, { name: 'd-b' });
    const a1 = await createWs(t, { name: 'd-a1', parent_id: a.id });
    const b1 = await createWs(t, { name: 'd-b1', parent_id: b.id });
    const auth = bearer((await mintWorkspaceToken(t.db, a1.id)).token);
    const r = await delegate(a1.id, auth, { target_id: b1.id, task: 'x' }, true);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: DelegationStatus.Failed, error: expect.stringContaining('hierarchy') });
    expect(agent.received).toHaveLength(0);
  });

  describe('bad input: 400 and nothing recorded', () => {
    it.each([
      ['a target that is not a UUID', { target_id: 'abc', task: 'x' }, 'target_id must be a valid UUID'],
      ['an empty task', { target_id: randomUUID(), task: '  ' }, 'task is required'],
      ['an unknown field', { target_id: randomUUID(), task: 'x', extra: 1 }, 'invalid request'],
      ['a task of the wrong type', { target_id: randomUUID(), task: 5 }, 'invalid request'],
    ])('%s', async (_n, payload, message) => {
      const { parent, auth } = await pair();
      const r = await delegate(parent.id, auth, payload);
      expect(r.statusCode).toBe(400);
      expect(r.json<{ error: string }>().error).toContain(message);
      expect((await t.db.query('SELECT 1 FROM delegations WHERE source_id = $1', [parent.id])).rowCount).toBe(0);
    });

    it('self-delegation and another workspace delegating on your behalf', async () => {
      const { parent, child, auth } = await pair();
      expect((await delegate(parent.id, auth, { target_id: parent.id, task: 'x' })).json<{ error: string }>().error).toBe('self-delegation not permitted');
      expect((await delegate(child.id, auth, { target_id: parent.id, task: 'x' })).statusCode).toBe(403);
      expect((await t.db.query('SELECT 1 FROM delegations WHERE source_id = ANY($1::uuid[])', [[parent.id, child.id]])).rowCount).toBe(0);
    });
  });

  it('record and update a delegation the agent sent itself; an unknown id is 404', async () => {
    const { parent, child, auth } = await pair();
    const id = randomUUID();
    const rec = await t.app.inject({ method: 'POST', url: `/workspaces/${parent.id}/delegations/record`, headers: { ...auth, ...json }, payload: { target_id: child.id, task: 't', delegation_id: id } });
    expect(rec.statusCode).toBe(202);
    const upd = await t.app.inject({ method: 'POST', url: `/workspaces/${parent.id}/delegations/${id}/update`, headers: { ...auth, ...json }, payload: { status: 'completed', response_preview: 'done' } });
    expect(upd.json()).toMatchObject({ status: 'completed', response_preview: 'done' });
    const unknown = await t.app.inject({ method: 'POST', url: `/workspaces/${parent.id}/delegations/${randomUUID()}/update`, headers: { ...auth, ...json }, payload: { status: 'failed' } });
    expect(unknown.statusCode).toBe(404);
  });

  describe('tasks/cancel on a delegated task', () => {
    const canceledTask = (delegationId: string) =>
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        result: { kind: 'task', id: 't-1', contextId: 'c-1', status: { state: 'canceled' }, history: [{ kind: 'message', role: 'user', messageId: delegationId, parts: [{ kind: 'text', text: 'x' }], metadata: { delegation_id: delegationId } }] },
      });
    const cancelVia = (childId: string, auth: Record<string, string>) =>
      t.app.inject({ method: 'POST', url: `/workspaces/${childId}/a2a`, headers: { ...auth, ...json }, payload: { jsonrpc: '2.0', id: 1, method: 'tasks/cancel', params: { id: 't-1' } } });

    it('a cancel the target accepts ends the delegation canceled; the late answer of its task does not complete it', async () => {
      const { parent, child, auth } = await pair();
      agent.next({ kind: 'hold' });
      const sync = delegate(parent.id, auth, { target_id: child.id, task: 'long job' }, true);
      await expect.poll(() => agent.held).toBe(1);
      const did = (agent.received[0]!.body.params as { message: { messageId: string } }).message.messageId;
      agent.next({ kind: 'status', status: 200, body: canceledTask(did) });
      expect((await cancelVia(child.id, auth)).statusCode).toBe(200);
      expect((await t.db.query<{ status: string }>('SELECT status FROM delegations WHERE id = $1', [did])).rows[0]!.status).toBe(DelegationStatus.Canceled);
      expect((await eventsOf(t, parent.id)).filter((e) => e.event_type === 'DELEGATION_STATUS').map((e) => e.payload.status)).toContain(DelegationStatus.Canceled);
      agent.release();
      const r = await sync;
      expect(r.json()).toMatchObject({ delegation_id: did, status: DelegationStatus.Canceled });
      expect((await eventsOf(t, parent.id)).map((e) => e.event_type)).not.toContain('DELEGATION_COMPLETE');
    });

    it('a delegation whose own answer is a canceled task ends canceled, not completed with its text', async () => {
      const { parent, child, auth } = await pair();
      const id = randomUUID();
      agent.next({ kind: 'status', status: 200, body: canceledTask(id) });
      const r = await delegate(parent.id, auth, { target_id: child.id, task: 'x' }, true);
      expect(r.json()).toMatchObject({ status: DelegationStatus.Canceled });
    });

    it('an agent cannot cancel a delegation sent to another workspace; a cancel it refused changes nothing', async () => {
      const { parent, child, auth } = await pair();
      const other = await createWs(t, { name: 'd-other', parent_id: parent.id });
      agent.next({ kind: 'hold' });
      const async = await delegate(parent.id, auth, { target_id: child.id, task: 'keep going' });
      const did = async.json<{ delegation_id: string }>().delegation_id;
      await expect.poll(() => agent.held).toBe(1);
      // The sibling's agent (the same fake here) claims the delegation in its cancel answer.
      await setStatus(t.db, other.id, Status.Online);
      await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [other.id, agent.url]);
      t.deps.workspaceCache.invalidate(other.id);
      agent.next({ kind: 'status', status: 200, body: canceledTask(did) });
      expect((await cancelVia(other.id, auth)).statusCode).toBe(200);
      // The target refuses a cancel: a JSON-RPC error, not a canceled task.
      agent.next({ kind: 'status', status: 200, body: JSON.stringify({ jsonrpc: '2.0', id: 1, error: { code: -32002, message: 'task cannot be canceled' } }) });
      expect((await cancelVia(child.id, auth)).statusCode).toBe(200);
      expect((await t.db.query<{ status: string }>('SELECT status FROM delegations WHERE id = $1', [did])).rows[0]!.status).toBe(DelegationStatus.Dispatched);
      agent.release();
      await expect.poll(async () => (await t.db.query<{ status: string }>('SELECT status FROM delegations WHERE id = $1', [did])).rows[0]!.status).toBe(DelegationStatus.Completed);
    });

    it('canceled tasks and their delegation are read in both dialects', () => {
      const id = randomUUID();
      expect(isCanceledTask({ result: { status: { state: 'canceled' } } })).toBe(true);
      expect(isCanceledTask({ result: { task: { status: { state: 'TASK_STATE_CANCELED' } } } })).toBe(true);
      expect(isCanceledTask({ result: { status: { state: 'completed' } } })).toBe(false);
      expect(isCanceledTask({ error: { code: -32002 } })).toBe(false);
      expect(delegationIdOfTask({ result: { status: { state: 'canceled' }, history: [{ metadata: { delegation_id: id } }] } })).toBe(id);
      expect(delegationIdOfTask({ result: { task: { status: { state: 'TASK_STATE_CANCELED' }, history: [{ metadata: { delegation_id: id } }] } } })).toBe(id);
      expect(delegationIdOfTask({ result: { status: { state: 'canceled' }, history: [{ metadata: {} }] } })).toBeUndefined();
    });
  });

  it('reply text is found in every answer shape', () => {
    const parts = [{ kind: 'text', text: 'a' }, { text: 'b' }];
    expect(replyText({ result: { kind: 'task', status: { message: { parts } } } })).toBe('ab');
    expect(replyText({ result: { kind: 'message', parts } })).toBe('ab');
    expect(replyText({ result: { task: { status: { message: { parts: [{ text: 'v1' }] } } } } })).toBe('v1');
    expect(replyText({ result: { artifacts: [{ parts: [{ kind: 'text', text: 'art' }] }] } })).toBe('art');
    expect(replyText({ error: { code: 1 } })).toBeUndefined();
  });
});
