import { Agent, request } from 'undici';
import { z } from 'zod';
import { MAX_EMBEDDING_DIMS } from '@molecule/contracts';
import { guardedLookup } from '../a2a/dispatch.js';
import { readCapped } from '../net/read-capped.js';
import { checkAgentUrl, type AgentUrlPolicy } from '../ssrf/agent-url.js';
import { BREAKER_FAILURES, BREAKER_OPEN_MS } from './client.js';

/** How long one embedding may take (connect, answer and body); a commit waits this long at most before going on without one. */
export const EMBED_TIMEOUT_MS = 5_000;
/** The part of a text that is embedded: its first 8,000 characters (about 2,000 tokens, within every common model's window). */
export const MAX_EMBED_INPUT_CHARS = 8_000;
/** Larger than any valid answer (4,096 numbers in JSON); a larger body is not read. */
export const MAX_EMBEDDINGS_ANSWER_BYTES = 1024 * 1024;

/**
 * Why no embedding came back. `refused_url`: the URL fails the outbound policy (nothing was sent);
 * `status`: a non-2xx answer; `bad_answer`: not `{data: [{embedding: number[]}]}` with 1 to 4,096
 * finite numbers, not all zero; `dimensions`: another length than the first answer's.
 */
export const EMBEDDING_FAILURES = ['breaker_open', 'refused_url', 'unavailable', 'timeout', 'status', 'bad_answer', 'dimensions'] as const;
export type EmbeddingFailure = (typeof EMBEDDING_FAILURES)[number];

/** No embedding: `message` is canned (never the provider's text); `detail` is for the log only (a status code, the policy's reason). */
export class EmbeddingError extends Error {
  override name = 'EmbeddingError';
  constructor(
    readonly reason: EmbeddingFailure,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

const Answer = z.object({
  data: z.array(z.object({ embedding: z.array(z.number()).min(1).max(MAX_EMBEDDING_DIMS) })).min(1),
});

export interface MemoryEmbedderOptions {
  /** The OpenAI-compatible base URL (`http://host:port/v1`); `/embeddings` is appended. */
  url: string;
  model: string;
  apiKey?: string | undefined;
  /** The outbound URL policy, read per call (MOLECULE_ENV; tests swap the resolver). */
  policy: () => AgentUrlPolicy;
  timeoutMs?: number;
  now?: () => number;
}

/**
 * The platform's client of an OpenAI-compatible embeddings endpoint: `POST {url}/embeddings {model,
 * input}` -> `data[0].embedding`. Every call re-checks the URL against the outbound policy and the
 * address actually dialled is checked too (DNS rebinding), as for agent URLs; each is bounded by
 * EMBED_TIMEOUT_MS. The first answer pins the dimension: a later answer of another length is refused
 * (`dimensions`), so one platform never stores vectors that cannot be compared. A circuit breaker as
 * the memory plugin's (3 consecutive failures open it for 60 s) keeps a dead embedder from adding its
 * timeout to every commit. The API key goes in the Authorization header and nowhere else.
 */
export class MemoryEmbedder {
  private readonly endpoint: string;
  private readonly agent: Agent;
  private failures = 0;
  private openUntil = 0;
  private dims: number | undefined;

  constructor(private readonly opts: MemoryEmbedderOptions) {
    this.endpoint = `${opts.url.replace(/\/+$/, '')}/embeddings`;
    this.agent = new Agent({ connect: { timeout: opts.timeoutMs ?? EMBED_TIMEOUT_MS, lookup: guardedLookup(opts.policy) }, keepAliveTimeout: 10_000, connections: 16 });
  }

  get model(): string {
    return this.opts.model;
  }

  /** The length every embedding has, once the first one came back. */
  get dimensions(): number | undefined {
    return this.dims;
  }

  get breakerOpen(): boolean {
    return (this.opts.now ?? Date.now)() < this.openUntil;
  }

  /**
   * The embedding of `text` (its first MAX_EMBED_INPUT_CHARS characters). Throws EmbeddingError,
   * never anything else, and never with the provider's words.
   */
  async embed(text: string): Promise<number[]> {
    if (this.breakerOpen) throw new EmbeddingError('breaker_open', 'the embedder is failing repeatedly; skipped for a minute');
    try {
      const v = await this.call(text.slice(0, MAX_EMBED_INPUT_CHARS));
      this.failures = 0;
      this.openUntil = 0;
      return v;
    } catch (err) {
      this.failures++;
      if (this.failures >= BREAKER_FAILURES) this.openUntil = (this.opts.now ?? Date.now)() + BREAKER_OPEN_MS;
      if (err instanceof EmbeddingError) throw err;
      throw new EmbeddingError('unavailable', 'the embedder did not answer', err instanceof Error ? err.message : String(err));
    }
  }

  private async call(input: string): Promise<number[]> {
    const check = await checkAgentUrl(this.endpoint, this.opts.policy());
    if (!check.ok) throw new EmbeddingError('refused_url', 'the embedder URL is not one the platform may call', `${check.reason}: ${check.detail}`);
    const signal = AbortSignal.timeout(this.opts.timeoutMs ?? EMBED_TIMEOUT_MS);
    const timedOut = () => new EmbeddingError('timeout', 'the embedder did not answer in time');
    let status: number;
    let body: { bytes: Buffer; truncated: boolean };
    try {
      const res = await request(check.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}),
        },
        body: JSON.stringify({ model: this.opts.model, input }),
        signal,
      });
      status = res.statusCode;
      body = await readCapped(res.body, MAX_EMBEDDINGS_ANSWER_BYTES);
    } catch (err) {
      if (signal.aborted) throw timedOut();
      throw new EmbeddingError('unavailable', 'the embedder did not answer', (err as { code?: string }).code ?? (err as Error).message);
    }
    // The provider's body is never read back to anyone: only its status is kept, for the log.
    if (status < 200 || status >= 300) throw new EmbeddingError('status', 'the embedder refused or failed', `HTTP ${status}`);
    if (body.truncated) throw new EmbeddingError('bad_answer', 'the embedder answered something that is not an embedding', `larger than ${MAX_EMBEDDINGS_ANSWER_BYTES} bytes`);
    let parsed: z.infer<typeof Answer>;
    try {
      parsed = Answer.parse(JSON.parse(body.bytes.toString('utf8')));
    } catch {
      throw new EmbeddingError('bad_answer', 'the embedder answered something that is not an embedding', 'not {data: [{embedding: number[]}]} with 1 to 4096 finite numbers');
    }
    const v = parsed.data[0]!.embedding;
    if (v.every((x) => x === 0)) throw new EmbeddingError('bad_answer', 'the embedder answered something that is not an embedding', 'an all-zero vector');
    if (this.dims !== undefined && v.length !== this.dims) {
      throw new EmbeddingError('dimensions', 'the embedder changed its dimension', `${v.length} numbers, expected ${this.dims} (the first answer's)`);
    }
    this.dims ??= v.length;
    return v;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
