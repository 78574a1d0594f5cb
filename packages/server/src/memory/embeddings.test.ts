import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../net/free-port.js';
import { agentUrlPolicy, type AgentUrlPolicy } from '../ssrf/agent-url.js';
import { fakeEmbedding, startFakeEmbeddings, type EmbeddingsFault, type FakeEmbeddings } from '../test-support/fake-embeddings.js';
import { BREAKER_OPEN_MS } from './client.js';
import { EmbeddingError, MAX_EMBED_INPUT_CHARS, MemoryEmbedder, type MemoryEmbedderOptions } from './embeddings.js';

const dev = agentUrlPolicy('development');
const cosine = (a: number[], b: number[]) => {
  let dot = 0;
  let na = 0;
  let nb = 0;
  a.forEach((x, i) => {
    dot += x * b[i]!;
    na += x * x;
    nb += b[i]! * b[i]!;
  });
  return dot / Math.sqrt(na * nb);
};

describe('the memory embeddings client (#14)', () => {
  let fake: FakeEmbeddings;
  const embedders: MemoryEmbedder[] = [];
  const embedder = (opts: Partial<MemoryEmbedderOptions> = {}) => {
    const e = new MemoryEmbedder({ url: fake.url, model: 'fake-embed-1', apiKey: 'sk-test-key', policy: () => dev, ...opts });
    embedders.push(e);
    return e;
  };
  const failure = async (p: Promise<unknown>): Promise<EmbeddingError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EmbeddingError);
    return err as EmbeddingError;
  };

  beforeAll(async () => {
    fake = await startFakeEmbeddings({ apiKey: 'sk-test-key' });
  });
  afterAll(async () => {
    for (const e of embedders) await e.close();
    await fake.close();
  });

  it('POSTs {model, input} to {url}/embeddings with the key as a bearer, answers data[0].embedding and pins its dimension', async () => {
    const e = embedder({ url: `${fake.url}/` });
    const before = fake.requests.length;
    const v = await e.embed('The launch moved to Friday.');
    expect(v).toEqual(fakeEmbedding('The launch moved to Friday.'));
    expect(e.dimensions).toBe(fake.dims);
    expect(fake.requests.slice(before)).toEqual([{ path: '/v1/embeddings', model: 'fake-embed-1', input: 'The launch moved to Friday.', authorization: 'Bearer sk-test-key' }]);
    // The fake is close for related texts and far for unrelated ones, which the ranking tests rely on.
    const release = await e.embed('when is the product release');
    expect(cosine(v, release)).toBeGreaterThan(0.3);
    expect(cosine(v, await e.embed('billing runs on postgres'))).toBeLessThan(0.1);
  });

  it(`embeds the first ${MAX_EMBED_INPUT_CHARS} characters of a longer text`, async () => {
    const before = fake.requests.length;
    await embedder().embed(`${'word '.repeat(MAX_EMBED_INPUT_CHARS / 5)}tail beyond the window`);
    const sent = fake.requests[before]!.input as string;
    expect(sent).toHaveLength(MAX_EMBED_INPUT_CHARS);
    expect(sent).not.toContain('tail');
  });

  it.each<[EmbeddingsFault, string]>([
    ['garbage', 'HTML instead of JSON'],
    ['empty', 'no data'],
    ['wrong_type', 'strings for numbers'],
    ['zeros', 'an all-zero vector (no direction to rank by)'],
    ['too_long', 'more than 4096 numbers'],
    ['infinite', 'a number that is not finite'],
    ['huge', 'a body over a megabyte'],
  ])('a 200 with %s (%s) is bad_answer, with a canned message', async (fault, _what) => {
    fake.setFault(fault);
    try {
      const err = await failure(embedder().embed('anything'));
      expect(err).toMatchObject({ reason: 'bad_answer', message: 'the embedder answered something that is not an embedding' });
    } finally {
      fake.setFault('none');
    }
  });

  it('a non-2xx answer is `status`; neither the message nor the detail carries the provider text or the key', async () => {
    fake.setFault('status');
    try {
      const err = await failure(embedder().embed('anything'));
      expect(err).toMatchObject({ reason: 'status', message: 'the embedder refused or failed', detail: 'HTTP 500' });
      expect(JSON.stringify({ message: err.message, detail: err.detail })).not.toMatch(/sk-provider|10\.0\.0\.7|upstream/);
    } finally {
      fake.setFault('none');
    }
    const wrongKey = await failure(embedder({ apiKey: 'sk-wrong-key' }).embed('anything'));
    expect(wrongKey).toMatchObject({ reason: 'status', detail: 'HTTP 401' });
    expect(`${wrongKey.message} ${wrongKey.detail}`).not.toContain('sk-wrong-key');
    expect(await failure(embedder({ apiKey: undefined }).embed('anything'))).toMatchObject({ reason: 'status', detail: 'HTTP 401' });
    expect(await failure(embedder({ url: fake.url.replace(/\/v1$/, '/v2') }).embed('anything'))).toMatchObject({ reason: 'status', detail: 'HTTP 404' });
  });

  it('an embedder that does not answer in time is `timeout`; one that is not there is `unavailable`', async () => {
    fake.setFault('hang');
    try {
      expect(await failure(embedder({ timeoutMs: 200 }).embed('anything'))).toMatchObject({ reason: 'timeout', message: 'the embedder did not answer in time' });
    } finally {
      fake.setFault('none');
    }
    const closed = await failure(embedder({ url: `http://127.0.0.1:${await freePort()}/v1` }).embed('anything'));
    expect(closed).toMatchObject({ reason: 'unavailable', message: 'the embedder did not answer' });
  });

  it('an answer of another length than the first is refused (`dimensions`), so stored vectors stay comparable', async () => {
    const e = embedder();
    expect(await e.embed('first')).toHaveLength(fake.dims);
    fake.setFault('other_dims');
    try {
      expect(await failure(e.embed('second'))).toMatchObject({ reason: 'dimensions', detail: `${fake.dims / 2} numbers, expected ${fake.dims} (the first answer's)` });
    } finally {
      fake.setFault('none');
    }
    expect(e.dimensions).toBe(fake.dims);
    expect(await e.embed('third')).toHaveLength(fake.dims);
  });

  it.each<[string, string, AgentUrlPolicy]>([
    ['a loopback embedder in production', 'http://127.0.0.1:1/v1', agentUrlPolicy('production')],
    ['cloud metadata, in any mode', 'http://169.254.169.254/v1', dev],
    ['a name resolving to a private address in production', 'http://embedder.internal/v1', agentUrlPolicy('production', async () => ['10.1.2.3'])],
    ['a name that does not resolve', 'http://nowhere.invalid/v1', agentUrlPolicy('development', async () => [])],
    ['credentials in the URL', 'http://user:pw@127.0.0.1:1/v1', dev],
    ['a scheme other than http(s)', 'ftp://127.0.0.1/v1', dev],
  ])('the outbound URL policy refuses %s before anything is sent', async (_what, url, policy) => {
    const before = fake.requests.length;
    const err = await failure(embedder({ url, policy: () => policy }).embed('anything'));
    expect(err).toMatchObject({ reason: 'refused_url', message: 'the embedder URL is not one the platform may call' });
    expect(fake.requests.length).toBe(before);
  });

  it('a dial-time check stops a name that resolves to a blocked address (the address dialled is the address checked)', async () => {
    let calls = 0;
    // The first resolution (the URL check) is harmless; the one the socket uses points at metadata.
    const rebinding = agentUrlPolicy('development', async () => (calls++ === 0 ? ['127.0.0.1'] : ['169.254.169.254']));
    const port = new URL(fake.url).port;
    const before = fake.requests.length;
    expect(await failure(embedder({ url: `http://rebind.test:${port}/v1`, policy: () => rebinding }).embed('anything'))).toMatchObject({ reason: 'unavailable' });
    expect(fake.requests.length).toBe(before);
  });

  it('3 failures in a row open the breaker for 60 s: calls fail at once without reaching the embedder; a success after it closes it', async () => {
    let now = 5_000_000;
    const e = embedder({ now: () => now });
    fake.setFault('status');
    try {
      for (let i = 0; i < 3; i++) expect((await failure(e.embed('x'))).reason).toBe('status');
    } finally {
      fake.setFault('none');
    }
    expect(e.breakerOpen).toBe(true);
    const before = fake.requests.length;
    expect(await failure(e.embed('x'))).toMatchObject({ reason: 'breaker_open' });
    expect(fake.requests.length).toBe(before);
    now += BREAKER_OPEN_MS + 1;
    expect(await e.embed('x')).toHaveLength(fake.dims);
    expect(e.breakerOpen).toBe(false);
  });
});
