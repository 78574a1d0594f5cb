import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../auth/principal.js';
import { bearer, createExternal, json } from '../test-support/api.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { startFakeMemoryPlugin, type FakeMemoryPlugin } from '../test-support/fake-memory-plugin.js';
import { MemoryPluginClient } from '../memory/client.js';
import { ACCESS_CLASSES, accessClassOf, renderSecurityDoc, type AccessClass } from './access.js';
import type { RouteAccess } from './app.js';

/**
 * The auth matrix: every route the app registered (read from the app itself, never a hand-kept
 * list) against every kind of credential, held to its declared access class. A refused write
 * changes nothing in the database.
 */

type CredName = 'none' | 'malformed' | 'revoked' | 'removed_workspace' | 'other_workspace' | 'own_workspace' | 'org' | 'admin' | 'session';
const CREDS: readonly CredName[] = ['none', 'malformed', 'revoked', 'removed_workspace', 'other_workspace', 'own_workspace', 'org', 'admin', 'session'];

/** What each class answers each credential: `refuse` with the status, or `pass` (the route's own rules apply; never 401, and 403 only for `credential` routes). */
type Expect = { refuse: 401 | 403 } | 'pass';
const R401 = { refuse: 401 } as const;
const R403 = { refuse: 403 } as const;
const INVALID: Partial<Record<CredName, Expect>> = { none: R401, malformed: R401, revoked: R401, removed_workspace: R401 };

export const RULES: Record<Exclude<AccessClass, 'open'>, Record<CredName, Expect>> = {
  admin: { ...INVALID, other_workspace: R403, own_workspace: R403, org: 'pass', admin: 'pass', session: 'pass' } as Record<CredName, Expect>,
  workspace: { ...INVALID, other_workspace: R403, own_workspace: 'pass', org: 'pass', admin: 'pass', session: 'pass' } as Record<CredName, Expect>,
  agent: { ...INVALID, other_workspace: 'pass', own_workspace: 'pass', org: R403, admin: R403, session: R403 } as Record<CredName, Expect>,
  credential: { ...INVALID, other_workspace: 'pass', own_workspace: 'pass', org: 'pass', admin: 'pass', session: 'pass' } as Record<CredName, Expect>,
};

