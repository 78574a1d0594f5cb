import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Memory, Namespace, PluginHealth, SearchResponse, MEMORY_CAPABILITIES } from '@molecule/contracts';
import { startMemoryPlugin, type RunningMemoryPlugin } from './plugin.js';
import { freshStore, type Kind, type TestStore } from './test-support/db.js';

const silent = pino({ level: 'silent' });

interface Answer {
  status: number;
  body: Record<string, unknown> & { error?: string };
  headers: Headers;
}

async function call(base: string, method: string, path: string, body?: unknown, raw?: string): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    ...(body !== undefined || raw !== undefined ? { headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Answer['body']), headers: res.headers };
}

const ws = () => `workspace:${randomUUID()}`;
const past = () => new Date(Date.now() - 60_000).toISOString();
const future = () => new Date(Date.now() + 3_600_000).toISOString();
/** A deterministic 8-dim embedding pointing mostly along axis `i`. */
const axis = (i: number, lean = 0) => Array.from({ length: 8 }, (_, j) => (j === i ? 1 : j === (i + 1) % 8 ? lean : 0));

/**
 * The memory-plugin-v1 contract suite for the built-in plugin, run against PGlite (unit) and real
 * PostgreSQL (integration) alike.
 */
export function memoryPluginSuite(kind: Kind): void {
  describe(`memory-postgres plugin on ${kind}`, () => {
    let store: TestStore;
    let plugin: RunningMemoryPlugin;
    let base: string;
    const req = (method: string, path: string, body?: unknown, raw?: string) => call(base, method, path, body, raw);
    const namespace = async (name = ws(), body: Record<string, unknown> = {}) => {
      const r = await req('PUT', `/v1/namespaces/${name}`, { kind: name.split(':')[0], ...body });
      expect(r.status).toBe(200);
      return name;
    };
    const commit = async (ns: string, body: Record<string, unknown>) => {
      const r = await req('POST', `/v1/namespaces/${ns}/memories`, body);
      expect(r.status).toBe(201);
      return Memory.parse(r.body);
    };
    const search = async (body: Record<string, unknown>) => {
      const r = await req('POST', '/v1/search', body);
      expect(r.status).toBe(200);
      return SearchResponse.parse(r.body);
    };
    const count = async (ns: string) => Number((await store.db.query<{ n: string }>('SELECT count(*) AS n FROM memory_records WHERE namespace = $1', [ns])).rows[0]!.n);

    beforeAll(async () => {
      store = await freshStore(kind);
      plugin = await startMemoryPlugin({ db: store.db, port: 0, log: silent });
      base = plugin.url;
    });
    afterAll(async () => {
      await plugin?.close();
      await store?.drop();
    });

    it('C260: GET /v1/health is ok with the contract, version and capabilities', async () => {
      const r = await req('GET', '/v1/health');
      expect(r.status).toBe(200);
      const h = PluginHealth.parse(r.body);
      expect(h.status).toBe('ok');
      expect(h.contract).toBe('memory-plugin-v1');
      expect(h.capabilities).toEqual(expect.arrayContaining([...MEMORY_CAPABILITIES]));
      expect(h.capabilities.includes('pgvector')).toBe(plugin.embeddings === 'pgvector');
      // PGlite always has its vector extension; PostgreSQL falls back to real[] when pgvector is not installed.
      if (kind === 'pglite') expect(plugin.embeddings).toBe('pgvector');
    });

    it('C258: migrations are idempotent (a second start on the same database works and keeps the data)', async () => {
      const ns = await namespace();
      await commit(ns, { content: 'survives a restart' });
      const again = await startMemoryPlugin({ db: store.db, port: 0, log: silent });
      try {
        expect(again.embeddings).toBe(plugin.embeddings);
        const r = SearchResponse.parse((await call(again.url, 'POST', '/v1/search', { namespaces: [ns] })).body);
        expect(r.memories.map((m) => m.content)).toEqual(['survives a restart']);
      } finally {
        await again.close();
      }
    });

    it('C260: POST /v1/health, GET /v1/search, unknown paths and an empty namespace are 404', async () => {
      for (const [method, path] of [
        ['POST', '/v1/health'],
        ['GET', '/v1/search'],
        ['GET', '/v1/nothing'],
        ['GET', '/'],
        ['PUT', '/v1/namespaces/'],
        ['POST', '/v1/namespaces//memories'],
        ['DELETE', '/v1/namespaces/custom:a/memories/'],
        ['GET', '/v1/health/extra'],
      ] as const) {
        const r = await req(method, path);
        expect({ method, path, status: r.status, error: r.body.error }).toEqual({ method, path, status: 404, error: 'not found' });
      }
    });

    it('C260: a known path with another method is 405 with Allow', async () => {
      const a = await req('GET', '/v1/namespaces/custom:x');
      expect(a.status).toBe(405);
      expect(a.headers.get('allow')).toBe('PUT, PATCH, DELETE');
      const b = await req('GET', '/v1/namespaces/custom:x/memories');
      expect([b.status, b.headers.get('allow')]).toEqual([405, 'POST']);
      const c = await req('PUT', `/v1/namespaces/custom:x/memories/${randomUUID()}`, {});
      expect([c.status, c.headers.get('allow')]).toEqual([405, 'DELETE']);
    });

    it('C231: PUT creates and replaces a namespace, PATCH changes the given fields, DELETE removes it', async () => {
      const name = `team:${randomUUID()}`;
      const created = await req('PUT', `/v1/namespaces/${name}`, { kind: 'team', metadata: { a: 1 }, expires_at: future() });
      expect(created.status).toBe(200);
      const ns = Namespace.parse(created.body);
      expect(ns).toMatchObject({ name, kind: 'team', metadata: { a: 1 } });
      expect(ns.expires_at).not.toBeNull();
      const replaced = Namespace.parse((await req('PUT', `/v1/namespaces/${name}`, { kind: 'team' })).body);
      expect(replaced).toMatchObject({ name, expires_at: null, metadata: {}, created_at: ns.created_at });
      const patched = await req('PATCH', `/v1/namespaces/${name}`, { metadata: { b: 2 } });
      expect(patched.status).toBe(200);
      expect(Namespace.parse(patched.body)).toMatchObject({ metadata: { b: 2 }, expires_at: null });
      const when = future();
      const patched2 = Namespace.parse((await req('PATCH', `/v1/namespaces/${name}`, { expires_at: when })).body);
      expect([patched2.metadata, Date.parse(patched2.expires_at!)]).toEqual([{ b: 2 }, Date.parse(when)]);
      const cleared = Namespace.parse((await req('PATCH', `/v1/namespaces/${name}`, { expires_at: null })).body);
      expect(cleared.expires_at).toBeNull();
      // An encoded name is the same namespace.
      expect((await req('DELETE', `/v1/namespaces/${encodeURIComponent(name)}`)).status).toBe(204);
      expect((await req('DELETE', `/v1/namespaces/${name}`)).status).toBe(404);
      expect((await req('PATCH', `/v1/namespaces/${name}`, { metadata: {} })).status).toBe(404);
    });

    it('C232: bad namespace requests are 400 with the schema message and change nothing', async () => {
      const cases: Array<[string, string, unknown, string | RegExp, string?]> = [
        ['PUT', '/v1/namespaces/workspace:not-a-uuid', { kind: 'workspace' }, /^invalid namespace/],
        ['PUT', '/v1/namespaces/custom:UPPER', { kind: 'custom' }, /^invalid namespace/],
        ['PUT', `/v1/namespaces/custom:${'a'.repeat(65)}`, { kind: 'custom' }, /^invalid namespace/],
        ['PUT', '/v1/namespaces/custom:ok', { kind: 'team' }, 'kind team does not match the namespace name (custom)'],
        ['PUT', '/v1/namespaces/custom:ok', { kind: 'planet' }, /^kind: /],
        ['PUT', '/v1/namespaces/custom:ok', { kind: 'custom', expires_at: 'tomorrow' }, 'invalid expires_at: must be RFC3339'],
        ['PUT', '/v1/namespaces/custom:ok', { kind: 'custom', extra: 1 }, /extra/],
        ['PUT', '/v1/namespaces/custom:ok', undefined, 'a JSON body is required'],
        ['PUT', '/v1/namespaces/custom:ok', undefined, 'invalid JSON body', '{"kind":'],
        ['PUT', '/v1/namespaces/custom:ok', [], /expected object/],
        ['PATCH', '/v1/namespaces/custom:ok', {}, 'a namespace patch needs expires_at or metadata'],
        ['PATCH', '/v1/namespaces/custom:ok', { metadata: 'x' }, /^metadata: /],
        ['DELETE', '/v1/namespaces/org:1', undefined, /^invalid namespace/],
      ];
      for (const [method, path, body, message, raw] of cases) {
        const r = await req(method, path, body, raw);
        expect({ path, body, status: r.status }).toEqual({ path, body, status: 400 });
        expect(r.body.error).toMatch(message);
      }
      const rows = await store.db.query("SELECT name FROM memory_namespaces WHERE name = 'custom:ok'");
      expect(rows.rows).toEqual([]);
    });

    it('C232: bad memory writes and searches are 400 with the schema message and store nothing', async () => {
      const ns = await namespace();
      const cases: Array<[string, unknown, string | RegExp]> = [
        [`/v1/namespaces/${ns}/memories`, { content: '' }, 'content is empty'],
        [`/v1/namespaces/${ns}/memories`, { content: ' \n\t ' }, 'content is empty'],
        [`/v1/namespaces/${ns}/memories`, { content: 'x'.repeat(100_001) }, 'content is longer than 100000 characters'],
        [`/v1/namespaces/${ns}/memories`, {}, /^content: /],
        [`/v1/namespaces/${ns}/memories`, { content: 'a', kind: 'gossip' }, /^kind: /],
        [`/v1/namespaces/${ns}/memories`, { content: 'a', source: 'rumour' }, /^source: /],
        [`/v1/namespaces/${ns}/memories`, { content: 'a', id: 'not-a-uuid' }, /^id: /],
        [`/v1/namespaces/${ns}/memories`, { content: 'a', expires_at: '2026-01-01' }, 'invalid expires_at: must be RFC3339'],
        [`/v1/namespaces/${ns}/memories`, { content: 'a', embedding: [] }, /^embedding: /],
        [`/v1/namespaces/${ns}/memories`, { content: 'a', embedding: ['1'] }, /^embedding\.0: /],
        [`/v1/namespaces/${ns}/memories`, { content: 'a', embedding: new Array(4097).fill(1) }, /^embedding: /],
        [`/v1/namespaces/${ns}/memories`, { content: 'a', vector: [1] }, /vector/],
        ['/v1/namespaces/custom:Bad/memories', { content: 'a' }, /^invalid namespace/],
        ['/v1/search', { namespaces: [] }, 'namespaces must name at least one namespace'],
        ['/v1/search', {}, /^namespaces: /],
        ['/v1/search', { namespaces: ['custom:BAD'] }, /^invalid namespace/],
        ['/v1/search', { namespaces: [ns], limit: 0 }, /^limit: /],
        ['/v1/search', { namespaces: [ns], limit: 101 }, /^limit: /],
        ['/v1/search', { namespaces: [ns], kinds: ['gossip'] }, /^kinds\.0: /],
        ['/v1/search', { namespaces: [ns], embedding: [0, 0, 0] }, 'embedding must not be all zeros'],
      ];
      for (const [path, body, message] of cases) {
        const r = await req('POST', path, body);
        expect({ path, body: JSON.stringify(body).slice(0, 80), status: r.status }).toEqual({ path, body: JSON.stringify(body).slice(0, 80), status: 400 });
        expect(r.body.error).toMatch(message);
      }
      const big = await req('POST', `/v1/namespaces/${ns}/memories`, undefined, JSON.stringify({ content: 'x', metadata: { pad: 'y'.repeat(3 * 1024 * 1024) } }));
      expect([big.status, big.body.error]).toEqual([413, 'body larger than 2097152 bytes']);
      expect(await count(ns)).toBe(0);
    });

    it('C233: a write without id gets a new one (201); with an id it upserts: 201 new, 200 existing, one row', async () => {
      const ns = await namespace();
      const a = await commit(ns, { content: 'first', metadata: { n: 1 } });
      expect(a).toMatchObject({ namespace: ns, content: 'first', kind: 'fact', source: 'agent', metadata: { n: 1 }, expires_at: null });
      const b = await commit(ns, { content: 'first' });
      expect(b.id).not.toBe(a.id);

      const id = randomUUID();
      const created = await req('POST', `/v1/namespaces/${ns}/memories`, { id, content: 'v1', kind: 'note' });
      expect(created.status).toBe(201);
      const first = Memory.parse(created.body);
      const again = await req('POST', `/v1/namespaces/${ns}/memories`, { id, content: 'v2', kind: 'decision', source: 'user', metadata: { v: 2 } });
      expect(again.status).toBe(200);
      const second = Memory.parse(again.body);
      expect(second).toMatchObject({ id, content: 'v2', kind: 'decision', source: 'user', metadata: { v: 2 }, created_at: first.created_at });
      const repeat = await req('POST', `/v1/namespaces/${ns}/memories`, { id, content: 'v2', kind: 'decision', source: 'user', metadata: { v: 2 } });
      expect(repeat.status).toBe(200);
      expect(await count(ns)).toBe(3);
      const rows = (await search({ namespaces: [ns], query: 'v2' })).memories;
      expect(rows.map((m) => m.id)).toEqual([id]);
    });

    it('C233 (refinement): an id that exists in another namespace is 409 and is not moved; an unknown namespace is 404', async () => {
      const home = await namespace();
      const other = await namespace();
      const m = await commit(home, { content: 'mine' });
      const r = await req('POST', `/v1/namespaces/${other}/memories`, { id: m.id, content: 'stolen' });
      expect([r.status, r.body.error]).toEqual([409, 'a memory with this id exists in another namespace']);
      expect(await count(other)).toBe(0);
      const still = await search({ namespaces: [home] });
      expect(still.memories.map((x) => [x.id, x.content])).toEqual([[m.id, 'mine']]);
      const unknown = await req('POST', `/v1/namespaces/${ws()}/memories`, { content: 'lost' });
      expect([unknown.status, unknown.body.error]).toEqual([404, 'namespace not found']);
    });

    it('C233: writes sent together (stored in one statement) each answer as alone: new, same id twice, unknown namespace, an id living elsewhere', async () => {
      const ns = await namespace();
      const elsewhere = await commit(await namespace(), { content: 'lives elsewhere' });
      const twice = randomUUID();
      const answers = await Promise.all([
        ...Array.from({ length: 10 }, (_, i) => req('POST', `/v1/namespaces/${ns}/memories`, { content: `burst ${i}` })),
        req('POST', `/v1/namespaces/${ws()}/memories`, { content: 'no such namespace' }),
        req('POST', `/v1/namespaces/${ns}/memories`, { id: twice, content: 'same id, first' }),
        req('POST', `/v1/namespaces/${ns}/memories`, { id: twice, content: 'same id, second' }),
        req('POST', `/v1/namespaces/${ns}/memories`, { id: elsewhere.id, content: 'trying to move it' }),
      ]);
      expect(answers.slice(0, 10).map((a) => a.status)).toEqual(new Array(10).fill(201));
      expect(answers[10]!.status).toBe(404);
      expect([answers[11]!.status, answers[12]!.status].sort()).toEqual([200, 201]);
      expect(answers[13]!.status).toBe(409);
      expect(await count(ns)).toBe(11);
      const kept = await store.db.query<{ content: string; namespace: string }>('SELECT content, namespace FROM memory_records WHERE id = ANY($1::uuid[]) ORDER BY content', [[twice, elsewhere.id]]);
      expect(kept.rows).toEqual([
        { content: 'lives elsewhere', namespace: elsewhere.namespace },
        { content: expect.stringMatching(/^same id, (first|second)$/) as string, namespace: ns },
      ]);
    });

    it('C231: DELETE a memory is 204 once, then 404; another namespace or a non-uuid id is 404 and deletes nothing', async () => {
      const ns = await namespace();
      const other = await namespace();
      const m = await commit(ns, { content: 'forget me' });
      expect((await req('DELETE', `/v1/namespaces/${other}/memories/${m.id}`)).status).toBe(404);
      expect((await req('DELETE', `/v1/namespaces/${ns}/memories/not-a-uuid`)).status).toBe(404);
      expect(await count(ns)).toBe(1);
      expect((await req('DELETE', `/v1/namespaces/${ns}/memories/${m.id}`)).status).toBe(204);
      expect(await count(ns)).toBe(0);
      const again = await req('DELETE', `/v1/namespaces/${ns}/memories/${m.id}`);
      expect([again.status, again.body.error]).toEqual([404, 'memory not found']);
    });

    it('C258: deleting a namespace deletes its memories (cascade), and leaves other namespaces alone', async () => {
      const ns = await namespace();
      const keep = await namespace();
      await commit(ns, { content: 'one' });
      await commit(ns, { content: 'two' });
      await commit(keep, { content: 'kept' });
      expect((await req('DELETE', `/v1/namespaces/${ns}`)).status).toBe(204);
      expect(await count(ns)).toBe(0);
      expect(await count(keep)).toBe(1);
      expect((await search({ namespaces: [ns, keep] })).memories.map((m) => m.content)).toEqual(['kept']);
    });

    it('C259: an embedding searches semantically, ranked by cosine similarity, over memories with embeddings of that size', async () => {
      const ns = await namespace();
      await commit(ns, { content: 'north', embedding: axis(0) });
      await commit(ns, { content: 'north-east', embedding: axis(0, 1) });
      await commit(ns, { content: 'east', embedding: axis(1) });
      await commit(ns, { content: 'no embedding' });
      await commit(ns, { content: 'other size', embedding: [1, 0, 0] });
      await commit(ns, { content: 'zero vector', embedding: new Array(8).fill(0) });
      const r = await search({ namespaces: [ns], embedding: axis(0).map((x) => x * 5), query: 'ignored when an embedding is given' });
      expect(r.mode).toBe('semantic');
      expect(r.memories.map((m) => m.content)).toEqual(['north', 'north-east', 'east']);
      const scores = r.memories.map((m) => m.score!);
      expect(scores[0]).toBeCloseTo(1, 5);
      expect(scores[1]).toBeCloseTo(Math.SQRT1_2, 5);
      expect(scores[2]).toBeCloseTo(0, 5);
      expect((await search({ namespaces: [ns], embedding: axis(0), limit: 1 })).memories.map((m) => m.content)).toEqual(['north']);
    });

    it('C259: a semantic search narrowed to one small namespace among many vectors still fills its limit with the nearest, in order; pgvector gets an HNSW index for the dimension', async () => {
      let seed = 7;
      const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
      const vec = () => Array.from({ length: 16 }, rand);
      const crowd = await namespace();
      const mine = await namespace();
      const own: { content: string; embedding: number[] }[] = Array.from({ length: 12 }, (_, i) => ({ content: `mine ${i}`, embedding: vec() }));
      for (let i = 0; i < 400; i += 20) await Promise.all(Array.from({ length: 20 }, () => commit(crowd, { content: 'crowd', embedding: vec() })));
      await Promise.all(own.map((m) => commit(mine, m)));
      const q = vec();
      const cos = (a: number[]) => a.reduce((n, x, i) => n + x * q[i]!, 0) / Math.hypot(...a) / Math.hypot(...q);
      const nearest = [...own].sort((a, b) => cos(b.embedding) - cos(a.embedding)).slice(0, 10).map((m) => m.content);
      const r = await search({ namespaces: [mine], embedding: q, limit: 10 });
      expect(r.memories.map((m) => m.content)).toEqual(nearest);
      const health = await req('GET', '/v1/health');
      if ((health.body.capabilities as string[]).includes('pgvector')) {
        const idx = await store.db.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE indexname = 'memory_records_hnsw_16'");
        expect(idx.rows[0]?.indexdef).toMatch(/USING hnsw .*vector_cosine_ops.*WHERE \(vector_dims\(embedding\) = 16\)/);
      }
    });

    it('C259: a query of 2+ characters searches full text (english stemming), ranked, with a score', async () => {
      const ns = await namespace();
      await commit(ns, { content: 'The deploy pipeline runs on Fridays' });
      await commit(ns, { content: 'Deploying twice: deploy, deploy again' });
      await commit(ns, { content: 'Lunch is at noon' });
      const r = await search({ namespaces: [ns], query: 'deployed' });
      expect(r.mode).toBe('fulltext');
      expect(r.memories.map((m) => m.content)).toEqual(['Deploying twice: deploy, deploy again', 'The deploy pipeline runs on Fridays']);
      expect(r.memories[0]!.score!).toBeGreaterThan(r.memories[1]!.score!);
      expect(r.memories[1]!.score!).toBeGreaterThan(0);
      expect((await search({ namespaces: [ns], query: '"noon lunch"' })).memories).toEqual([]);
      expect((await search({ namespaces: [ns], query: 'lunch -pizza' })).memories.map((m) => m.content)).toEqual(['Lunch is at noon']);
    });

    it('C259: a 1-character query is a case-insensitive substring match (wildcards taken literally); no query lists the most recent', async () => {
      const ns = await namespace();
      const a = await commit(ns, { content: 'Alpha' });
      const b = await commit(ns, { content: 'beta' });
      const c = await commit(ns, { content: '100% sure' });
      const sub = await search({ namespaces: [ns], query: 'a' });
      expect(sub.mode).toBe('substring');
      expect(sub.memories.map((m) => m.id).sort()).toEqual([a.id, b.id].sort());
      expect(sub.memories.every((m) => m.score === undefined)).toBe(true);
      expect((await search({ namespaces: [ns], query: '%' })).memories.map((m) => m.id)).toEqual([c.id]);
      expect((await search({ namespaces: [ns], query: '_' })).memories).toEqual([]);
      const recent = await search({ namespaces: [ns] });
      expect(recent.mode).toBe('recent');
      expect(recent.memories.map((m) => m.id)).toEqual([c.id, b.id, a.id]);
      expect((await search({ namespaces: [ns], query: '  ' })).mode).toBe('recent');
      expect((await search({ namespaces: [ns], limit: 2 })).memories.map((m) => m.id)).toEqual([c.id, b.id]);
    });

    it('C259: the kinds filter applies on every path', async () => {
      const ns = await namespace();
      await commit(ns, { content: 'kind fact x', kind: 'fact', embedding: axis(2) });
      await commit(ns, { content: 'kind decision x', kind: 'decision', embedding: axis(2) });
      await commit(ns, { content: 'kind note x', kind: 'note', embedding: axis(2) });
      for (const probe of [{ embedding: axis(2) }, { query: 'kind' }, { query: 'x' }, {}]) {
        const r = await search({ namespaces: [ns], kinds: ['decision', 'note'], ...probe });
        expect({ probe, contents: r.memories.map((m) => m.content).sort() }).toEqual({ probe, contents: ['kind decision x', 'kind note x'] });
      }
    });

    it('C259: expired memories and the memories of an expired namespace are excluded on every path', async () => {
      const ns = await namespace();
      await commit(ns, { content: 'stale zebra z', expires_at: past(), embedding: axis(3) });
      await commit(ns, { content: 'fresh zebra z', expires_at: future(), embedding: axis(3) });
      await commit(ns, { content: 'timeless zebra z', embedding: axis(3) });
      const gone = await namespace(ws(), { expires_at: future() });
      await commit(gone, { content: 'expired namespace zebra z', embedding: axis(3) });
      expect((await req('PATCH', `/v1/namespaces/${gone}`, { expires_at: past() })).status).toBe(200);
      for (const probe of [{ embedding: axis(3) }, { query: 'zebra' }, { query: 'z' }, {}]) {
        const r = await search({ namespaces: [ns, gone], ...probe });
        expect({ probe, contents: r.memories.map((m) => m.content).sort() }).toEqual({ probe, contents: ['fresh zebra z', 'timeless zebra z'] });
      }
    });

    it('lists everything in id order with after_id, page by page, over several namespaces, expired excluded; after_id takes no query or embedding', async () => {
      const [one, two] = [await namespace(), await namespace()];
      const made = [];
      for (let i = 0; i < 7; i++) made.push(await commit(i % 2 === 0 ? one : two, { content: `item ${i}` }));
      await commit(one, { content: 'expired item', expires_at: past() });
      const seen: string[] = [];
      let after = '00000000-0000-0000-0000-000000000000';
      for (;;) {
        const page = await search({ namespaces: [one, two], after_id: after, limit: 3 });
        expect(page.mode).toBe('list');
        seen.push(...page.memories.map((m) => m.id));
        if (page.memories.length < 3) break;
        after = page.memories[2]!.id;
      }
      expect(seen).toEqual(made.map((m) => m.id).sort());
      for (const bad of [{ after_id: 'not-a-uuid' }, { after_id: after, query: 'item' }, { after_id: after, embedding: axis(1) }]) {
        const r = await req('POST', '/v1/search', { namespaces: [one], ...bad });
        expect(r.status).toBe(400);
        expect((r.body as { error: string }).error).toMatch(/after_id/);
      }
    });

    it('keeps the created_at a write gives (an import keeps its date), and an upsert never changes it', async () => {
      const ns = await namespace();
      const m = await commit(ns, { content: 'from the old system', created_at: '2024-02-03T04:05:06Z', source: 'import' });
      expect(m.created_at).toBe('2024-02-03T04:05:06.000Z');
      const again = await req('POST', `/v1/namespaces/${ns}/memories`, { id: m.id, content: 'from the old system, edited', created_at: '2025-01-01T00:00:00Z' });
      expect(again.status).toBe(200);
      expect(Memory.parse(again.body).created_at).toBe('2024-02-03T04:05:06.000Z');
      const bad = await req('POST', `/v1/namespaces/${ns}/memories`, { content: 'x', created_at: 'yesterday' });
      expect(bad.status).toBe(400);
      expect(await count(ns)).toBe(1);
    });

    it('C259: a search only sees the namespaces it names', async () => {
      const mine = await namespace();
      const theirs = await namespace();
      await commit(mine, { content: 'shared word' });
      await commit(theirs, { content: 'shared word' });
      const r = await search({ namespaces: [mine, `custom:${randomUUID().slice(0, 8)}`], query: 'shared' });
      expect(r.memories.map((m) => m.namespace)).toEqual([mine]);
    });

    it('C260: health says degraded with a detail when the database is gone, and other routes answer 500 without internals', async () => {
      const own = await freshStore(kind);
      const p = await startMemoryPlugin({ db: own.db, port: 0, log: silent });
      try {
        const ns = `custom:degraded-${randomUUID().slice(0, 8)}`;
        expect((await call(p.url, 'PUT', `/v1/namespaces/${ns}`, { kind: 'custom' })).status).toBe(200);
        await own.kill();
        const h = await call(p.url, 'GET', '/v1/health');
        expect(h.status).toBe(200);
        expect(PluginHealth.parse(h.body)).toMatchObject({ status: 'degraded', detail: 'database unreachable', contract: 'memory-plugin-v1' });
        const w = await call(p.url, 'POST', `/v1/namespaces/${ns}/memories`, { content: 'lost' });
        expect([w.status, w.body]).toEqual([500, { error: 'internal error' }]);
        const s = await call(p.url, 'POST', '/v1/search', { namespaces: [ns], query: 'lost' });
        expect([s.status, s.body]).toEqual([500, { error: 'internal error' }]);
      } finally {
        await p.close();
        await own.drop();
      }
    });
  });
}
