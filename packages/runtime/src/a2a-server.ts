import { SSE_HEADERS, formatSSEErrorEvent, formatSSEEvent } from '@a2a-js/sdk';
import { LegacyJsonRpcTransportHandler } from '@a2a-js/sdk/compat/v0_3/server';
import {
  JsonRpcTransportHandler,
  STATE_HEADERS_KEY,
  ServerCallContext,
  UnauthenticatedUser,
  type A2ARequestHandler,
} from '@a2a-js/sdk/server';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { TASK_SLOT_STATE_KEY } from './executor.js';
import type { Logger } from './log.js';
import { A2A_BUSY_CODE, isRecord, normalizeA2ARequest, type A2ADialect, type JsonRpcId, type NormalizedA2ARequest } from '@molecule/contracts';
import type { TaskSlot, TaskTracker } from './tasks.js';
import { MessageDedupe, messageFingerprint, senderMessageId } from './dedupe.js';

export { A2A_BUSY_CODE };
export const DEFAULT_BUSY_RETRY_AFTER_MS = 2000;
/** Inline file parts make bodies large; the platform proxy caps what it forwards anyway. */
export const DEFAULT_BODY_LIMIT_BYTES = 10 * 1024 * 1024;

export const AGENT_CARD_PATHS = ['/.well-known/agent-card.json', '/.well-known/agent.json'] as const;
export const RPC_PATHS = ['/', '/a2a'] as const;

export interface A2AServerDeps {
  log: Logger;
  tracker: TaskTracker;
  /** The SDK handler and the served card; undefined until the agent knows its own URL. */
  current: () => { handler: A2ARequestHandler; card: Record<string, unknown> } | undefined;
  busyRetryAfterMs?: number;
  bodyLimitBytes?: number;
  /** Extra fields for `GET /health`. */
  health?: () => Record<string, unknown>;
  /** Remembers answered messageIds (default: in memory only). */
  dedupe?: MessageDedupe;
}

interface JsonRpcErrorBody {
  code: number;
  message: string;
  data?: unknown;
}

const rpcError = (id: JsonRpcId, error: JsonRpcErrorBody) => ({ jsonrpc: '2.0' as const, id, error });

/** The busy answer as sent on the wire (exported for the README's example and for tests). */
export function busyResponse(id: JsonRpcId, tracker: TaskTracker, retryAfterMs: number) {
  return rpcError(id, {
    code: A2A_BUSY_CODE,
    message: `agent busy: all ${tracker.maxConcurrent} task slot(s) in use; retry later`,
    data: { busy: true, retry_after_ms: retryAfterMs, active_tasks: tracker.inFlight, max_concurrent_tasks: tracker.maxConcurrent },
  });
}

/**
 * The agent's HTTP surface: the agent card (both well-known paths), A2A JSON-RPC at `/` and `/a2a`
 * (any dialect, through {@link normalizeA2ARequest}; `message/stream` answers in SSE), admission
 * against max_concurrent_tasks (the busy answer above), and `GET /health`.
 */
