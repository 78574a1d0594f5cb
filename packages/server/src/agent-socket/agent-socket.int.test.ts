import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Status } from '@molecule/contracts';
import { AgentSocketClient } from '@molecule/runtime';
import { createLogger } from '../log.js';
import type { RunningServer } from '../main.js';
import { E2E_ADMIN_TOKEN, httpApi, startE2eServer } from '../test-support/e2e.js';
import { AGENT_SOCKET_REPLACED } from './registry.js';

// Issue #15 scope item 3: an external agent with no URL connects out to the platform and is pushed
// its A2A requests over that socket; a request in flight on a socket that drops is queued and
// delivered once after the agent reconnects.

const AGENT_BIN = fileURLToPath(new URL('../../../runtime/dist/main.js', import.meta.url));
type Json = Record<string, unknown>;

describe('the outbound agent socket end to end (#15)', () => {
  let server: RunningServer;
  const children: ChildProcess[] = [];
  const stops: (() => void)[] = [];

  const { api, external } = httpApi(() => server);
  const socketUrl = (id: string) => `${server.url.replace(/^http/, 'ws')}/workspaces/${id}/agent-socket`;
  /** Opens the agent socket as a raw client: resolves with the open socket, or the HTTP status of the refusal. */
  const open = (id: string, token: string | undefined) =>
    new Promise<WebSocket | number>((resolve) => {
      const ws = new WebSocket(socketUrl(id), { headers: token ? { authorization: `Bearer ${token}` } : {} });
      ws.on('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('error', () => undefined);
      ws.once('open', () => resolve(ws));
    });
  const send = (target: string, token: string, text: string, messageId = randomUUID()) =>
    api('POST', `/workspaces/${target}/a2a`, { jsonrpc: '2.0', id: messageId, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text }] } } }, { authorization: `Bearer ${token}` });
  const replyText = (body: Json) => JSON.stringify(body.result ?? body);

  beforeAll(async () => {
    ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'none', MOLECULE_ENABLE_TEST_TOKENS: '1' }, 'agent-socket-e2e-'));
  }, 60_000);
  afterAll(async () => {
    for (const s of stops) s();
    for (const c of children) c.kill('SIGTERM');
    await server?.close();
  });

  it("refuses before the upgrade: no token or a wrong one 401, a revoked one 401, another workspace's 403, the admin's 403, a workspace that is not external 409, a plain GET 426", async () => {
    const a = await external('sock-refusals');
    const b = await external('sock-other');
    expect(await open(a.id, undefined)).toBe(401);
    expect(await open(a.id, 'mol_ws_not-a-real-token')).toBe(401);
    expect(await open(a.id, b.token)).toBe(403);
    expect(await open(a.id, E2E_ADMIN_TOKEN)).toBe(403);

    const minted = await api('POST', `/workspaces/${a.id}/tokens`, {});
    expect(minted.status).toBe(201);
    expect((await api('DELETE', `/workspaces/${a.id}/tokens/${minted.body.id as string}`)).status).toBe(200);
    expect(await open(a.id, minted.body.auth_token as string)).toBe(401);

    const internal = await api('POST', '/workspaces', { name: 'sock-internal' });
    expect(internal.status).toBe(201);
    const token = (await api('GET', `/admin/workspaces/${internal.body.id as string}/test-token`)).body.auth_token as string;
    expect(await open(internal.body.id as string, token)).toBe(409);

    const plain = await fetch(socketUrl(a.id).replace(/^ws/, 'http'), { headers: { authorization: `Bearer ${a.token}` } });
    expect(plain.status).toBe(426);
    expect(server.deps.a2a.sockets.has(a.id) || server.deps.a2a.sockets.has(internal.body.id as string)).toBe(false);
  });

  it('a second socket for one workspace wins; the older is closed with code 4000 and a reason', async () => {
    const a = await external('sock-twice');
    const first = await open(a.id, a.token);
    if (typeof first === 'number') throw new Error(`refused ${first}`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => first.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
    const second = await open(a.id, a.token);
    if (typeof second === 'number') throw new Error(`refused ${second}`);
    expect(await closed).toEqual({ code: AGENT_SOCKET_REPLACED.code, reason: AGENT_SOCKET_REPLACED.reason });
    // The newer socket is the one requests go to.
    second.on('message', (data) => {
      const f = JSON.parse(String(data)) as { id: string };
      second.send(JSON.stringify({ type: 'a2a_response', id: f.id, body: { jsonrpc: '2.0', id: 1, result: { kind: 'message', role: 'agent', messageId: randomUUID(), parts: [{ kind: 'text', text: 'from the newer socket' }] } } }));
    });
    await api('POST', '/registry/register', { id: a.id, url: '', agent_card: { name: 'raw', skills: [] }, delivery_mode: 'poll' }, { authorization: `Bearer ${a.token}` });
    const mate = await external('sock-twice-mate');
    const r = await send(a.id, mate.token, 'hello');
    expect(r.status).toBe(200);
    expect(replyText(r.body)).toContain('from the newer socket');
    second.close();
  });

  it("molecule-agent --connect with NO URL comes online and a teammate's message/send completes over the socket", async () => {
    const agent = await external('connect-agent');
    const mate = await external('connect-mate');
    const child = spawn(process.execPath, [AGENT_BIN, '--connect'], {
      env: {
        PATH: process.env.PATH ?? '',
        WORKSPACE_ID: agent.id,
        PLATFORM_URL: server.url,
        MOLECULE_WORKSPACE_TOKEN: agent.token,
        MOLECULE_CONFIGS_DIR: await mkdtemp(path.join(os.tmpdir(), 'connect-agent-')),
        MOLECULE_WORKSPACE_DIR: await mkdtemp(path.join(os.tmpdir(), 'connect-agent-ws-')),
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(child);
    await expect.poll(async () => (await api('GET', `/workspaces/${agent.id}`)).body.status, { timeout: 20_000, interval: 100 }).toBe(Status.Online);
    await expect.poll(() => server.deps.a2a.sockets.has(agent.id), { timeout: 20_000, interval: 50 }).toBe(true);
    const row = (await api('GET', `/workspaces/${agent.id}`)).body;
    expect(row.url ?? '').toBe('');

    const r = await send(agent.id, mate.token, 'over the socket');
    expect(r.status).toBe(200);
    expect(replyText(r.body)).toContain('over the socket');
  }, 60_000);

  it('a socket that drops mid-request: the request is queued and delivered once after the runtime client reconnects', async () => {
    const agent = await external('drop-agent');
    const mate = await external('drop-mate');
    const seen: string[] = [];
    let first = true;
    const client = new AgentSocketClient({
      platformUrl: server.url,
      workspaceId: agent.id,
      token: () => agent.token,
      log: createLogger({ level: 'silent', pretty: false }),
      backoff: { initialMs: 50, maxMs: 200 },
      handle: async (request) => {
        const rpc = request as { id: unknown; params: { message: { messageId: string; parts: { text: string }[] } } };
        seen.push(rpc.params.message.messageId);
        if (first) {
          first = false;
          // Never answered: the socket is taken over (below) while this request is in flight.
          return new Promise(() => undefined);
        }
        return { status: 200, body: { jsonrpc: '2.0', id: rpc.id, result: { kind: 'message', role: 'agent', messageId: randomUUID(), parts: [{ kind: 'text', text: `done: ${rpc.params.message.parts[0]!.text}` }] } } };
      },
    });
    stops.push(() => client.stop());
    client.start();
    expect(await client.opened()).toBe(true);
    expect((await api('POST', '/registry/register', { id: agent.id, url: '', agent_card: { name: 'client', skills: [] }, delivery_mode: 'poll' }, { authorization: `Bearer ${agent.token}` })).status).toBe(200);

    const messageId = randomUUID();
    const pending = send(agent.id, mate.token, 'survive the drop', messageId);
    await expect.poll(() => seen.length, { timeout: 10_000, interval: 20 }).toBe(1);
    // Another connection of the agent takes over: the client's socket closes with the request in flight.
    const usurper = await open(agent.id, agent.token);
    if (typeof usurper === 'number') throw new Error(`refused ${usurper}`);
    const r = await pending;
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ queued: true });
    const queueId = r.body.queue_id as string;
    // The usurper leaves; the client reconnects and the queue delivers the request to it, once.
    usurper.close();
    await expect
      .poll(async () => (await api('GET', `/workspaces/${agent.id}/a2a/queue/${queueId}`)).body.status, { timeout: 20_000, interval: 100 })
      .toBe('completed');
    expect(seen).toEqual([messageId, messageId]);
    // A retry of the same messageId is answered from the queue, not sent again.
    const again = await send(agent.id, mate.token, 'survive the drop', messageId);
    expect(replyText(again.body)).toContain('done: survive the drop');
    expect(seen).toHaveLength(2);
  }, 60_000);

  it('tasks/cancel reaches the agent as its own a2a_request; a request the platform gives up on (idle timeout) is followed by a2a_cancel with its id', async () => {
    const agent = await external('cancel-agent');
    const mate = await external('cancel-mate');
    const ws = await open(agent.id, agent.token);
    if (typeof ws === 'number') throw new Error(`refused ${ws}`);
    const frames: { type: string; id: string; request?: { id: unknown; method: string } }[] = [];
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as (typeof frames)[number];
      frames.push(f);
      // The agent answers tasks/cancel at once and sits on everything else.
      if (f.type === 'a2a_request' && f.request?.method === 'tasks/cancel') {
        ws.send(JSON.stringify({ type: 'a2a_response', id: f.id, body: { jsonrpc: '2.0', id: f.request.id, result: { id: 'task-1', kind: 'task', status: { state: 'canceled' } } } }));
      }
    });
    await api('POST', '/registry/register', { id: agent.id, url: '', agent_card: { name: 'raw', skills: [] }, delivery_mode: 'poll' }, { authorization: `Bearer ${agent.token}` });

    const cancel = await api('POST', `/workspaces/${agent.id}/a2a`, { jsonrpc: '2.0', id: 'c1', method: 'tasks/cancel', params: { id: 'task-1' } }, { authorization: `Bearer ${mate.token}` });
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ id: 'c1', result: { status: { state: 'canceled' } } });
    expect(frames[0]).toMatchObject({ type: 'a2a_request', request: { method: 'tasks/cancel' } });

    const messageId = randomUUID();
    const r = await api(
      'POST',
      `/workspaces/${agent.id}/a2a`,
      { jsonrpc: '2.0', id: messageId, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text: 'take your time' }] } } },
      { authorization: `Bearer ${mate.token}`, 'x-timeout': '1' },
    );
    // The idle timeout passed: busy, queued (C043), and the agent is told to stop.
    expect(r.status).toBe(202);
    const sent = frames.find((f) => f.type === 'a2a_request' && f.request?.method === 'message/send');
    expect(sent).toBeDefined();
    await expect.poll(() => frames.some((f) => f.type === 'a2a_cancel' && f.id === sent!.id), { timeout: 5_000, interval: 20 }).toBe(true);
    ws.close();
  });
});
