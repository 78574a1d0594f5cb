/**
 * bench/a2a-queue's target, run as a child process: a plain node:http agent on loopback speaking the
 * JSON-RPC shape molecule-agent speaks, with BUSY_SLOTS task slots.
 *
 * - `POST /` (or `/a2a`) `message/send`: with a free slot, holds it for a random 0..BUSY_TASK_MAX_MS
 *   ms, then answers a v0.3 completed task; with none, HTTP 503 and the JSON-RPC busy error
 *   (A2A_BUSY_CODE, `data.busy: true`), as molecule-agent refuses.
 * - It records when each task was taken (with its messageId) and when each slot freed, every
 *   messageId it completed, and how many requests it refused; `GET /stats` returns them. Times are
 *   epoch ms (performance.timeOrigin + performance.now(), comparable with the bench's own) and come
 *   from one process, so "slot freed -> next task arrived" is exact.
 * - It registers with the platform (push delivery, its own URL) using WORKSPACE_ID, PLATFORM_URL and
 *   MOLECULE_WORKSPACE_TOKEN, then heartbeats every HEARTBEAT_MS with its active task count, as an
 *   agent does (a beat with a free slot also starts a queue drain).
 *
 * Reads PORT; prints "ready" once registered.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { A2A_BUSY_CODE } from '@molecule/contracts';

const port = Number(process.env.PORT);
const slots = Number(process.env.BUSY_SLOTS ?? 2);
const taskMaxMs = Number(process.env.BUSY_TASK_MAX_MS ?? 20);
const heartbeatMs = Number(process.env.HEARTBEAT_MS ?? 3000);
const platform = process.env.PLATFORM_URL!;
const workspaceId = process.env.WORKSPACE_ID!;
const token = process.env.MOLECULE_WORKSPACE_TOKEN!;

/** [time, messageId] for a taken task, [time] for a freed slot, in the order they happened. */
type Event = [number, string] | [number];
const events: Event[] = [];
const completed: string[] = [];
let refused = 0;
let inFlight = 0;
const started = performance.now();
const now = () => performance.timeOrigin + performance.now();

function answer(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function onMessage(res: http.ServerResponse, rpc: { id?: unknown; method?: unknown; params?: { message?: { messageId?: unknown; contextId?: unknown } } }): void {
  const id = rpc.id ?? null;
  const messageId = rpc.params?.message?.messageId;
  if (rpc.method !== 'message/send' || typeof messageId !== 'string') {
    answer(res, 400, { jsonrpc: '2.0', id, error: { code: -32601, message: 'this agent only answers message/send with a messageId' } });
    return;
  }
  if (inFlight >= slots) {
    refused++;
    answer(res, 503, {
      jsonrpc: '2.0',
      id,
      error: { code: A2A_BUSY_CODE, message: `agent busy: all ${slots} task slot(s) in use; retry later`, data: { busy: true, active_tasks: inFlight, max_concurrent_tasks: slots } },
    });
    return;
  }
  inFlight++;
  events.push([now(), messageId]);
  setTimeout(() => {
    completed.push(messageId);
    const taskId = randomUUID();
    const contextId = typeof rpc.params?.message?.contextId === 'string' ? rpc.params.message.contextId : randomUUID();
    events.push([now()]);
    inFlight--;
    answer(res, 200, {
      jsonrpc: '2.0',
      id,
      result: {
        kind: 'task',
        id: taskId,
        contextId,
        status: { state: 'completed', timestamp: new Date().toISOString(), message: { kind: 'message', role: 'agent', messageId: randomUUID(), parts: [{ kind: 'text', text: 'done' }] } },
      },
    });
  }, Math.random() * taskMaxMs);
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    answer(res, 200, { events, completed, refused, in_flight: inFlight });
    return;
  }
  if (req.method !== 'POST' || (req.url !== '/' && req.url !== '/a2a')) {
    answer(res, 404, { error: 'not found' });
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let rpc: unknown;
    try {
      rpc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      answer(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'invalid JSON' } });
      return;
    }
    onMessage(res, rpc as Parameters<typeof onMessage>[1]);
  });
});

const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

async function post(path: string, body: unknown): Promise<void> {
  const res = await fetch(`${platform}${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path} answered ${res.status}: ${text}`);
}

server.listen(port, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${port}`;
  post('/registry/register', { id: workspaceId, url, agent_card: { name: 'busy-bench', url, version: '1.0.0' }, delivery_mode: 'push' }).then(
    () => {
      process.stdout.write('ready\n');
      setInterval(() => {
        const beat = { workspace_id: workspaceId, active_tasks: inFlight, uptime_seconds: Math.floor((performance.now() - started) / 1000) };
        post('/registry/heartbeat', beat).catch((err: unknown) => process.stderr.write(`heartbeat failed: ${String(err)}\n`));
      }, heartbeatMs);
    },
    (err: unknown) => {
      process.stderr.write(`register failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
});

const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
