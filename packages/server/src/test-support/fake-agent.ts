import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { A2A_BUSY_CODE } from '@molecule/contracts';

/** What the fake agent does with the next requests (first match wins; `echo` by default). */
export type AgentBehaviour =
  | { kind: 'echo' }
  /** Answers after `release()` is called (a task that takes a while); others are busy meanwhile when `slots` is reached. */
  | { kind: 'hold' }
  | { kind: 'status'; status: number; body?: string; contentType?: string }
  | { kind: 'hang' }
  | { kind: 'stream'; chunks: string[] }
  | { kind: 'huge'; bytes: number }
  | { kind: 'usage'; input: number; output: number };

export interface ReceivedRequest {
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
  /** Whether the agent refused it as busy. */
  busy: boolean;
}

/**
 * A scriptable A2A agent on loopback speaking JSON-RPC as molecule-agent does: v0.3 task answers
 * ("echo: <text>"), the busy refusal (HTTP 503, code -32050) when `slots` tasks are in flight, and
 * on demand errors, hangs, SSE streams and oversize answers. It records what it received.
 */
export async function startFakeAgent(opts: { slots?: number } = {}) {
  const received: ReceivedRequest[] = [];
  const queue: AgentBehaviour[] = [];
  let fallback: AgentBehaviour = { kind: 'echo' };
  let active = 0;
  let slots = opts.slots ?? Infinity;
  const holds: (() => void)[] = [];
  const sockets = new Set<Socket>();

  const textOf = (body: Record<string, unknown>): string => {
    const msg = (body.params as { message?: { parts?: { text?: string }[] } } | undefined)?.message;
    return (msg?.parts ?? []).map((p) => p.text ?? '').join('');
  };
  const task = (id: unknown, text: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      jsonrpc: '2.0',
      id,
      result: {
        kind: 'task',
        id: `task-${Math.random().toString(36).slice(2)}`,
        contextId: 'ctx',
        status: { state: 'completed', message: { kind: 'message', role: 'agent', messageId: 'm', parts: [{ kind: 'text', text: `echo: ${text}` }] } },
        ...extra,
      },
    });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const starts = body.method === 'message/send' || body.method === 'message/stream' || body.method === 'SendMessage';
      const busy = starts && active >= slots;
      received.push({ body, headers: req.headers, busy });
      if (busy) {
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: body.id, error: { code: A2A_BUSY_CODE, message: 'agent busy', data: { busy: true, retry_after_ms: 1000 } } }));
        return;
      }
      const b = queue.shift() ?? fallback;
      const json = (status: number, text: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(text);
      switch (b.kind) {
        case 'echo':
          return json(200, task(body.id, textOf(body)));
        case 'usage':
          return json(200, task(body.id, textOf(body), { usage: { input_tokens: b.input, output_tokens: b.output } }));
        case 'hold':
          active++;
          holds.push(() => {
            active--;
            json(200, task(body.id, textOf(body)));
          });
          return;
        case 'status':
          return res.writeHead(b.status, { 'content-type': b.contentType ?? 'application/json' }).end(b.body ?? '');
        case 'hang':
          return; // never answers
        case 'huge':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(Buffer.alloc(b.bytes, 0x20));
          return;
        case 'stream':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          for (const c of b.chunks) res.write(`data: ${c}\n\n`);
          res.end();
          return;
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    /** Behaviours for the next requests, in order. */
    next: (...b: AgentBehaviour[]) => queue.push(...b),
    always: (b: AgentBehaviour) => (fallback = b),
    setSlots: (n: number) => (slots = n),
    get active() {
      return active;
    },
    get held() {
      return holds.length;
    },
    /** Finishes the oldest held task. */
    release: () => holds.shift()?.(),
    async close() {
      for (const h of holds.splice(0)) h();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type FakeAgent = Awaited<ReturnType<typeof startFakeAgent>>;
