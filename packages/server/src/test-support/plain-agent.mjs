// A plain A2A agent, not molecule-agent: v0.3 JSON-RPC over node:http, no busy answer of its own,
// no idempotency by messageId. Every `message/send` goes quiet for HANG_MS, then answers
// "done: <text>". It registers as the external workspace WORKSPACE_ID (bearer TOKEN) at
// PLATFORM_URL, heartbeats its active task count every BEAT_MS, prints `ready <url>` on stdout once
// registered, and lists the messageIds it received at `GET /received` (for tests).
import { randomUUID } from 'node:crypto';
import http from 'node:http';

const { PLATFORM_URL, WORKSPACE_ID, TOKEN } = process.env;
const HANG_MS = Number(process.env.HANG_MS ?? 3000);
const BEAT_MS = Number(process.env.BEAT_MS ?? 1000);
const startedAt = Date.now();
let active = 0;
const received = [];

const platform = (path, body) =>
  fetch(`${PLATFORM_URL}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
const beat = () =>
  platform('/registry/heartbeat', {
    workspace_id: WORKSPACE_ID,
    error_rate: 0,
    sample_error: '',
    active_tasks: active,
    current_task: active > 0 ? 'working' : '',
    uptime_seconds: Math.floor((Date.now() - startedAt) / 1000),
    runtime_state: '',
  }).catch(() => undefined);

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  if (req.method === 'GET' && req.url === '/received') return json(res, 200, received);
  if (req.method === 'GET' && req.url?.startsWith('/.well-known/')) return json(res, 200, card);
  if (req.method !== 'POST') return json(res, 404, { error: 'not found' });
  let rpc;
  try {
    rpc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return json(res, 200, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } });
  }
  if (rpc.method !== 'message/send') return json(res, 200, { jsonrpc: '2.0', id: rpc.id, error: { code: -32601, message: 'method not found' } });
  const message = rpc.params?.message ?? {};
  received.push(message.messageId);
  active++;
  void beat();
  await new Promise((r) => setTimeout(r, HANG_MS));
  active--;
  void beat();
  const text = (message.parts ?? []).map((p) => p.text ?? '').join('');
  json(res, 200, { jsonrpc: '2.0', id: rpc.id, result: { kind: 'message', role: 'agent', messageId: randomUUID(), parts: [{ kind: 'text', text: `done: ${text}` }] } });
});

let card;
server.listen(0, '127.0.0.1', async () => {
  const url = `http://127.0.0.1:${server.address().port}`;
  card = {
    protocolVersion: '0.3.0',
    name: 'Plain agent',
    description: 'Takes its time over every message.',
    url,
    preferredTransport: 'JSONRPC',
    version: '1.0.0',
    capabilities: {},
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: [],
  };
  const r = await platform('/registry/register', { id: WORKSPACE_ID, url, agent_card: card, delivery_mode: 'push' });
  if (!r.ok) {
    console.error(`register failed: ${r.status} ${await r.text()}`);
    process.exit(1);
  }
  await beat();
  setInterval(beat, BEAT_MS);
  console.log(`ready ${url}`);
});
process.on('SIGTERM', () => process.exit(0));
