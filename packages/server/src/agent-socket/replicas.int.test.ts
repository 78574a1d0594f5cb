import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AgentSocketClient } from '@molecule/runtime';
import { createPostgresDb } from '../db/postgres.js';
import type { AppDeps } from '../deps.js';
import type { EventBus } from '../events/bus.js';
import { createRedisBus } from '../events/redis-bus.js';
import { buildApp } from '../http/app.js';
import type { App } from '../http/types.js';
import { createRedisLiveness } from '../liveness/redis.js';
import { createLogger } from '../log.js';
import { assembleDeps } from '../main.js';
import { migratedDb, requireServiceUrl, testConfig, type TestDb } from '../test-support/harness.js';
import { AGENT_SOCKET_REPLACED } from './registry.js';
import { SocketRelay } from './relay.js';

// Issue #15, gap 1: an agent's outbound socket held by one replica serves requests that reach any
// replica. Two apps in one process, each with its own pool, bus, liveness and relay connections,
// on one PostgreSQL and one Redis, as two platform processes would be.

const redisUrl = requireServiceUrl('TEST_REDIS_URL');
requireServiceUrl('TEST_DATABASE_URL');
type Json = Record<string, unknown>;

interface Replica {
  name: string;
  app: App;
  deps: AppDeps;
  bus: EventBus;
  relay: SocketRelay;
  url: string;
}

