import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RunningServer } from '../main.js';
import { httpApi, startE2eServer } from '../test-support/e2e.js';

// Issue #15, gap 2: a message queued for a poll agent (no URL) because its socket dropped with the
// message in flight waits MOLECULE_AGENT_SOCKET_GRACE_SECONDS for the socket to come back; with no
// socket after that, the queue hands it to the agent's poll inbox (the agent may have gone back to
// polling), once, and the agent's reply there completes the queued item.


describe('a poll agent whose socket did not come back gets its queued messages in its inbox (#15)', () => {
  let server: RunningServer;
  const { api, external } = httpApi(() => server);

  beforeAll(async () => {
    ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'none', MOLECULE_AGENT_SOCKET_GRACE_SECONDS: '1' }, 'poll-fallback-e2e-'));
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  it('the dropped request goes to the inbox after the grace, once; the reply there completes the queue item', async () => {
    const agent = await external('fallback-agent');
    const mate = await external('fallback-mate');
    const asAgent = { authorization: `Bearer ${agent.token}` };
    expect((await api('POST', '/registry/register', { id: agent.id, url: '', agent_card: { name: 'fallback', skills: [] }, delivery_mode: 'poll' }, asAgent)).status).toBe(200);
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/workspaces/${agent.id}/agent-socket`, { headers: asAgent });
    ws.on('error', () => undefined);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', reject);
    });
    const received = new Promise<void>((resolve) => ws.once('message', () => resolve()));

    const messageId = randomUUID();
    const pending = api('POST', `/workspaces/${agent.id}/a2a`, { jsonrpc: '2.0', id: messageId, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text: 'are you there?' }] } } }, { authorization: `Bearer ${mate.token}` });
    await received;
    // The socket dies with the request in flight and the agent does not connect again.
    ws.terminate();
    const r = await pending;
    expect(r.status).toBe(202);
    const queueId = r.body.queue_id as string;

    // The agent keeps beating (it polls now): a beat with a free slot lets the queue try again; once
    // the grace passed, the message is in the inbox.
    const inbox = async () => (await api('GET', `/workspaces/${agent.id}/inbox?wait=0`, undefined, asAgent)).body.messages as { id: string; message_id: string | null; text: string }[];
    await expect
      .poll(
        async () => {
          await api('POST', '/registry/heartbeat', { workspace_id: agent.id, active_tasks: 0 }, asAgent);
          return (await inbox()).map((m) => m.message_id);
        },
        { timeout: 20_000, interval: 200 },
      )
      .toEqual([messageId]);
    const [message] = await inbox();
    expect(message!.text).toBe('are you there?');

    expect((await api('POST', `/workspaces/${agent.id}/inbox/${message!.id}/reply`, { text: 'back on polling' }, asAgent)).status).toBe(200);
    await expect.poll(async () => (await api('GET', `/workspaces/${agent.id}/a2a/queue/${queueId}`)).body.status, { timeout: 10_000, interval: 100 }).toBe('completed');
    const item = (await api('GET', `/workspaces/${agent.id}/a2a/queue/${queueId}`)).body;
    expect(JSON.stringify(item)).toContain('back on polling');
    // Delivered once: more passes add nothing to the inbox.
    await server.deps.a2a.drainer.sweep(server.deps.db);
    await server.deps.a2a.drainer.idle();
    expect(await inbox()).toEqual([]);
    const rows = await server.deps.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'a2a_receive' AND request_body->'params'->'message'->>'messageId' = $2 AND status <> 'busy'`, [agent.id, messageId]);
    // One inbox row (the socket attempt logged its own row as busy).
    expect(rows.rows[0]!.n).toBe(1);
  }, 60_000);
});
