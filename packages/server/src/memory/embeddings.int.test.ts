import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createPgliteMemoryDb, startMemoryPlugin, type MemoryDb, type RunningMemoryPlugin } from '@molecule/memory-postgres';
import { mintWorkspaceToken } from '../auth/repo.js';
import { createLogger } from '../log.js';
import { bearer, createExternal, sender } from '../test-support/api.js';
import { startFakeEmbeddings, type FakeEmbeddings } from '../test-support/fake-embeddings.js';
import { startFakeMemoryPlugin } from '../test-support/fake-memory-plugin.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';

type Item = { id: string; content: string; similarity_score?: number };

// Issue #14, memory embeddings: with MEMORY_EMBEDDINGS_* set and a store that ranks by embeddings
// (the built-in store, packages/memory-postgres on embedded PGlite, lists `embedding`), the platform
// embeds what it stores (after redaction) and what is asked, so a search finds by meaning; an
// embedder that fails costs the ranking, never the write or the search.
describe('memory embeddings on the built-in store (#14)', () => {
  let store: MemoryDb;
  let plugin: RunningMemoryPlugin;
  let embeddings: FakeEmbeddings;
  let t: TestApp;
  const log = createLogger({ level: 'silent', pretty: false });
  const apps: TestApp[] = [];
  const clients: Client[] = [];
  const fakes: { close(): Promise<void> }[] = [];

  /** A platform on the shared store, embedding with `url` (or not at all). */
  async function platform(url: string | undefined, memoryPluginUrl = plugin.url): Promise<TestApp> {
    const app = await startTestApp({ config: { memoryPluginUrl, memoryEmbeddings: url ? { url, model: 'fake-embed-1', apiKey: undefined } : undefined } });
    apps.push(app);
    return app;
  }
  const embedded = async (id: string) => (await store.query<{ has: boolean }>('SELECT embedding IS NOT NULL AS has FROM memory_records WHERE id = $1', [id])).rows[0]?.has;
  const remember = async (app: TestApp, ws: string, content: string) => {
    const r = await sender(() => app)('POST', `/workspaces/${ws}/memories`, { content });
    expect(r.statusCode, r.body).toBe(201);
    return (r.json() as { id: string }).id;
  };
  const search = async (app: TestApp, ws: string, q: string) => {
    const r = await sender(() => app)('GET', `/workspaces/${ws}/memories?q=${encodeURIComponent(q)}`);
    expect(r.statusCode, r.body).toBe(200);
    return r.json() as Item[];
  };
  const counted = async (app: TestApp) => {
    const m = await app.deps.metrics.registry.getSingleMetric('molecule_memory_embeddings_total')!.get();
    return Object.fromEntries(m.values.map((v) => [`${v.labels.op}:${v.labels.outcome}`, v.value]));
  };
  async function mcp(app: TestApp, id: string) {
    const base = app.app.server.listening ? `http://127.0.0.1:${(app.app.server.address() as { port: number }).port}` : await app.app.listen({ port: 0, host: '127.0.0.1' });
    const client = new Client({ name: 'test-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/workspaces/${id}/mcp`), { requestInit: { headers: bearer((await mintWorkspaceToken(app.db, id)).token) } }));
    clients.push(client);
    return async (name: string, args: Record<string, unknown>) => {
      const r = (await client.callTool({ name, arguments: args })) as { content: { text: string }[]; isError?: boolean };
      expect(r.isError, r.content[0]!.text).not.toBe(true);
      return JSON.parse(r.content[0]!.text) as unknown;
    };
  }

  beforeAll(async () => {
    store = await createPgliteMemoryDb();
    plugin = await startMemoryPlugin({ db: store, port: 0, log });
    embeddings = await startFakeEmbeddings();
    t = await platform(embeddings.url);
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    for (const a of apps) {
      await a.close();
      await a.deps.embedder?.close();
    }
    for (const f of fakes) await f.close();
    await embeddings?.close();
    await plugin?.close();
    await store?.close();
  });

  it('C238 C259 a query that shares no word with a memory finds it first, by meaning, with its cosine similarity (HTTP and MCP); full text alone finds nothing', async () => {
    const ws = await createExternal(t, { name: 'semantic' });
    const launch = await remember(t, ws.id, 'The launch moved to Friday.');
    await remember(t, ws.id, 'Billing runs on Postgres.');
    await remember(t, ws.id, 'Dana owns the onboarding docs.');
    expect(await embedded(launch)).toBe(true);

    const found = await search(t, ws.id, 'when is the product release being delayed');
    expect(found).toHaveLength(3);
    expect(found[0]).toMatchObject({ id: launch, content: 'The launch moved to Friday.', similarity_score: expect.any(Number) });
    const scores = found.map((m) => m.similarity_score!);
    expect(scores[0]).toBeGreaterThan(0.3);
    expect(scores[0]).toBeLessThanOrEqual(1);
    expect(scores[0]).toBeGreaterThan(scores[1]!);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));

    const asAgent = await mcp(t, ws.id);
    const viaTool = (await asAgent('search_memory', { query: 'when will we ship' })) as { id: string; score?: number }[];
    expect(viaTool[0]).toMatchObject({ id: launch, score: expect.any(Number) });
    const stored = (await asAgent('commit_memory_v2', { content: 'Dana is away until June.' })) as { id: string };
    expect(await embedded(stored.id)).toBe(true);
    expect(((await asAgent('search_memory', { query: 'who is on vacation' })) as { id: string }[])[0]!.id).toBe(stored.id);

    // The same question on a platform without embeddings: full text finds no word of it.
    const plain = await platform(undefined);
    const other = await createExternal(plain, { name: 'plain' });
    await remember(plain, other.id, 'The launch moved to Friday.');
    expect(await search(plain, other.id, 'when is the product release being delayed')).toEqual([]);
    expect(await counted(t)).toMatchObject({ 'commit:embedded': expect.any(Number), 'search:embedded': expect.any(Number) });
  });

  it('C241 the embedding is computed from the redacted text: no secret of a memory or a query reaches the embedder', async () => {
    const ws = await createExternal(t, { name: 'redacted' });
    const before = embeddings.requests.length;
    await remember(t, ws.id, 'deploy with ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnopqrstuvwxyz');
    await (await mcp(t, ws.id))('commit_memory_v2', { content: 'the bot token is xoxb-1234567890-abcdefghij' });
    await search(t, ws.id, 'which key is ghp_abcdefghijklmnopqrstuvwxyz0123456789');
    const sent = embeddings.requests.slice(before).map((r) => r.input as string);
    expect(sent).toEqual([
      'deploy with ANTHROPIC_API_KEY=[REDACTED:ASSIGNMENT]',
      'the bot token is [REDACTED:API_KEY]',
      'which key is [REDACTED:API_KEY]',
    ]);
  });

  it('an embedder that fails: the commit is stored without an embedding, the search falls back to the text ladder, no error, counted; back again, a memory stored meanwhile is still found, after the ranked ones', async () => {
    const flaky = await startFakeEmbeddings();
    fakes.push(flaky);
    const app = await platform(flaky.url);
    const ws = await createExternal(app, { name: 'fallback' });
    const ranked = await remember(app, ws.id, 'The launch moved to Friday.');

    flaky.setFault('status');
    const meanwhile = await remember(app, ws.id, 'The launch party is in the atrium.');
    expect(await embedded(meanwhile)).toBe(false);
    const byText = await search(app, ws.id, 'launch');
    expect(byText.map((m) => m.id).sort()).toEqual([ranked, meanwhile].sort());
    expect(await counted(app)).toMatchObject({ 'commit:status': 1, 'search:status': 1 });

    flaky.setFault('none');
    await remember(app, ws.id, 'Billing runs on Postgres.');
    const found = await search(app, ws.id, 'launch');
    expect(found[0]).toMatchObject({ id: ranked, similarity_score: expect.any(Number) });
    // Not embedded, so not ranked by meaning: the text ladder adds it after the ranked ones, unscored.
    expect(found.at(-1)).toEqual(expect.not.objectContaining({ similarity_score: expect.anything() }));
    expect(found.at(-1)!.id).toBe(meanwhile);
  });

  it('an embedder that changes its dimension: the platform refuses the new vectors, so the commit is stored without one and the search answers by text', async () => {
    const changing = await startFakeEmbeddings();
    fakes.push(changing);
    const app = await platform(changing.url);
    const ws = await createExternal(app, { name: 'dims' });
    const first = await remember(app, ws.id, 'The quarterly review is in the atrium.');
    changing.setFault('other_dims');
    const second = await remember(app, ws.id, 'The quarterly budget is due.');
    expect([await embedded(first), await embedded(second)]).toEqual([true, false]);
    expect((await search(app, ws.id, 'quarterly')).map((m) => m.id).sort()).toEqual([first, second].sort());
    expect(await counted(app)).toMatchObject({ 'commit:embedded': 1, 'commit:dimensions': 1, 'search:dimensions': 1 });
    const dims = await store.query<{ n: number }>('SELECT vector_dims(embedding) AS n FROM memory_records WHERE id = $1', [first]);
    expect(dims.rows[0]!.n).toBe(changing.dims);
  });

  // Each of these starts a platform of its own (a fresh database and its migrations): one per test keeps each well inside its time on a loaded machine.
  it('C238 a store without the embedding capability never gets embeddings and the embedder is not called', async () => {
    const noCap = await startFakeMemoryPlugin();
    fakes.push(noCap);
    const app = await platform(embeddings.url, noCap.url);
    const ws = await createExternal(app, { name: 'no-capability' });
    const before = embeddings.requests.length;
    await remember(app, ws.id, 'The launch moved to Friday.');
    expect((await search(app, ws.id, 'launch')).map((m) => m.content)).toEqual(['The launch moved to Friday.']);
    expect(embeddings.requests.length).toBe(before);
    expect(noCap.requests.some((r) => JSON.stringify(r.body ?? {}).includes('embedding'))).toBe(false);
  });

  it('C238 a store that refuses an embedding still gets the memory and answers by text', async () => {
    const refusing = await startFakeMemoryPlugin({ capabilities: ['fts', 'embedding'], refuseEmbeddings: true });
    fakes.push(refusing);
    const app2 = await platform(embeddings.url, refusing.url);
    const ws2 = await createExternal(app2, { name: 'refusing' });
    const before = embeddings.requests.length;
    const id = await remember(app2, ws2.id, 'The launch moved to Friday.');
    expect(refusing.memories.get(id)!.content).toBe('The launch moved to Friday.');
    expect((await search(app2, ws2.id, 'launch')).map((m) => m.id)).toEqual([id]);
    // Both went to the embedder; the store said no to the vectors, not to the memory or the search.
    expect(embeddings.requests.length).toBe(before + 2);
  });

  it('without MEMORY_EMBEDDINGS_* nothing changes: no embedder is built, nothing is embedded, even on a store that could rank by it', async () => {
    const app = await platform(undefined);
    expect(app.deps.embedder).toBeUndefined();
    const ws = await createExternal(app, { name: 'off' });
    const before = embeddings.requests.length;
    const id = await remember(app, ws.id, 'The launch moved to Friday.');
    expect(await embedded(id)).toBe(false);
    expect((await search(app, ws.id, 'launch')).map((m) => m.id)).toEqual([id]);
    expect(embeddings.requests.length).toBe(before);
  });
});
