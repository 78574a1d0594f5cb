import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformEvent } from '@molecule/contracts';
import { bearer, createExternal, json } from '../test-support/api.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { proxyA2A } from '../a2a/proxy.js';

type Json = Record<string, unknown>;
type Inbox = { messages: { id: string; text: string; kind: string; from_id: string | null; method: string; message_id: string | null }[]; cursor: string | null };

const send = (text: string, extra: Json = {}, method = 'message/send') => ({
  jsonrpc: '2.0',
  id: 'req-1',
  method,
  params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] }, ...extra },
});

describe('the poll inbox (C274)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t.close());

  const a2a = (id: string, payload: unknown, headers: Record<string, string> = t.admin) =>
    t.app.inject({ method: 'POST', url: `/workspaces/${id}/a2a`, headers: { ...json, ...headers }, payload: JSON.stringify(payload) });
  const inbox = (id: string, token: string, query = '') => t.app.inject({ method: 'GET', url: `/workspaces/${id}/inbox${query}`, headers: bearer(token) });
  const reply = (id: string, token: string, messageId: string, payload: unknown) =>
    t.app.inject({ method: 'POST', url: `/workspaces/${id}/inbox/${messageId}/reply`, headers: { ...json, ...bearer(token) }, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) });
  /** The inbox, read until it holds a message. */
  const firstMessage = async (id: string, token: string) => {
    let got: Inbox['messages'][number] | undefined;
    await expect
      .poll(async () => {
        got = (await inbox(id, token)).json<Inbox>().messages[0];
        return got;
      })
      .toBeDefined();
    return got!;
  };
  /** An external workspace whose agent registered (online, poll delivery), as molecule-mcp leaves it. */
  const connected = async (name: string) => {
    const ws = await createExternal(t, { name });
    const r = await t.app.inject({
      method: 'POST',
      url: '/registry/register',
      headers: { ...json, ...bearer(ws.token) },
      payload: JSON.stringify({ id: ws.id, agent_card: { name, version: '1.0.0', skills: [] }, delivery_mode: 'poll' }),
    });
    expect(r.statusCode, r.body).toBe(200);
    return ws;
  };
  const receivedRows = async (id: string) =>
    (await t.db.query<Json>(`SELECT id, status, response_body FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'a2a_receive' ORDER BY created_at, id`, [id])).rows;

  it("C274 an external workspace's blocking message/send waits for its agent: the long-poll wakes on arrival, the reply completes the send", async () => {
    const ws = await connected('inbox-basic');
    // The agent waits first, so the answer proves the wait woke on the message (bus), not a re-read.
    const waiting = inbox(ws.id, ws.token, '?wait=60');
    const events: PlatformEvent[] = [];
    const off = t.bus.subscribe((e) => void (e.workspace_id === ws.id && events.push(e)));
    try {
      const sending = a2a(ws.id, send('what is 6 x 7?'));
      const got = (await waiting).json<Inbox>();
      expect(got.messages).toEqual([expect.objectContaining({ text: 'what is 6 x 7?', kind: 'canvas_user', from_id: null, method: 'message/send' })]);
      expect(got.cursor).toBe(got.messages[0]!.id);
      const r = await reply(ws.id, ws.token, got.messages[0]!.id, { text: '42' });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toEqual({ id: got.messages[0]!.id, status: 'replied' });
      const answered = await sending;
      expect(answered.statusCode, answered.body).toBe(200);
      expect(answered.json()).toMatchObject({ jsonrpc: '2.0', id: 'req-1', result: { kind: 'message', role: 'agent', parts: [{ kind: 'text', text: '42' }] } });
      expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['ACTIVITY_LOGGED', 'A2A_REPLIED', 'A2A_RESPONSE']));
    } finally {
      off();
    }
    expect((await inbox(ws.id, ws.token)).json<Inbox>().messages).toEqual([]);
    expect(await receivedRows(ws.id)).toEqual([expect.objectContaining({ status: 'ok', response_body: expect.objectContaining({ id: 'req-1' }) })]);
  });

  it("C274 a teammate's message: the inbox names the sender, the reply completes the teammate's send and lands in its log; v1 senders get a v1 answer", async () => {
    const agent = await connected('inbox-agent');
    const mate = await createExternal(t, { name: 'inbox-mate' });
    const sending = a2a(agent.id, send('review this', {}, 'SendMessage'), bearer(mate.token));
    const msg = await firstMessage(agent.id, agent.token);
    expect(msg).toMatchObject({ kind: 'peer_agent', from_id: mate.id, method: 'SendMessage', text: 'review this' });
    expect((await reply(agent.id, agent.token, msg.id, { text: 'looks good' })).statusCode).toBe(200);
    const answered = await sending;
    expect(answered.statusCode, answered.body).toBe(200);
    expect(answered.json()).toMatchObject({ id: 'req-1', result: { message: { role: 'ROLE_AGENT', parts: [{ text: 'looks good' }] } } });
    await expect
      .poll(async () => (await t.db.query<Json>(`SELECT activity_type, status FROM activity_logs WHERE workspace_id = $1`, [mate.id])).rows)
      .toEqual([{ activity_type: 'a2a_send', status: 'ok' }]);
  });

  it("C274 a message/stream (the canvas chat's) to a connected poll agent waits for its reply too, and gets it as one SSE event; tasks/get is still answered queued at once", async () => {
    const ws = await connected('inbox-stream');
    const events: PlatformEvent[] = [];
    const off = t.bus.subscribe((e) => void (e.workspace_id === ws.id && events.push(e)));
    try {
      const sending = t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/a2a`, headers: { ...json, ...t.admin, accept: 'text/event-stream' }, payload: JSON.stringify(send('stream me', {}, 'message/stream')) });
      const msg = await firstMessage(ws.id, ws.token);
      expect(msg).toMatchObject({ method: 'message/stream', text: 'stream me' });
      expect((await reply(ws.id, ws.token, msg.id, { text: 'streamed reply' })).statusCode).toBe(200);
      const answered = await sending;
      expect(answered.statusCode, answered.body).toBe(200);
      expect(answered.headers['content-type']).toMatch(/^text\/event-stream/);
      const frames = answered.body.split('\n\n').filter((f) => f.startsWith('data: '));
      expect(frames).toHaveLength(1);
      expect(JSON.parse(frames[0]!.slice('data: '.length))).toMatchObject({ jsonrpc: '2.0', id: 'req-1', result: { kind: 'message', role: 'agent', parts: [{ kind: 'text', text: 'streamed reply' }] } });
      // The canvas learns of the reply live too: the response event carries the sender's request id.
      expect(events.find((e) => e.type === 'A2A_RESPONSE')?.payload).toMatchObject({ method: 'message/stream', response_body: { id: 'req-1' } });
    } finally {
      off();
    }
    const get = await a2a(ws.id, { jsonrpc: '2.0', id: 'g', method: 'tasks/get', params: { id: randomUUID() } });
    expect(get.json()).toEqual({ status: 'queued', delivery_mode: 'poll', method: 'tasks/get' });
  });

  it('a sender that goes away stops waiting for the poll agent: its wait ends at once as queued, and a later reply is still stored', async () => {
    const ws = await connected('inbox-hangup');
    const gone = new AbortController();
    const waiting = proxyA2A(t.deps, { targetId: ws.id, caller: { kind: 'user', label: 'canvas' }, body: send('anyone?'), idleTimeoutSeconds: 1800, signal: gone.signal });
    const msg = await firstMessage(ws.id, ws.token);
    gone.abort();
    // Without the abort this would wait out the 30-minute idle timeout (and the test's own).
    await expect(waiting).resolves.toEqual({ kind: 'poll_queued', method: 'message/send' });
    expect((await reply(ws.id, ws.token, msg.id, { text: 'here now' })).statusCode).toBe(200);
    expect(await receivedRows(ws.id)).toEqual([expect.objectContaining({ status: 'ok', response_body: expect.objectContaining({ result: expect.objectContaining({ parts: [{ kind: 'text', text: 'here now' }] }) }) })]);
  });

  it('C052 C274 a blocking send to an external workspace whose agent has not connected is answered queued at once; the message waits in the inbox', async () => {
    const ws = await createExternal(t, { name: 'inbox-unconnected' });
    const r = await a2a(ws.id, send('are you there?'));
    expect(r.json()).toEqual({ status: 'queued', delivery_mode: 'poll', method: 'message/send' });
    expect((await firstMessage(ws.id, ws.token)).text).toBe('are you there?');
  });

  it('C052 C274 a non-blocking send is answered queued at once; the message still waits in the inbox and takes a later reply', async () => {
    const ws = await connected('inbox-later');
    const r = await a2a(ws.id, send('when you can', { configuration: { blocking: false } }));
    expect(r.json()).toEqual({ status: 'queued', delivery_mode: 'poll', method: 'message/send' });
    const msg = await firstMessage(ws.id, ws.token);
    expect((await reply(ws.id, ws.token, msg.id, { text: 'done' })).statusCode).toBe(200);
    expect(await receivedRows(ws.id)).toEqual([expect.objectContaining({ status: 'ok' })]);
  });

  it('C274 since_id skips what the agent has seen; wait=0 answers at once; a wait with nothing arriving ends empty', async () => {
    const ws = await createExternal(t, { name: 'inbox-cursor' });
    expect((await inbox(ws.id, ws.token, '?wait=0')).json()).toEqual({ messages: [], cursor: null });
    await a2a(ws.id, send('one', { configuration: { blocking: false } }));
    await a2a(ws.id, send('two', { configuration: { blocking: false } }));
    const all = (await inbox(ws.id, ws.token)).json<Inbox>();
    expect(all.messages.map((m) => m.text)).toEqual(['one', 'two']);
    const after = (await inbox(ws.id, ws.token, `?since_id=${all.messages[0]!.id}`)).json<Inbox>();
    expect(after.messages.map((m) => m.text)).toEqual(['two']);
    expect((await inbox(ws.id, ws.token, `?limit=1`)).json<Inbox>().messages.map((m) => m.text)).toEqual(['one']);
    expect((await inbox(ws.id, ws.token, `?since_id=${all.cursor}&wait=1`)).json()).toEqual({ messages: [], cursor: all.cursor });
  });

  it.each([
    ['a negative wait', '?wait=-1', /wait must be a whole number of seconds from 0 to 60/],
    ['a huge wait', '?wait=61', /wait must be a whole number of seconds from 0 to 60/],
    ['a fractional wait', '?wait=1.5', /wait must be a whole number/],
    ['a wait that is not a number', '?wait=soon', /wait must be a whole number/],
    ['an empty wait', '?wait=', /wait must be a whole number/],
    ['limit 0', '?limit=0', /limit must be a whole number from 1 to 100/],
    ['a limit past the maximum', '?limit=101', /limit must be a whole number from 1 to 100/],
    ['a since_id that is not a UUID', '?since_id=../../etc', /since_id must be an inbox message ID/],
  ])('C274 %s is a 400 naming the field', async (_what, query, message) => {
    const ws = await createExternal(t, { name: 'inbox-bad' });
    const r = await inbox(ws.id, ws.token, query);
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json<{ error: string }>().error).toMatch(message);
  });

  it("C274 a since_id that is not one of this workspace's rows is 410", async () => {
    const ws = await createExternal(t, { name: 'inbox-gone' });
    const r = await inbox(ws.id, ws.token, `?since_id=${randomUUID()}`);
    expect(r.statusCode).toBe(410);
  });

  it("C274 only the workspace's own token reads or answers its inbox: none or a wrong token 401, another workspace's or the admin's 403", async () => {
    const ws = await createExternal(t, { name: 'inbox-auth' });
    const other = await createExternal(t, { name: 'inbox-other' });
    await a2a(ws.id, send('private', { configuration: { blocking: false } }));
    const msg = await firstMessage(ws.id, ws.token);
    const url = `/workspaces/${ws.id}/inbox`;
    expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url, headers: bearer('mol_ws_not-a-real-token') })).statusCode).toBe(401);
    expect((await inbox(ws.id, other.token)).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'GET', url, headers: t.admin })).statusCode).toBe(403);
    expect((await reply(ws.id, other.token, msg.id, { text: 'hijack' })).statusCode).toBe(403);
    const asAdmin = await t.app.inject({ method: 'POST', url: `${url}/${msg.id}/reply`, headers: { ...json, ...t.admin }, payload: JSON.stringify({ text: 'hijack' }) });
    expect(asAdmin.statusCode).toBe(403);
    expect(await receivedRows(ws.id)).toEqual([expect.objectContaining({ id: msg.id, status: 'queued', response_body: null })]);
  });

  it("C274 a reply to a message that is not this agent's is 404 and changes nothing: another workspace's message (with its own token in its own path), an unknown id", async () => {
    const victim = await createExternal(t, { name: 'inbox-victim' });
    const intruder = await createExternal(t, { name: 'inbox-intruder' });
    await a2a(victim.id, send('for the victim only', { configuration: { blocking: false } }));
    const msg = await firstMessage(victim.id, victim.token);
    const foreign = await reply(intruder.id, intruder.token, msg.id, { text: 'not yours' });
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toEqual({ error: "message not found in this workspace's inbox", code: 'not_found' });
    expect((await reply(intruder.id, intruder.token, randomUUID(), { text: 'nothing' })).statusCode).toBe(404);
    expect(await receivedRows(victim.id)).toEqual([expect.objectContaining({ status: 'queued', response_body: null })]);
    expect((await inbox(victim.id, victim.token)).json<Inbox>().messages).toHaveLength(1);
  });

  it.each([
    ['no text', {}, /text/],
    ['an empty text', { text: '   ' }, /text is required/],
    ['a text that is not a string', { text: 42 }, /text must be a string/],
    ['an unknown field', { text: 'ok', status: 'completed' }, /status|unrecognized/i],
    ['an oversize text', { text: 'x'.repeat(100_001) }, /longer than 100000/],
    ['a NUL in the text', { text: 'a\u0000b' }, /NUL/],
    ['malformed JSON', '{"text": ', /JSON|body/i],
  ])('C274 a reply with %s is a 400 and the message stays unanswered', async (_what, payload, message) => {
    const ws = await createExternal(t, { name: 'inbox-bad-reply' });
    await a2a(ws.id, send('answer me', { configuration: { blocking: false } }));
    const msg = await firstMessage(ws.id, ws.token);
    const r = await reply(ws.id, ws.token, msg.id, payload);
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json<{ error: string }>().error).toMatch(message);
    expect(await receivedRows(ws.id)).toEqual([expect.objectContaining({ status: 'queued' })]);
  });

  it('C274 a message id that is not a UUID is a 400; a second reply to the same message is a 409 and the first answer stands', async () => {
    const ws = await createExternal(t, { name: 'inbox-twice' });
    expect((await reply(ws.id, ws.token, 'not-a-uuid', { text: 'x' })).statusCode).toBe(400);
    await a2a(ws.id, send('once', { configuration: { blocking: false } }));
    const msg = await firstMessage(ws.id, ws.token);
    expect((await reply(ws.id, ws.token, msg.id, { text: 'first' })).statusCode).toBe(200);
    const again = await reply(ws.id, ws.token, msg.id, { text: 'second' });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toEqual({ error: 'this message was already answered', code: 'conflict' });
    const [row] = await receivedRows(ws.id);
    expect(JSON.stringify(row!.response_body)).toContain('first');
  });
});