export function buildA2AApp(deps: A2AServerDeps): FastifyInstance {
  const retryAfterMs = deps.busyRetryAfterMs ?? DEFAULT_BUSY_RETRY_AFTER_MS;
  const dedupe = deps.dedupe ?? MessageDedupe.inMemory();
  const app = Fastify({ logger: false, bodyLimit: deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES, forceCloseConnections: 'idle' });
  const transports = new WeakMap<A2ARequestHandler, Record<A2ADialect, JsonRpcTransportHandler | LegacyJsonRpcTransportHandler>>();
  const transportsOf = (handler: A2ARequestHandler) => {
    let t = transports.get(handler);
    if (!t) {
      t = { v1: new JsonRpcTransportHandler(handler), 'v0.3': new LegacyJsonRpcTransportHandler(handler) };
      transports.set(handler, t);
    }
    return t;
  };

  // Senders of every vintage: JSON is parsed here so a bad body gets a JSON-RPC parse error,
  // whatever Content-Type it came with.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) deps.log.error({ err, url: req.url }, 'request failed');
    void reply.status(status).send({ error: status >= 500 ? 'internal error' : err.message });
  });
  app.setNotFoundHandler((_req, reply) => void reply.status(404).send({ error: 'not found' }));

  for (const p of AGENT_CARD_PATHS) {
    app.get(p, async (_req, reply) => {
      const cur = deps.current();
      if (!cur) return reply.status(503).header('retry-after', '1').send({ error: 'agent starting' });
      return reply.header('cache-control', 'no-cache').send(cur.card);
    });
  }

  app.get('/health', async () => ({ status: 'ok', active_tasks: deps.tracker.snapshot().activeTasks, ...deps.health?.() }));

  const rpc = async (req: FastifyRequest, reply: FastifyReply) => {
    const cur = deps.current();
    if (!cur) return reply.status(503).header('retry-after', '1').send(rpcError(null, { code: -32603, message: 'agent starting' }));

    let body: unknown;
    try {
      const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
      body = JSON.parse(raw);
    } catch {
      return reply.status(200).send(rpcError(null, { code: -32700, message: 'invalid JSON' }));
    }
    // JSON-RPC errors travel in HTTP 200, as the A2A spec and its official clients expect (an HTTP
    // 400 loses the typed error in them).
    const norm = normalizeA2ARequest(body);
    if (!norm.ok) {
      const { id, code, message, field } = norm.error;
      return reply.status(200).send(rpcError(id, { code, message, ...(field ? { data: { field } } : {}) }));
    }
    if (norm.value.dialect === null) {
      return reply.status(200).send(rpcError(norm.value.id, { code: -32601, message: `method not found: ${norm.value.request.method}`, data: { field: 'method' } }));
    }
    const n = norm.value as NormalizedA2ARequest & { dialect: A2ADialect };

    // A repeated message/send (same messageId) is answered from its first delivery, never run twice.
    const messageId = n.kind === 'send' ? senderMessageId(body) : undefined;
    const fingerprint = messageFingerprint(body);
    const repeat = messageId === undefined ? undefined : dedupe.replay(messageId, n.id, fingerprint);
    if (repeat === 'conflict') {
      // Not a resend: another message under a messageId already used. Refused; the first stands.
      return reply
        .status(200)
        .send(rpcError(n.id, { code: -32600, message: 'this messageId was already used for a different message; send a new messageId', data: { field: 'params.message.messageId' } }));
    }
    if (repeat) {
      const answer = await repeat;
      if (answer) {
        deps.log.info({ message_id: messageId }, 'repeated message: answered from its first delivery');
        return reply.status(answer.status).send(answer.body);
      }
    }

    let slot: TaskSlot | undefined;
    if (n.kind !== 'other') {
      slot = deps.tracker.tryReserve();
      if (!slot) {
        deps.log.info({ method: n.request.method, in_flight: deps.tracker.inFlight }, 'busy: refusing a new task');
        return reply
          .status(503)
          .header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))))
          .send(busyResponse(n.id, deps.tracker, retryAfterMs));
      }
      const accepted = isRecord(n.request.params.message) ? n.request.params.message.messageId : undefined;
      deps.log.info({ method: n.request.method, message_id: accepted }, 'message accepted');
    }
    deps.log.debug({ method: n.request.method, dialect: n.dialect, id: n.id }, 'a2a request');
    const state = new Map<string, unknown>([[STATE_HEADERS_KEY, req.headers]]);
    if (slot) state.set(TASK_SLOT_STATE_KEY, slot);
    const context = new ServerCallContext({
      user: new UnauthenticatedUser(),
      requestedVersion: n.dialect === 'v1' ? '1.0' : '0.3',
      state,
    });
    const transport = transportsOf(cur.handler)[n.dialect];
    if (messageId !== undefined) {
      try {
        const answer = await dedupe.run(messageId, fingerprint, async () => ({ status: 200, body: (await transport.handle(n.request, context)) as Record<string, unknown> }));
        return reply.status(answer.status).send(answer.body);
      } finally {
        slot?.release();
      }
    }
    let streaming = false;
    try {
      const out = await transport.handle(n.request, context);
      if (isAsyncIterable(out)) {
        streaming = true;
        return await streamSse(req, reply, out, n, deps.log, () => slot?.release());
      }
      return reply.status(200).send(out);
    } finally {
      if (!streaming) slot?.release();
    }
  };
  for (const p of RPC_PATHS) app.post(p, rpc);

  return app;
}

function isAsyncIterable(v: unknown): v is AsyncGenerator<unknown, void, undefined> {
  return typeof v === 'object' && v !== null && Symbol.asyncIterator in v;
}

function mapError(dialect: A2ADialect, err: unknown): JsonRpcErrorBody {
  return dialect === 'v1' ? JsonRpcTransportHandler.mapToJSONRPCError(err) : LegacyJsonRpcTransportHandler.mapToLegacyJSONRPCError(err);
}

/**
 * Writes a JSON-RPC stream as SSE. An error before the first event is an ordinary JSON-RPC error
 * reply (nothing was streamed yet); after it, an `event: error` frame. A client that goes away
 * stops the stream, not the task: the task keeps its slot until it ends.
 */
async function streamSse(
  _req: FastifyRequest,
  reply: FastifyReply,
  stream: AsyncGenerator<unknown, void, undefined>,
  n: NormalizedA2ARequest & { dialect: A2ADialect },
  log: Logger,
  done: () => void,
): Promise<FastifyReply> {
  let first: IteratorResult<unknown, void>;
  try {
    first = await stream.next();
  } catch (err) {
    done();
    return reply.status(200).send(rpcError(n.id, mapError(n.dialect, err)));
  }
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { ...SSE_HEADERS });
  let closed = false;
  res.once('close', () => {
    closed = true;
    void stream.return(undefined);
  });
  try {
    if (!first.done) res.write(formatSSEEvent(first.value));
    while (!closed) {
      const next = await stream.next();
      if (next.done) break;
      res.write(formatSSEEvent(next.value));
    }
  } catch (err) {
    log.warn({ err, method: n.request.method }, 'a2a stream failed');
    if (!res.writableEnded) res.write(formatSSEErrorEvent(rpcError(n.id, mapError(n.dialect, err))));
  } finally {
    done();
    if (!res.writableEnded) res.end();
  }
  return reply;
}
