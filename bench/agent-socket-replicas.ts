/**
 * bench/agent-socket-replicas: what forwarding costs when an agent's outbound socket is held by
 * another replica (issue #15).
 *
 * Two platform processes (the built dist/bin.js) on one PostgreSQL and one Redis; an external agent
 * with no URL connects its socket (the runtime's AgentSocketClient) to replica A and answers at once.
 * A teammate sends `message/send` one at a time (BENCH_SOCKET_MESSAGES, default 300, after 30
 * warm-up ones) through replica A (the socket is local) and through replica B (forwarded to A over
 * Redis pub/sub), timing each whole round trip; prints p50/p99 and the forwarded/local ratio.
 * Needs TEST_DATABASE_URL and TEST_REDIS_URL (scripts/bench.sh starts both).
 *
 * Run after a build: `node --import tsx bench/agent-socket-replicas.ts`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { AgentSocketClient } from '@molecule/runtime';
import { api, intEnv, launchPlatform, percentile, print, printTable, runBench, withBenchPostgres } from './support.js';

const MESSAGES = intEnv('BENCH_SOCKET_MESSAGES', 300);
const WARMUP = 30;
const ADMIN_TOKEN = `bench-${randomBytes(16).toString('hex')}`;
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const silent = { level: 'silent', fatal() {}, error() {}, warn() {}, info() {}, debug() {}, trace() {}, child: () => silent } as unknown as ConstructorParameters<typeof AgentSocketClient>[0]['log'];

await runBench(async () => {
  if (!process.env.TEST_REDIS_URL) {
    print('TEST_REDIS_URL is not set: skipping (forwarding needs Redis; scripts/bench.sh starts one)');
    return;
  }
  await withBenchPostgres(async ({ env }) => {
    const a = await launchPlatform(ADMIN_TOKEN, env, 'molecule-bench-sock-a-');
    const b = await launchPlatform(ADMIN_TOKEN, env, 'molecule-bench-sock-b-');
    const external = async (name: string) => {
      const r = await api(a.base, 'POST', '/workspaces', AUTH, { name, runtime: 'external' });
      const token = (r.connection as { auth_token: string }).auth_token;
      return { id: r.id as string, token, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } };
    };
    const agent = await external('bench-socket-agent');
    const mate = await external('bench-socket-mate');
    await api(a.base, 'POST', '/registry/register', agent.headers, { id: agent.id, url: '', agent_card: { name: 'bench', skills: [] }, delivery_mode: 'poll' });
    const client = new AgentSocketClient({
      platformUrl: a.base,
      workspaceId: agent.id,
      token: () => agent.token,
      log: silent,
      handle: async (request) => {
        const id = (request as { id?: unknown }).id ?? null;
        return { status: 200, body: { jsonrpc: '2.0', id, result: { kind: 'message', role: 'agent', messageId: randomUUID(), parts: [{ kind: 'text', text: 'ok' }] } } };
      },
    });
    client.start();
    if (!(await client.opened())) throw new Error('the agent socket was refused');

    const run = async (base: string, n: number): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const messageId = randomUUID();
        const body = { jsonrpc: '2.0', id: messageId, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text: `m${i}` }] } } };
        const t0 = performance.now();
        const r = await api(base, 'POST', `/workspaces/${agent.id}/a2a`, mate.headers, body);
        times.push(performance.now() - t0);
        if (!('result' in r)) throw new Error(`message ${i} through ${base} was not answered: ${JSON.stringify(r)}`);
      }
      return times;
    };
    const rows: [string, number[]][] = [];
    for (const [label, base] of [
      ['socket on this replica', a.base],
      ['socket on the other replica (forwarded)', b.base],
    ] as const) {
      await run(base, WARMUP);
      rows.push([label, await run(base, MESSAGES)]);
    }
    print(`bench/agent-socket-replicas: message/send round trip to an agent connected to replica A, ${MESSAGES} messages one at a time each (after ${WARMUP} warm-up), PostgreSQL + Redis`);
    printTable(
      ['path', 'p50', 'p99', 'max'],
      rows.map(([label, t]) => [label, `${percentile(t, 50).toFixed(2)} ms`, `${percentile(t, 99).toFixed(2)} ms`, `${Math.max(...t).toFixed(2)} ms`]),
    );
    const [local, forwarded] = rows.map(([, t]) => t) as [number[], number[]];
    print(`forwarded / local: p50 ${(percentile(forwarded, 50) / percentile(local, 50)).toFixed(2)}x, p99 ${(percentile(forwarded, 99) / percentile(local, 99)).toFixed(2)}x`);
    client.stop();
  });
});