/** Routes that hold the connection open once accepted: only their refusals are sent. */
const LONG_LIVED = new Set(['GET /ws', 'GET /workspaces/:id/events/stream']);
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A 5xx the platform does not mean: a 500, or a 5xx without one of the documented codes (C221's 503 for an unreachable agent is meant). */
const MEANT_5XX = new Set(['agent_unavailable', 'agent_busy', 'agent_unreachable', 'agent_timeout', 'agent_error', 'platform_unavailable']);
function unexpected5xx(res: { statusCode: number; body: string }): boolean {
  if (res.statusCode < 500) return false;
  if (res.statusCode === 500) return true;
  try {
    return !MEANT_5XX.has((JSON.parse(res.body) as { code?: string }).code ?? '');
  } catch {
    return true;
  }
}

const TABLES = ['workspaces', 'workspace_auth_tokens', 'org_api_tokens', 'canvas_sessions', 'structure_events', 'activity_logs', 'a2a_queue', 'delegations', 'workspace_spend'];

describe('auth matrix: every route x every credential', () => {
  let t: TestApp;
  let routes: RouteAccess[];
  const creds = {} as Record<CredName, Record<string, string>>;
  let target: string;

  /** Row counts and the latest change of every table a route could write. */
  const snapshot = async () => {
    const parts = TABLES.map((tb) => `(SELECT count(*)::text FROM ${tb})`).join(" || ',' || ");
    const r = await t.db.query<{ s: string }>(
      `SELECT ${parts} || ',' || (SELECT coalesce(max(updated_at)::text, '') FROM workspaces)
              || ',' || (SELECT count(*)::text FROM workspace_auth_tokens WHERE revoked_at IS NULL)
              || ',' || (SELECT count(*)::text FROM org_api_tokens WHERE revoked_at IS NULL) AS s`,
    );
    return r.rows[0]!.s;
  };

  let memoryPlugin: FakeMemoryPlugin;
  beforeAll(async () => {
    // A memory store, so memory routes answer as they do when configured (not 501).
    memoryPlugin = await startFakeMemoryPlugin();
    t = await startTestApp({ tweak: (deps) => void (deps.memory = new MemoryPluginClient(memoryPlugin.url)) });
    routes = t.app.accessTable.filter((r) => r.method !== 'HEAD');
    const a = await createExternal(t, { name: 'matrix-a' });
    const b = await createExternal(t, { name: 'matrix-b' });
    const gone = await createExternal(t, { name: 'matrix-removed' });
    target = a.id;
    const extra = await t.app.inject({ method: 'POST', url: `/workspaces/${a.id}/tokens`, headers: t.admin });
    const { id: revokedId, auth_token: revokedToken } = extra.json<{ id: string; auth_token: string }>();
    expect((await t.app.inject({ method: 'DELETE', url: `/workspaces/${a.id}/tokens/${revokedId}`, headers: t.admin })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'DELETE', url: `/workspaces/${gone.id}?confirm=true`, headers: t.admin })).statusCode).toBe(200);
    const org = await t.app.inject({ method: 'POST', url: '/org/tokens', headers: { ...t.admin, ...json }, payload: { name: 'matrix' } });
    expect(org.statusCode, org.body).toBe(201);
    const login = await t.app.inject({ method: 'POST', url: '/auth/login', headers: json, payload: { token: t.adminToken } });
    const cookie = login.cookies.find((c) => c.name === SESSION_COOKIE)!.value;
    creds.none = {};
    creds.malformed = bearer('not-a-token');
    creds.revoked = bearer(revokedToken);
    creds.removed_workspace = bearer(gone.token);
    creds.other_workspace = bearer(b.token);
    creds.own_workspace = bearer(a.token);
    creds.org = bearer(org.json<{ auth_token: string }>().auth_token);
    creds.admin = t.admin;
    creds.session = { cookie: `${SESSION_COOKIE}=${cookie}` };
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await memoryPlugin?.close();
  });

  it('reads the route table from the app, and every route declared a known class', () => {
    expect(routes.length).toBeGreaterThan(35);
    for (const r of routes) expect(Object.keys(ACCESS_CLASSES)).toContain(r.access);
    expect(routes).toContainEqual({ method: 'POST', url: '/workspaces/:id/a2a', access: 'credential' });
    expect(routes).toContainEqual({ method: 'DELETE', url: '/workspaces/:id', access: 'admin' });
  });

  it('docs/security.md lists every route with its class (regenerate with npm run docs:security)', async () => {
    const doc = await readFile(new URL('../../../../docs/security.md', import.meta.url), 'utf8');
    expect(doc, 'docs/security.md is stale: run npm run docs:security').toBe(renderSecurityDoc(t.app.accessTable));
  });

  it('a route that declares no access class cannot be registered', () => {
    expect(() => accessClassOf({ method: 'GET', url: '/nothing', config: {} })).toThrow(/declares no access class/);
    expect(() => accessClassOf({ method: 'GET', url: '/nothing', config: { access: 'everyone' } as never })).toThrow(/declares no access class/);
    expect(accessClassOf({ method: 'GET', url: '/x', config: { access: 'open' } })).toBe('open');
  });

  it('C215 C217 every route answers every credential as its class says (admin reaches workspace routes; discovery needs a bearer); a refused write changes nothing', async () => {
    const failures: string[] = [];
    for (const r of routes) {
      if (r.access === 'open') continue;
      const key = `${r.method} ${r.url}`;
      for (const cred of CREDS) {
        const rule = RULES[r.access][cred];
        if (rule === 'pass' && (LONG_LIVED.has(key) || WRITES.has(r.method))) continue;
        const url = r.url.replace(':id', target).replace(/:[a-z_]+/gi, randomUUID());
        const before = WRITES.has(r.method) ? await snapshot() : undefined;
        const res = await t.app.inject({
          method: r.method as 'GET',
          url,
          headers: { ...creds[cred], ...(WRITES.has(r.method) ? json : {}) },
          ...(WRITES.has(r.method) ? { payload: '{}' } : {}),
        });
        const where = `${key} with ${cred}: ${res.statusCode} ${res.body.slice(0, 120)}`;
        if (unexpected5xx(res)) failures.push(`5xx: ${where}`);
        if (rule === 'pass') {
          if (res.statusCode === 401 || (res.statusCode === 403 && r.access !== 'credential')) failures.push(`refused a credential its class (${r.access}) allows: ${where}`);
        } else {
          if (res.statusCode !== rule.refuse) failures.push(`expected ${rule.refuse} (${r.access}): ${where}`);
          if (before !== undefined && (await snapshot()) !== before) failures.push(`a refused write changed the database: ${where}`);
        }
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('allowed writes get past auth: each on its own fresh workspace (admin, org, session, its own token)', async () => {
    const failures: string[] = [];
    for (const r of routes) {
      if (r.access === 'open' || !WRITES.has(r.method)) continue;
      for (const cred of CREDS) {
        if (RULES[r.access][cred] !== 'pass' || cred === 'other_workspace') continue;
        const fresh = await createExternal(t, { name: `matrix-${cred}` });
        const headers = cred === 'own_workspace' ? bearer(fresh.token) : creds[cred];
        const url = r.url.replace(':id', fresh.id).replace(/:[a-z_]+/gi, randomUUID());
        const res = await t.app.inject({ method: r.method as 'POST', url, headers: { ...headers, ...json }, payload: '{}' });
        const where = `${r.method} ${r.url} with ${cred}: ${res.statusCode} ${res.body.slice(0, 120)}`;
        if (unexpected5xx(res)) failures.push(`5xx: ${where}`);
        if (res.statusCode === 401 || (res.statusCode === 403 && r.access !== 'credential')) failures.push(`refused: ${where}`);
      }
    }
    expect(failures).toEqual([]);
  }, 180_000);
});