describe('the agent socket across two replicas (#15)', () => {
  let tdb: TestDb;
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  const admin = { authorization: `Bearer ${adminToken}` };
  const namespace = `molecule:test:agent-socket:${randomUUID()}`;
  const channel = `molecule:test:${randomUUID()}`;
  const replicas: Replica[] = [];
  const stops: (() => void)[] = [];

  const startReplica = async (name: string): Promise<Replica> => {
    const bus = await createRedisBus({ url: redisUrl, channel });
    const liveness = await createRedisLiveness({ url: redisUrl, namespace: `${namespace}:liveness` });
    const relay = await SocketRelay.connect({ url: redisUrl, namespace, watchMs: 100 });
    const deps = assembleDeps({
      config: testConfig(),
      db: createPostgresDb({ url: tdb.url!, max: 5 }),
      bus,
      log: createLogger({ level: 'silent', pretty: false }),
      adminToken,
      defaultMetrics: false,
      liveness,
      socketRelay: relay,
    });
    const app = await buildApp(deps);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const r = { name, app, deps, bus, relay, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
    replicas.push(r);
    return r;
  };
  const stopReplica = async (r: Replica) => {
    await r.app.close();
    await r.deps.a2a.close();
    await r.deps.liveness.close();
    await r.bus.close();
    await r.deps.db.close();
  };

  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    tdb = await migratedDb('postgres');
    a = await startReplica('A');
    b = await startReplica('B');
  });
  afterAll(async () => {
    for (const s of stops) s();
    for (const r of replicas) await stopReplica(r).catch(() => undefined);
    await tdb?.drop();
  });

  const api = async (r: Replica, method: string, url: string, body?: unknown, headers: Record<string, string> = admin) => {
    const res = await fetch(`${r.url}${url}`, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Json };
  };
  /** An external workspace whose agent registered with no URL (poll), as `molecule-agent --connect` does. */
  const connectedAgent = async (name: string) => {
    const r = await api(a, 'POST', '/workspaces', { name, runtime: 'external' });
    expect(r.status).toBe(201);
    const w = { id: r.body.id as string, token: (r.body.connection as { auth_token: string }).auth_token };
    const reg = await api(a, 'POST', '/registry/register', { id: w.id, url: '', agent_card: { name, skills: [] }, delivery_mode: 'poll' }, { authorization: `Bearer ${w.token}` });
    expect(reg.status).toBe(200);
    return w;
  };
  const teammate = async (name: string) => {
    const r = await api(b, 'POST', '/workspaces', { name, runtime: 'external' });
    expect(r.status).toBe(201);
    return { id: r.body.id as string, token: (r.body.connection as { auth_token: string }).auth_token };
  };
  const open = (r: Replica, id: string, token: string) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${r.url.replace(/^http/, 'ws')}/workspaces/${id}/agent-socket`, { headers: { authorization: `Bearer ${token}` } });
      ws.on('unexpected-response', (_req, res) => reject(new Error(`refused ${res.statusCode ?? 0}`)));
      ws.once('error', reject);
      ws.once('open', () => resolve(ws));
    });
  /** Answers every pushed request on `ws` with "<label>: <text>". */
  const answering = (ws: WebSocket, label: string) =>
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as { type: string; id: string; request: { id: unknown; params: { message: { parts: { text: string }[] } } } };
      if (f.type !== 'a2a_request') return;
      const text = `${label}: ${f.request.params.message.parts[0]!.text}`;
      ws.send(JSON.stringify({ type: 'a2a_response', id: f.id, body: { jsonrpc: '2.0', id: f.request.id, result: { kind: 'message', role: 'agent', messageId: randomUUID(), parts: [{ kind: 'text', text }] } } }));
    });
  const send = (r: Replica, target: string, token: string, text: string, messageId = randomUUID()) =>
    api(r, 'POST', `/workspaces/${target}/a2a`, { jsonrpc: '2.0', id: messageId, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text }] } } }, { authorization: `Bearer ${token}` });
  const held = async (id: string) => {
    const redis = new Redis(redisUrl);
    try {
      return await redis.get(`${namespace}:holder:${id}`);
    } finally {
      redis.disconnect();
    }
  };

  it("an agent connected to replica A answers a teammate's message/send that reached replica B", async () => {
    const agent = await connectedAgent('across-agent');
    const mate = await teammate('across-mate');
    const ws = await open(a, agent.id, agent.token);
    answering(ws, 'agent on A');
    await expect.poll(() => held(agent.id), { timeout: 5_000, interval: 20 }).toMatch(new RegExp(`^${a.relay.replicaId}/`));
    expect(b.deps.a2a.sockets.has(agent.id)).toBe(false);

    const r = await send(b, agent.id, mate.token, 'hello across');
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body.result)).toContain('agent on A: hello across');
    // B, which received the call, logged the exchange as usual: the teammate's a2a_send row is there.
    await expect
      .poll(async () => (await tdb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'a2a_send' AND target_id = $2`, [mate.id, agent.id])).rows[0]!.n, { timeout: 5_000, interval: 50 })
      .toBe(1);

    // The socket closes: its claim goes, and B no longer forwards (the message waits in the inbox).
    ws.close();
    await expect.poll(() => held(agent.id), { timeout: 5_000, interval: 20 }).toBeNull();
    const later = await api(b, 'POST', `/workspaces/${agent.id}/a2a`, { jsonrpc: '2.0', id: 1, method: 'message/send', params: { configuration: { blocking: false }, message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text: 'into the inbox' }] } } }, { authorization: `Bearer ${mate.token}` });
    expect(later.status).toBe(200);
    expect(later.body).toMatchObject({ status: 'queued', delivery_mode: 'poll' });
  });

  it('a newer socket on replica B replaces the one on A (code 4000 and its reason); requests through A then go to B', async () => {
    const agent = await connectedAgent('replace-agent');
    const mate = await teammate('replace-mate');
    const older = await open(a, agent.id, agent.token);
    answering(older, 'older');
    await expect.poll(() => held(agent.id), { timeout: 5_000, interval: 20 }).toMatch(new RegExp(`^${a.relay.replicaId}/`));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => older.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
    const newer = await open(b, agent.id, agent.token);
    answering(newer, 'newer');
    expect(await closed).toEqual({ code: AGENT_SOCKET_REPLACED.code, reason: AGENT_SOCKET_REPLACED.reason });
    await expect.poll(() => a.deps.a2a.sockets.has(agent.id), { timeout: 5_000, interval: 20 }).toBe(false);
    expect(await held(agent.id)).toMatch(new RegExp(`^${b.relay.replicaId}/`));

    const r = await send(a, agent.id, mate.token, 'which one');
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body.result)).toContain('newer: which one');
    newer.close();
  });

  it('the socket drops during a forwarded request: the request is queued (socket_lost) and delivered once after the agent reconnects', async () => {
    const agent = await connectedAgent('drop-agent');
    const mate = await teammate('drop-mate');
    const first = await open(a, agent.id, agent.token);
    const received = new Promise<void>((resolve) => first.once('message', () => resolve()));
    await expect.poll(() => held(agent.id), { timeout: 5_000, interval: 20 }).toMatch(new RegExp(`^${a.relay.replicaId}/`));

    const messageId = randomUUID();
    const pending = send(b, agent.id, mate.token, 'survive the drop', messageId);
    await received;
    // The agent's connection dies with the request in flight (no close handshake).
    first.terminate();
    const r = await pending;
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ queued: true });
    const queueId = r.body.queue_id as string;

    const seen: string[] = [];
    const client = new AgentSocketClient({
      platformUrl: a.url,
      workspaceId: agent.id,
      token: () => agent.token,
      log: createLogger({ level: 'silent', pretty: false }),
      backoff: { initialMs: 50, maxMs: 200 },
      handle: async (request) => {
        const rpc = request as { id: unknown; params: { message: { messageId: string; parts: { text: string }[] } } };
        seen.push(rpc.params.message.messageId);
        return { status: 200, body: { jsonrpc: '2.0', id: rpc.id, result: { kind: 'message', role: 'agent', messageId: randomUUID(), parts: [{ kind: 'text', text: `done: ${rpc.params.message.parts[0]!.text}` }] } } };
      },
    });
    stops.push(() => client.stop());
    client.start();
    expect(await client.opened()).toBe(true);
    await expect.poll(async () => (await api(b, 'GET', `/workspaces/${agent.id}/a2a/queue/${queueId}`)).body.status, { timeout: 20_000, interval: 100 }).toBe('completed');
    expect(seen).toEqual([messageId]);
    // A retry through either replica is answered from the queue, not sent again.
    const again = await send(a, agent.id, mate.token, 'survive the drop', messageId);
    expect(JSON.stringify(again.body)).toContain('done: survive the drop');
    expect(seen).toHaveLength(1);
    client.stop();
  }, 30_000);

  it('the holding replica vanishes mid-request: the request fails as socket_lost and is queued, not left waiting', async () => {
    const c = await startReplica('C');
    const agent = await connectedAgent('vanish-agent');
    const mate = await teammate('vanish-mate');
    const ws = await open(c, agent.id, agent.token);
    ws.on('error', () => undefined);
    const received = new Promise<void>((resolve) => ws.once('message', () => resolve()));
    await expect.poll(() => held(agent.id), { timeout: 5_000, interval: 20 }).toMatch(new RegExp(`^${c.relay.replicaId}/`));
    const pending = send(b, agent.id, mate.token, 'into the void');
    await received;
    // C's Redis connections go away as a killed process's would; its claim stays until the TTL passes.
    await c.relay.close();
    const r = await pending;
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ queued: true });
    await stopReplica(c);
  }, 30_000);

  it('a malformed message on a replica channel is ignored and forwarding still works', async () => {
    const agent = await connectedAgent('garbage-agent');
    const mate = await teammate('garbage-mate');
    const ws = await open(a, agent.id, agent.token);
    answering(ws, 'still here');
    await expect.poll(() => held(agent.id), { timeout: 5_000, interval: 20 }).toMatch(new RegExp(`^${a.relay.replicaId}/`));
    const redis = new Redis(redisUrl);
    for (const junk of ['not json', '[]', '{"t":"req"}', '{"t":"res","id":"x","status":"200"}', '{"t":"replace","ws":"","socket":"x"}', '{"t":"nope"}']) {
      await redis.publish(`${namespace}:replica:${a.relay.replicaId}`, junk);
    }
    redis.disconnect();
    const r = await send(b, agent.id, mate.token, 'after junk');
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body.result)).toContain('still here: after junk');
    expect(a.deps.a2a.sockets.has(agent.id)).toBe(true);
    ws.close();
  });

  it('a forwarded request the receiving replica gives up on (idle timeout) reaches the agent on the holder as a2a_cancel', async () => {
    const agent = await connectedAgent('cancel-agent');
    const mate = await teammate('cancel-mate');
    const ws = await open(a, agent.id, agent.token);
    const frames: { type: string; id: string }[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(String(data)) as { type: string; id: string }));
    await expect.poll(() => held(agent.id), { timeout: 5_000, interval: 20 }).toMatch(new RegExp(`^${a.relay.replicaId}/`));
    const messageId = randomUUID();
    const r = await api(
      b,
      'POST',
      `/workspaces/${agent.id}/a2a`,
      { jsonrpc: '2.0', id: messageId, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text: 'slow' }] } } },
      { authorization: `Bearer ${mate.token}`, 'x-timeout': '1' },
    );
    expect(r.status).toBe(202);
    const request = frames.find((f) => f.type === 'a2a_request');
    expect(request).toBeDefined();
    await expect.poll(() => frames.some((f) => f.type === 'a2a_cancel' && f.id === request!.id), { timeout: 5_000, interval: 20 }).toBe(true);
    ws.close();
  });

  it("a claim left by a replica that was killed (nobody on its channel): the request is queued as socket_lost, the stale claim is dropped, and the next message goes to the agent's inbox", async () => {
    const agent = await connectedAgent('killed-holder-agent');
    const mate = await teammate('killed-holder-mate');
    const redis = new Redis(redisUrl);
    // What a SIGKILLed holder leaves: its claim, with its TTL still running, and no subscriber.
    await redis.set(`${namespace}:holder:${agent.id}`, `${randomUUID()}/${randomUUID()}`, 'PX', 60_000);
    const r = await send(b, agent.id, mate.token, 'to a dead replica');
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ queued: true });
    await expect.poll(() => held(agent.id), { timeout: 5_000, interval: 20 }).toBeNull();
    redis.disconnect();
    const next = await api(b, 'POST', `/workspaces/${agent.id}/a2a`, { jsonrpc: '2.0', id: 1, method: 'message/send', params: { configuration: { blocking: false }, message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text: 'inbox please' }] } } }, { authorization: `Bearer ${mate.token}` });
    expect(next.body).toMatchObject({ status: 'queued', delivery_mode: 'poll' });
  });
});
