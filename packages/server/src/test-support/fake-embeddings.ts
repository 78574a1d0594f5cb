import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The length of the fake's vectors unless told otherwise. */
export const FAKE_EMBEDDING_DIMS = 256;

const STOPWORDS = new Set(['a', 'an', 'and', 'are', 'at', 'be', 'by', 'for', 'has', 'in', 'is', 'it', 'its', 'of', 'on', 'our', 'the', 'to', 'was', 'we', 'what', 'when', 'will', 'with']);
/** A few synonyms, so a query can find a memory it shares no word with (what full-text search cannot). */
const CONCEPTS: Record<string, string> = {
  release: 'launch',
  ship: 'launch',
  shipping: 'launch',
  postponed: 'moved',
  delayed: 'moved',
  pushed: 'moved',
  rescheduled: 'moved',
  weekend: 'friday',
  payment: 'billing',
  invoice: 'billing',
  invoices: 'billing',
  vacation: 'holiday',
  away: 'holiday',
  leave: 'holiday',
  database: 'postgres',
  db: 'postgres',
};

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The fake's embedding of `text`: a bag of words (lower-cased, stop words dropped, a plural `s`
 * trimmed, synonyms folded into one concept) hashed into `dims` buckets, plus a small constant so
 * no vector is all zeros. Deterministic; texts sharing words or concepts are close, others near 0.
 */
export function fakeEmbedding(text: string, dims = FAKE_EMBEDDING_DIMS): number[] {
  const v: number[] = Array.from({ length: dims }, () => 0);
  for (const raw of text.toLowerCase().split(/[^a-z0-9]+/)) {
    if (raw === '' || STOPWORDS.has(raw)) continue;
    const word = CONCEPTS[raw] ?? (raw.length > 3 && raw.endsWith('s') ? raw.slice(0, -1) : raw);
    const concept = CONCEPTS[word] ?? word;
    v[fnv1a(concept) % dims]! += 1;
  }
  v[dims - 1]! += 0.01;
  return v;
}

/**
 * How the fake misbehaves: `status` a 500 whose body carries provider internals (a caller must
 * never see them); `hang` no answer; `garbage` HTML; `empty` `{data: []}`; `wrong_type` strings for
 * numbers; `zeros` an all-zero vector; `too_long` 4,097 numbers; `infinite` a number JSON reads as
 * Infinity; `huge` a body over a megabyte; `other_dims` half the usual length.
 */
export type EmbeddingsFault = 'none' | 'status' | 'hang' | 'garbage' | 'empty' | 'wrong_type' | 'zeros' | 'too_long' | 'infinite' | 'huge' | 'other_dims';

/**
 * An OpenAI-compatible embeddings server over real HTTP on 127.0.0.1, for the platform's tests:
 * `POST /v1/embeddings {model, input}` (input a string or a list of strings) answers
 * `{object: "list", data: [{object: "embedding", index, embedding}], model}` with `fakeEmbedding`
 * vectors. With `apiKey` it wants `Authorization: Bearer <apiKey>` (401 otherwise). It records what
 * it was sent and can be told to fail (`setFault`).
 */
export async function startFakeEmbeddings(opts: { dims?: number; apiKey?: string } = {}) {
  const dims = opts.dims ?? FAKE_EMBEDDING_DIMS;
  const requests: { path: string; model: unknown; input: unknown; authorization: string | undefined }[] = [];
  let fault: EmbeddingsFault = 'none';
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += String(c)));
    req.on('end', () => {
      const path = new URL(req.url!, 'http://x').pathname;
      let body: { model?: unknown; input?: unknown } = {};
      try {
        body = raw ? (JSON.parse(raw) as typeof body) : {};
      } catch {
        body = {};
      }
      requests.push({ path, model: body.model, input: body.input, authorization: req.headers.authorization });
      const send = (status: number, text: string) => res.writeHead(status, { 'content-type': 'application/json' }).end(text);
      const error = (status: number, message: string) => send(status, JSON.stringify({ error: { message, type: 'invalid_request_error' } }));
      if (path !== '/v1/embeddings' || req.method !== 'POST') return error(404, 'not found');
      if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) return error(401, `Incorrect API key provided: ${req.headers.authorization ?? 'none'}`);
      if (typeof body.model !== 'string' || body.model === '') return error(400, 'you must provide a model parameter');
      const inputs = typeof body.input === 'string' ? [body.input] : Array.isArray(body.input) && body.input.every((x) => typeof x === 'string') ? (body.input as string[]) : undefined;
      if (!inputs || inputs.length === 0) return error(400, "'input' must be a string or a list of strings");
      const answer = (vectors: unknown[]) => JSON.stringify({ object: 'list', data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })), model: body.model, usage: { prompt_tokens: 1, total_tokens: 1 } });
      switch (fault) {
        case 'hang':
          return;
        case 'status':
          return error(500, 'upstream failure at 10.0.0.7: provider key sk-provider-internal-secret rejected');
        case 'garbage':
          return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
        case 'empty':
          return send(200, answer([]));
        case 'wrong_type':
          return send(200, answer([['0.1', '0.2']]));
        case 'zeros':
          return send(200, answer([Array.from({ length: dims }, () => 0)]));
        case 'too_long':
          return send(200, answer([Array.from({ length: 4097 }, () => 0.5)]));
        case 'infinite':
          return send(200, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1e999,0.5]}]}`);
        case 'huge':
          return send(200, answer([Array.from({ length: 4096 }, () => 0.123456789012345)]).replace('"object"', `"padding":"${'x'.repeat(1024 * 1024)}","object"`));
        case 'other_dims':
          return send(200, answer(inputs.map((t) => fakeEmbedding(t, Math.max(1, Math.floor(dims / 2))))));
        default:
          return send(200, answer(inputs.map((t) => fakeEmbedding(t, dims))));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    /** The base URL to configure (`MEMORY_EMBEDDINGS_URL`), ending in `/v1`. */
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    dims,
    requests,
    setFault(f: EmbeddingsFault) {
      fault = f;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type FakeEmbeddings = Awaited<ReturnType<typeof startFakeEmbeddings>>;
