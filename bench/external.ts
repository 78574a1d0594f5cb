/**
 * bench/external: how fast a message reaches an agent the platform does not run (issue #15), three ways.
 *
 * One platform (the built dist/bin.js, PGlite) and, in this process, a teammate that sends
 * `message/send` through the A2A proxy and three external agents that answer at once:
 * - long-poll: a poll agent reading `GET /workspaces/:id/inbox?wait=30` in a loop and answering with
 *   `POST .../inbox/:message_id/reply`;
 * - socket: an agent with no URL connected over `GET /workspaces/:id/agent-socket` (the runtime's
 *   AgentSocketClient), answering each pushed frame;
 * - URL push: a push agent with a loopback URL (a bare node:http server).
 * Each message is timed from the teammate's send to the moment the agent holds it (sent -> received),
 * one message at a time (BENCH_EXTERNAL_MESSAGES each, default 300, after 30 warm-up ones), printing
 * p50/p99 and the socket/URL ratio (target: within 1.2x) and the long-poll p50 (target < 20 ms).
 * Then BENCH_IDLE_SOCKETS (default 1,000) idle agent sockets, one per external workspace, are opened
 * on the same instance: the platform's RSS before and after, and the delta per socket.
 *
 * Run after a build: `node --import tsx bench/external.ts` (also part of `npm run bench`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { AgentSocketClient } from '@molecule/runtime';
import { api, intEnv, launchPlatform, percentile, pool, print, printTable, runBench, sleep } from './support.js';

const MESSAGES = intEnv('BENCH_EXTERNAL_MESSAGES', 300);
const WARMUP = 30;
const IDLE_SOCKETS = intEnv('BENCH_IDLE_SOCKETS', 1000);
const ADMIN_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const silent = { level: 'silent', fatal() {}, error() {}, warn() {}, info() {}, debug() {}, trace() {}, child: () => silent } as unknown as ConstructorParameters<typeof AgentSocketClient>[0]['log'];

type Ws = { id: string; token: string; headers: Record<string, string> };

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

function answer(request: unknown): { status: number; body: unknown } {
  const id = (request as { id?: unknown }).id ?? null;
  return { status: 200, body: { jsonrpc: '2.0', id, result: { kind: 'message', role: 'agent', messageId: randomUUID(), parts: [{ kind: 'text', text: 'ok' }] } } };
}

await runBench(async () => {
  const { proc, base, dataDir } = await launchPlatform(ADMIN_TOKEN, {}, 'molecule-bench-external-');
  const external = async (name: string): Promise<Ws> => {
    const r = await api(base, 'POST', '/workspaces', AUTH, { name, runtime: 'external' });
    const token = (r.connection as { auth_token: string }).auth_token;
    return { id: r.id as string, token, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } };
  };
  const register = (w: Ws, body: Record<string, unknown>) => api(base, 'POST', '/registry/register', w.headers, { id: w.id, agent_card: { name: 'bench', skills: [] }, ...body });
  const mate = await external('bench-mate');

  // Receipt times, keyed by the A2A messageId the teammate sent.
  const received = new Map<string, number>();
  const note = (request: unknown) => {
    const m = (request as { params?: { message?: { messageId?: string } } }).params?.message?.messageId;
    if (m) received.set(m, performance.now());
  };

  // The three agents.
  const pollAgent = await external('bench-poll');
  await register(pollAgent, { url: '', delivery_mode: 'poll' });
  let polling = true;
  const pollLoop = (async () => {
    let cursor: string | undefined;
    while (polling) {
      const q = `wait=30${cursor ? `&since_id=${cursor}` : ''}`;
      const r = (await api(base, 'GET', `/workspaces/${pollAgent.id}/inbox?${q}`, pollAgent.headers)) as { messages: { id: string; message_id: string | null }[]; cursor: string | null };
      const at = performance.now();
      for (const m of r.messages) {
        if (m.message_id) received.set(m.message_id, at);
        await api(base, 'POST', `/workspaces/${pollAgent.id}/inbox/${m.id}/reply`, pollAgent.headers, { text: 'ok' });
      }
      if (r.cursor) cursor = r.cursor;
    }
  })();

  const socketAgent = await external('bench-socket');
  await register(socketAgent, { url: '', delivery_mode: 'poll' });
  const client = new AgentSocketClient({
    platformUrl: base,
    workspaceId: socketAgent.id,
    token: () => socketAgent.token,
    log: silent,
    handle: async (request) => {
      note(request);
      return answer(request);
    },
  });
  client.start();
  if (!(await client.opened())) throw new Error('the agent socket was refused');

  const pushAgent = await external('bench-push');
  const agentServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = JSON.parse(Buffer.concat(chunks).toString()) as unknown;
      note(request);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer(request).body));
    });
  });
  await new Promise<void>((resolve) => agentServer.listen(0, '127.0.0.1', resolve));
  await register(pushAgent, { url: `http://127.0.0.1:${(agentServer.address() as AddressInfo).port}`, delivery_mode: 'push' });

  const run = async (target: Ws, n: number): Promise<number[]> => {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const messageId = randomUUID();
      const t0 = performance.now();
      const body = { jsonrpc: '2.0', id: messageId, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text: `m${i}` }] } } };
      const r = await api(base, 'POST', `/workspaces/${target.id}/a2a`, mate.headers, body);
      const at = received.get(messageId);
      if (at === undefined || !('result' in r)) throw new Error(`message ${i} to ${target.id} was not received and answered: ${JSON.stringify(r)}`);
      times.push(at - t0);
    }
    return times;
  };

  const rows: [string, number[]][] = [];
  for (const [label, target] of [
    ['long-poll inbox', pollAgent],
    ['outbound socket', socketAgent],
    ['push to a URL', pushAgent],
  ] as const) {
    await run(target, WARMUP);
    rows.push([label, await run(target, MESSAGES)]);
  }
  print(`bench/external: message/send -> held by an external agent, ${MESSAGES} messages one at a time each (after ${WARMUP} warm-up), PGlite platform`);
  printTable(
    ['path', 'p50', 'p99', 'max'],
    rows.map(([label, t]) => [label, `${percentile(t, 50).toFixed(2)} ms`, `${percentile(t, 99).toFixed(2)} ms`, `${Math.max(...t).toFixed(2)} ms`]),
  );
  const p50 = (label: string) => percentile(rows.find(([l]) => l === label)![1], 50);
  const p99 = (label: string) => percentile(rows.find(([l]) => l === label)![1], 99);
  print(`socket / URL push: p50 ${(p50('outbound socket') / p50('push to a URL')).toFixed(2)}x, p99 ${(p99('outbound socket') / p99('push to a URL')).toFixed(2)}x (target within 1.2x)`);
  print(`long-poll p50: ${p50('long-poll inbox').toFixed(2)} ms (target < 20 ms)`);

  polling = false;
  // Wake the long-poll so its loop ends.
  await api(base, 'POST', `/workspaces/${pollAgent.id}/a2a`, AUTH, { jsonrpc: '2.0', id: 'end', method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text: 'end' }] }, configuration: { blocking: false } } });
  await pollLoop;
  client.stop();
  agentServer.close();

  // Idle sockets: one per external workspace, held open by one platform instance.
  const idle: Ws[] = [];
  await pool(
    Array.from({ length: IDLE_SOCKETS }, (_, i) => i),
    16,
    async (i) => {
      idle.push(await external(`bench-idle-${i}`));
    },
  );
  const pid = proc.child.pid!;
  await sleep(1000);
  const before = rssKb(pid);
  const sockets: WebSocket[] = [];
  await pool(idle, 32, async (w) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/workspaces/${w.id}/agent-socket`, { headers: { authorization: `Bearer ${w.token}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`socket refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    sockets.push(ws);
  });
  await sleep(2000);
  const after = rssKb(pid);
  print();
  print(`${sockets.length} idle agent sockets on one instance: platform RSS ${(before / 1024).toFixed(1)} MiB -> ${(after / 1024).toFixed(1)} MiB, ${((after - before) / sockets.length).toFixed(1)} KiB per socket`);
  for (const s of sockets) s.terminate();
  await proc.stop();
  await rm(dataDir, { recursive: true, force: true });
});
