import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { bearer, createExternal, json } from '../test-support/api.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { startFakeMemoryPlugin, type FakeMemoryPlugin } from '../test-support/fake-memory-plugin.js';
import { MemoryPluginClient } from '../memory/client.js';
import { documentedOperations, LONG_LIVED_OPERATIONS, leaksIn, sample, urlOf, type Operation, type Schema } from '../test-support/openapi.js';

/**
 * A fuzzer generated from `/openapi.json`: every operation the server documents gets malformed JSON,
 * wrong types per field, missing required fields, unknown fields, oversize strings and bodies,
 * unicode and NUL bytes, path parameters that are not UUIDs, traversal strings, huge and negative
 * numbers. Every answer must be a client error or a success: never a 5xx the platform does not
 * mean, never a body with a stack, SQL, a file path or this machine's name; a refused request
 * changes no row; the platform stays healthy. Fixed seed in CI (FUZZ_SEED), FUZZ_RUNS per operation.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
const RUNS = Number(process.env.FUZZ_RUNS ?? 12);

/** 5xx answers the platform means (C221 and the A2A proxy's documented refusals), each with its code. */
const MEANT_5XX = new Set(['agent_unavailable', 'agent_busy', 'agent_unreachable', 'agent_timeout', 'agent_error', 'platform_unavailable']);

/** Hostile values of every JSON type. */
const hostile = fc.oneof(
  fc.constantFrom(
    null,
    true,
    -1,
    0,
    -2_147_483_649,
    Number.MAX_SAFE_INTEGER,
    1e308,
    1.5,
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    'a\ud800b',
    '../../../../etc/passwd',
    '..%2f..%2fetc%2fpasswd',
    '%00',
    "'; DROP TABLE workspaces; --",
    '\ud83d\ude00\u202e\u0301',
    'x'.repeat(70_000),
    [],
    [1, 'a', null],
    {},
    { constructor: { prototype: { polluted: true } } },
  ),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.integer(),
  fc.double(),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
);

/** A hostile path parameter: never a known id. */
const hostileParam = fc.oneof(
  fc.constantFrom('not-a-uuid', '..', '../..', '%2e%2e%2f%2e%2e', '%00', 'a%00b', 'x'.repeat(5000), '-1', '99999999999999999999', '00000000-0000-0000-0000-00000000000g'),
  fc.uuid(),
  fc.string({ minLength: 1, maxLength: 40 }).map(enc),
);

/** One mutation of a JSON body built from the schema. */
function bodyArb(schema: Schema | undefined): fc.Arbitrary<string | undefined> {
  const base = (sample(schema) ?? {}) as Record<string, unknown>;
  const keys = Object.keys(schema?.properties ?? {});
  const required = schema?.required ?? [];
  const asJson = (v: unknown) => JSON.stringify(v);
  const variants: fc.Arbitrary<string | undefined>[] = [
    fc.constant(undefined),
    fc.constantFrom('{', '{"a":', 'null', '[]', '"text"', '1e999', '{"a":1}{"b":2}', '\u0000', '{"__proto__":{"polluted":true}}', `{"x":"${'y'.repeat(2 * 1024 * 1024)}"}`),
    hostile.map(asJson),
    fc.string({ maxLength: 20 }).chain((k) => hostile.map((v) => asJson({ ...base, [`unknown_${k}`]: v }))),
  ];
  if (keys.length > 0) variants.push(fc.constantFrom(...keys).chain((k) => hostile.map((v) => asJson({ ...base, [k]: v }))));
  if (required.length > 0) {
    variants.push(
      fc.constantFrom(...required).map((k) => {
        const copy = { ...base };
        delete copy[k];
        return asJson(copy);
      }),
    );
  }
  return fc.oneof(...variants);
}

/** Percent-encodes any string; a lone surrogate (which encodeURIComponent refuses) is sent as the invalid UTF-8 bytes of one. */
const LONE_SURROGATE = /([\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff])/;
function enc(s: string): string {
  return s
    .split(LONE_SURROGATE)
    .map((piece, i) => (i % 2 === 1 ? '%ED%A0%80' : encodeURIComponent(piece)))
    .join('');
}

function queryArb(query: Record<string, Schema>): fc.Arbitrary<string> {
  const keys = Object.keys(query);
  const pair = fc.tuple(keys.length > 0 ? fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 6 })) : fc.string({ maxLength: 6 }), hostile);
  return fc.array(pair, { maxLength: 3 }).map((pairs) =>
    pairs.map(([k, v]) => `${enc(k)}=${enc(typeof v === 'string' ? v.slice(0, 3000) : JSON.stringify(v) ?? '')}`).join('&'),
  );
}

