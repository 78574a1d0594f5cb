import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface FakeReply {
  status: number;
  body?: unknown;
}

/** Decides the answer to one request; undefined falls back to the registry's usual answers. */
export type Responder = (req: RecordedRequest, nth: number) => FakeReply | undefined;

/**
 * A stand-in for the platform's registry: records every request and answers as
 * `POST /registry/register` and `POST /registry/heartbeat` will (200 with the inbound secret),
 * unless a responder says otherwise.
 */
export async function startFakePlatform(opts: { port?: number; secret?: string; responder?: Responder } = {}) {
  const requests: RecordedRequest[] = [];
  let responder = opts.responder;
  const secret = opts.secret ?? 's';
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += String(c)));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        body = { unparsable: raw };
      }
      const rec: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(rec);
      const nth = requests.filter((r) => r.path === rec.path).length;
      const reply = responder?.(rec, nth) ?? defaultReply(rec, secret);
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    /** The HTTP server (a test attaches a WebSocket server to it for the agent socket). */
    server,
    requests,
    registers: () => requests.filter((r) => r.path === '/registry/register'),
    heartbeats: () => requests.filter((r) => r.path === '/registry/heartbeat'),
    setResponder(r: Responder | undefined) {
      responder = r;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function defaultReply(req: RecordedRequest, secret: string): FakeReply {
  if (req.method === 'POST' && req.path === '/registry/register') {
    return { status: 200, body: { status: 'registered', delivery_mode: 'push', platform_inbound_secret: secret } };
  }
  if (req.method === 'POST' && req.path === '/registry/heartbeat') {
    return { status: 200, body: { status: 'ok', platform_inbound_secret: secret } };
  }
  return { status: 404, body: { error: 'not found' } };
}

export type FakePlatform = Awaited<ReturnType<typeof startFakePlatform>>;
