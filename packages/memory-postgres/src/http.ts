import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  MEMORY_CAPABILITIES,
  MEMORY_PLUGIN_CONTRACT,
  MemoryWrite,
  NamespaceName,
  NamespacePatch,
  NamespaceUpsert,
  SearchRequest,
  namespaceKind,
  type PluginHealth,
} from '@molecule/contracts';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { MemoryStore } from './store.js';
import { unit } from './store.js';

/** Larger than any valid body (100,000 characters of content, 4,096 numbers of embedding, metadata). */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;
/** How long the health ping waits for the database before saying `degraded`. */
const PING_TIMEOUT_MS = 2000;

/** Capability beyond the contract's: embeddings are ranked by pgvector (absent: `real[]`, exact scan in SQL). */
export const PGVECTOR_CAPABILITY = 'pgvector';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Handler = (req: IncomingMessage, params: { name: string; id?: string }) => Promise<{ status: number; body?: unknown }>;

interface Route {
  pattern: RegExp;
  methods: Record<string, Handler>;
  /** C260: health and search answer another method 404, not 405. */
  otherMethod: 404 | 405;
}

/**
 * The HTTP edge of memory-plugin-v1: exactly the routes of the contract. Bodies are checked with
 * its zod schemas (400 with the first issue's message, nothing stored); any other failure is 500
 * `internal error` with the detail only in the log.
 */
export function createMemoryServer(store: MemoryStore, version: string, log: Logger): Server {
  const health: Handler = async () => {
    const capabilities: string[] = [...MEMORY_CAPABILITIES];
    if (store.embeddings === 'pgvector') capabilities.push(PGVECTOR_CAPABILITY);
    const base = { contract: MEMORY_PLUGIN_CONTRACT, version, capabilities } as const;
    try {
      await withTimeout(store.ping(), PING_TIMEOUT_MS);
      return { status: 200, body: { status: 'ok', ...base } satisfies PluginHealth };
    } catch (err) {
      log.warn({ err }, 'memory plugin health: database ping failed');
      return { status: 200, body: { status: 'degraded', ...base, detail: 'database unreachable' } satisfies PluginHealth };
    }
  };

  const routes: Route[] = [
    { pattern: /^\/v1\/health$/, methods: { GET: health }, otherMethod: 404 },
    {
      pattern: /^\/v1\/search$/,
      otherMethod: 404,
      methods: {
        POST: async (req) => {
          const body = parse(SearchRequest, await readJson(req));
          if (body.embedding && !unit(body.embedding)) throw new HttpError(400, 'embedding must not be all zeros');
          return { status: 200, body: await store.search(body) };
        },
      },
    },
    {
      pattern: /^\/v1\/namespaces\/([^/]+)$/,
      otherMethod: 405,
      methods: {
        PUT: async (req, { name }) => {
          const body = parse(NamespaceUpsert, await readJson(req));
          if (body.kind !== namespaceKind(name)) throw new HttpError(400, `kind ${body.kind} does not match the namespace name (${namespaceKind(name)})`);
          return { status: 200, body: await store.upsertNamespace(name, body) };
        },
        PATCH: async (req, { name }) => {
          const ns = await store.patchNamespace(name, parse(NamespacePatch, await readJson(req)));
          if (!ns) throw new HttpError(404, 'namespace not found');
          return { status: 200, body: ns };
        },
        DELETE: async (_req, { name }) => {
          if (!(await store.deleteNamespace(name))) throw new HttpError(404, 'namespace not found');
          return { status: 204 };
        },
      },
    },
    {
      pattern: /^\/v1\/namespaces\/([^/]+)\/memories$/,
      otherMethod: 405,
      methods: {
        POST: async (req, { name }) => {
          const r = await store.commit(name, parse(MemoryWrite, await readJson(req)));
          if (r.status === 'no_namespace') throw new HttpError(404, 'namespace not found');
          // Refinement of C233: an id is a key within its namespace; reusing it elsewhere is refused, not a move.
          if (r.status === 'other_namespace') throw new HttpError(409, 'a memory with this id exists in another namespace');
          return { status: r.status === 'created' ? 201 : 200, body: r.memory };
        },
      },
    },
    {
      pattern: /^\/v1\/namespaces\/([^/]+)\/memories\/([^/]+)$/,
      otherMethod: 405,
      methods: {
        DELETE: async (_req, { name, id }) => {
          if (!UUID.test(id!) || !(await store.forget(name, id!))) throw new HttpError(404, 'memory not found');
          return { status: 204 };
        },
      },
    },
  ];

  return createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      log.error({ err, method: req.method, url: req.url }, 'memory plugin: request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    for (const route of routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      const handler = route.methods[req.method ?? ''];
      if (!handler) {
        req.resume();
        if (route.otherMethod === 405) res.setHeader('allow', Object.keys(route.methods).join(', '));
        return send(res, route.otherMethod, { error: route.otherMethod === 405 ? 'method not allowed' : 'not found' });
      }
      try {
        const params: { name: string; id?: string } = { name: '' };
        if (m[1] !== undefined) params.name = parse(NamespaceName, decode(m[1]));
        if (m[2] !== undefined) params.id = decode(m[2]);
        const out = await handler(req, params);
        return send(res, out.status, out.body);
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        req.resume();
        return send(res, err.status, { error: err.message });
      }
    }
    req.resume();
    send(res, 404, { error: 'not found' });
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'invalid percent-encoding in the path');
  }
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    // Name the field unless the message already does (the contract's own messages name theirs).
    const key = issue?.path.filter((k) => typeof k === 'string').at(-1);
    const named = key === undefined || new RegExp(`\\b${key.replace(/s$/, '')}`, 'i').test(issue!.message);
    const where = issue && issue.path.length > 0 && issue.code !== 'custom' && !named ? `${issue.path.join('.')}: ` : '';
    throw new HttpError(400, `${where}${issue?.message ?? 'invalid body'}`);
  }
  return r.data;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  // An oversize body is read to its end (and dropped) so the answer reaches the client.
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'a JSON body is required');
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid JSON body');
  }
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