/** `credential` routes only the path workspace's own token passes (its inbox, its agent socket): fuzzed with that token, so the fuzz gets past auth. */
const OWN_TOKEN_OPERATIONS: ReadonlySet<string> = new Set(['GET /workspaces/{id}/inbox', 'POST /workspaces/{id}/inbox/{message_id}/reply', 'GET /workspaces/{id}/agent-socket']);

describe('fuzzer generated from /openapi.json', () => {
  let t: TestApp;
  let ops: Operation[];

  /** Row counts of every table, to prove a refused request wrote nothing. */
  const snapshot = async () =>
    (
      await t.db.query<{ s: string }>(
        `SELECT concat_ws(',', (SELECT count(*) FROM workspaces), (SELECT max(updated_at)::text FROM workspaces),
                (SELECT count(*) FROM workspace_auth_tokens WHERE revoked_at IS NULL), (SELECT count(*) FROM org_api_tokens WHERE revoked_at IS NULL),
                (SELECT count(*) FROM structure_events), (SELECT count(*) FROM activity_logs), (SELECT count(*) FROM a2a_queue),
                (SELECT count(*) FROM delegations), (SELECT count(*) FROM canvas_sessions)) AS s`,
      )
    ).rows[0]!.s;

  /** Waits until background work started by an accepted request has settled (two equal snapshots). */
  const settle = async () => {
    let prev = await snapshot();
    for (let i = 0; i < 50; i++) {
      await t.deps.a2a.drainer.idle();
      await new Promise((r) => setTimeout(r, 15));
      const next = await snapshot();
      if (next === prev) return prev;
      prev = next;
    }
    return prev;
  };

  /** One unanswered message in an external workspace's inbox (a non-blocking send from the admin). */
  const seedInbox = async (id: string) => {
    const message = { kind: 'message', role: 'user', messageId: `fuzz-${id}`, parts: [{ kind: 'text', text: 'fuzz' }] };
    const r = await t.app.inject({
      method: 'POST',
      url: `/workspaces/${id}/a2a`,
      headers: { ...t.admin, 'content-type': 'application/json' },
      payload: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message, configuration: { blocking: false } } }),
    });
    expect(r.json()).toMatchObject({ status: 'queued', delivery_mode: 'poll' });
  };

  let memoryPlugin: FakeMemoryPlugin;
  beforeAll(async () => {
    // A memory store, so memory routes are fuzzed as they run when configured (not 501).
    memoryPlugin = await startFakeMemoryPlugin();
    t = await startTestApp({ tweak: (deps) => void (deps.memory = new MemoryPluginClient(memoryPlugin.url)) });
    ops = await documentedOperations(t.app);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await memoryPlugin?.close();
  });

  it('reads every documented operation', () => {
    expect(ops.length).toBeGreaterThan(30);
    expect(ops.map((o) => `${o.method} ${o.path}`)).toContain('POST /workspaces');
    expect(ops.find((o) => o.method === 'POST' && o.path === '/workspaces')!.body?.properties).toHaveProperty('name');
  });

  it('no operation answers garbage with an unmeant 5xx or internals, and refused requests write nothing', async () => {
    const failures: string[] = [];
    for (const op of ops) {
      const key = `${op.method} ${op.path}`;
      if (LONG_LIVED_OPERATIONS.has(key)) continue;
      // A fresh target per operation: an earlier one may have rotated, revoked or removed the last.
      const target = await createExternal(t, { name: `fuzz-${ops.indexOf(op)}` });
      const auth = op.access === 'agent' || OWN_TOKEN_OPERATIONS.has(key) ? bearer(target.token) : t.admin;
      // A message in the inbox: a long-poll with any wait answers at once instead of waiting it out.
      if (key === 'GET /workspaces/{id}/inbox') await seedInbox(target.id);
      const paramArb = fc.array(fc.oneof(fc.constant(target.id), hostileParam), { minLength: op.pathParams.length, maxLength: op.pathParams.length });
      await fc.assert(
        fc.asyncProperty(paramArb, queryArb(op.query), bodyArb(op.body), async (params, query, body) => {
          let url = urlOf(op, params);
          if (query) url += `?${query}`;
          const before = await settle();
          const res = await t.app.inject({
            method: op.method as 'POST',
            url,
            headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
            ...(body !== undefined ? { payload: body } : {}),
          });
          const where = `${op.method} ${url.slice(0, 160)} body=${(body ?? '').slice(0, 120)} -> ${res.statusCode} ${res.body.slice(0, 200)}`;
          if (res.statusCode >= 500) {
            let code: unknown;
            try {
              code = (JSON.parse(res.body) as { code?: unknown }).code;
            } catch {
              code = undefined;
            }
            if (res.statusCode === 500 || !MEANT_5XX.has(String(code))) failures.push(`5xx: ${where}`);
          }
          for (const what of leaksIn(res.body, res.headers['content-type'])) failures.push(`${what} in the answer: ${where}`);
          if (res.statusCode >= 400 && res.statusCode < 500 && (await settle()) !== before) failures.push(`a refused request changed rows: ${where}`);
          return true;
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
      if (failures.length > 20) break;
    }
    expect((await t.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    expect(failures).toEqual([]);
  }, 600_000);

  describe('findings, each pinned', () => {
    let targetId: string;
    let agentToken: string;
    beforeAll(async () => {
      ({ id: targetId, token: agentToken } = await createExternal(t, { name: 'pinned' }));
    });

    it('recording a delegation to a workspace that does not exist is 404, not a foreign-key 500', async () => {
      const before = await snapshot();
      const res = await t.app.inject({
        method: 'POST',
        url: `/workspaces/${targetId}/delegations/record`,
        headers: { ...bearer(agentToken), ...json },
        payload: { target_id: randomUUID(), task: 't', delegation_id: randomUUID() },
      });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ error: 'target workspace not found', code: 'not_found' });
      expect(await snapshot()).toBe(before);
    });

    it('delegating to a workspace that does not exist is 404 and records nothing', async () => {
      const before = await snapshot();
      for (const idempotency_key of [undefined, 'k1']) {
        const res = await t.app.inject({
          method: 'POST',
          url: `/workspaces/${targetId}/delegate`,
          headers: { ...bearer(agentToken), ...json },
          payload: { target_id: randomUUID(), task: 'x', ...(idempotency_key ? { idempotency_key } : {}) },
        });
        expect(res.statusCode).toBe(404);
        expect(res.json()).toEqual({ error: 'target workspace not found', code: 'not_found' });
      }
      expect(await snapshot()).toBe(before);
    });

    it('U+0000 or an unpaired surrogate in a JSON body is a named 400 (PostgreSQL cannot store them), and nothing is written', async () => {
      const before = await snapshot();
      for (const payload of ['{"name":"a\\u0000b"}', '{"name":"ok","role":{"x\\u0000":1}}', '{"name":"a\\ud800"}']) {
        const res = await t.app.inject({ method: 'POST', url: '/workspaces', headers: { ...t.admin, ...json }, payload });
        expect(res.statusCode).toBe(400);
        expect(res.json()).toEqual({ error: 'text must not contain NUL (U+0000) or unpaired surrogate characters', code: 'invalid_request' });
      }
      const rec = await t.app.inject({
        method: 'POST',
        url: `/workspaces/${targetId}/delegations/record`,
        headers: { ...bearer(agentToken), ...json },
        payload: JSON.stringify({ target_id: targetId, task: 'a\u0000', delegation_id: randomUUID() }),
      });
      expect(rec.statusCode).toBe(400);
      expect(await snapshot()).toBe(before);
    });

    it('U+0000 in the URL is a 400 before any route runs', async () => {
      const res = await t.app.inject({ method: 'GET', url: `/workspaces?name=a%00b`, headers: t.admin });
      expect(res.statusCode).toBe(400);
      expect(res.json<{ error: string }>().error).toContain('NUL');
    });

    it('U+0000 or an unpaired surrogate in an A2A message is a JSON-RPC invalid-params answer with the request id; nothing queued or logged', async () => {
      const before = await snapshot();
      for (const text of ['hi\u0000', 'hi\ud800']) {
        const body = { jsonrpc: '2.0', id: 7, method: 'message/send', params: { message: { role: 'user', parts: [{ kind: 'text', text }] } } };
        const res = await t.app.inject({ method: 'POST', url: `/workspaces/${targetId}/a2a`, headers: { ...t.admin, ...json }, payload: JSON.stringify(body) });
        expect(res.statusCode).toBe(200);
        expect(res.json()).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32602, message: 'text must not contain NUL (U+0000) or unpaired surrogate characters' } });
      }
      expect(await settle()).toBe(before);
    });
  });
});
