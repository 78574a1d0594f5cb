import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../db/port.js';
import { bearer, createExternal, json } from '../test-support/api.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { resolveAdminToken, StartupError } from './admin-token.js';
import { hashToken } from './tokens.js';

const NIL = '00000000-0000-4000-8000-000000000000';

describe('auth', () => {
  let t: TestApp;
  let own: { id: string; token: string };
  let other: { id: string; token: string };
  let revoked: { id: string; token: string };
  let removed: { id: string; token: string };
  let orgToken: string;
  let sessionCookie: string;

  beforeAll(async () => {
    t = await startTestApp({ config: { orgTokenMintPerHour: 3 } });
    own = await createExternal(t, { name: 'own' });
    other = await createExternal(t, { name: 'other' });
    revoked = await createExternal(t, { name: 'revoked' });
    removed = await createExternal(t, { name: 'removed' });
    const list = await t.app.inject({ method: 'GET', url: `/workspaces/${revoked.id}/tokens`, headers: t.admin });
    const tokenId = list.json().tokens[0].id as string;
    expect((await t.app.inject({ method: 'DELETE', url: `/workspaces/${revoked.id}/tokens/${tokenId}`, headers: t.admin })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'DELETE', url: `/workspaces/${removed.id}`, headers: t.admin })).statusCode).toBe(200);
    const org = await t.app.inject({ method: 'POST', url: '/org/tokens', headers: { ...t.admin, ...json }, payload: { name: 'ci' } });
    expect(org.statusCode).toBe(201);
    orgToken = org.json().auth_token;
    const login = await t.app.inject({ method: 'POST', url: '/auth/login', headers: json, payload: { token: t.adminToken } });
    sessionCookie = login.cookies.find((c) => c.name === 'molecule_session')!.value;
  });
  afterAll(async () => t.close());

  type Req = { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: (id: string) => string; payload?: object };
  const workspaceRoutes: Req[] = [
    { method: 'GET', url: (id) => `/workspaces/${id}` },
    { method: 'GET', url: (id) => `/workspaces/${id}/tokens` },
    { method: 'POST', url: (id) => `/workspaces/${id}/tokens` },
    { method: 'DELETE', url: (id) => `/workspaces/${id}/tokens/${NIL}` },
    { method: 'GET', url: (id) => `/workspaces/${id}/events/stream` },
  ];
  const adminRoutes: Req[] = [
    { method: 'GET', url: () => '/workspaces' },
    { method: 'POST', url: () => '/workspaces', payload: { name: 'nope' } },
    { method: 'PATCH', url: (id) => `/workspaces/${id}`, payload: { name: 'renamed' } },
    { method: 'DELETE', url: (id) => `/workspaces/${id}` },
    { method: 'GET', url: () => '/org/tokens' },
    { method: 'POST', url: () => '/org/tokens', payload: {} },
    { method: 'DELETE', url: () => `/org/tokens/${NIL}` },
    { method: 'GET', url: () => '/events' },
  ];
  const call = (r: Req, id: string, headers: Record<string, string>) =>
    t.app.inject({ method: r.method, url: r.url(id), headers: { ...json, ...headers }, ...(r.payload ? { payload: r.payload } : {}) });

  const denied = (name: string, headers: () => Record<string, string>, status: number) => ({ name, headers, status });
  const cases = [
    denied('no credential', () => ({}), 401),
    denied('a malformed bearer', () => ({ authorization: 'Bearer not-a-token' }), 401),
    denied('an unknown workspace token', () => bearer('mol_ws_' + 'A'.repeat(43)), 401),
    denied('a revoked token', () => bearer(revoked.token), 401),
    denied("a removed workspace's token", () => bearer(removed.token), 401),
    denied('a revoked-looking org token', () => bearer('mol_org_' + 'B'.repeat(43)), 401),
    denied('a stale session cookie', () => ({ cookie: 'molecule_session=mol_sess_nope' }), 401),
  ];

  for (const c of cases) {
    it(`C210 every workspace route refuses ${c.name} (${c.status})`, async () => {
      for (const r of workspaceRoutes) {
        const res = await call(r, own.id, c.headers());
        expect(res.statusCode, `${r.method} ${r.url(own.id)}`).toBe(c.status);
        expect(res.json()).toMatchObject({ error: expect.any(String), code: 'unauthorized' });
      }
    });
    it(`every admin route refuses ${c.name} (${c.status})`, async () => {
      for (const r of adminRoutes) {
        const res = await call(r, own.id, c.headers());
        expect(res.statusCode, `${r.method} ${r.url(own.id)}`).toBe(c.status);
      }
    });
  }

  it("every workspace route refuses another workspace's token with 403", async () => {
    for (const r of workspaceRoutes) {
      const res = await call(r, own.id, bearer(other.token));
      expect(res.statusCode, `${r.method} ${r.url(own.id)}`).toBe(403);
      expect(res.json().code).toBe('forbidden');
    }
  });

  it('every admin route refuses a workspace token with 403, even for its own workspace', async () => {
    for (const r of adminRoutes) {
      expect((await call(r, own.id, bearer(own.token))).statusCode, `${r.method} ${r.url(own.id)}`).toBe(403);
    }
  });

  it('a workspace route accepts its own token, the admin token, an org token and the canvas session', async () => {
    for (const headers of [bearer(own.token), t.admin, bearer(orgToken), { cookie: `molecule_session=${sessionCookie}` }]) {
      const res = await t.app.inject({ method: 'GET', url: `/workspaces/${own.id}`, headers });
      expect(res.statusCode).toBe(200);
    }
  });

  it('admin routes accept an org token and the canvas session', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/workspaces', headers: bearer(orgToken) })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/workspaces', headers: { cookie: `molecule_session=${sessionCookie}` } })).statusCode).toBe(200);
  });

  it('the bearer scheme is case-insensitive; other schemes are refused', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/workspaces', headers: { authorization: `bearer ${t.adminToken}` } })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/workspaces', headers: { authorization: `Basic ${t.adminToken}` } })).statusCode).toBe(401);
  });

  it('C210 a valid workspace token refreshes last_used_at, at most once a minute', async () => {
    const w = await createExternal(t, { name: 'used' });
    const before = await t.db.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM workspace_auth_tokens WHERE token_hash = $1', [hashToken(w.token)]);
    expect(before.rows[0]!.last_used_at).toBeNull();
    await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: bearer(w.token) });
    const after = await t.db.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM workspace_auth_tokens WHERE token_hash = $1', [hashToken(w.token)]);
    expect(after.rows[0]!.last_used_at).not.toBeNull();
    // At most one write a minute: a use 2 minutes after the last one refreshes it, an immediate one does not.
    await t.db.query(`UPDATE workspace_auth_tokens SET last_used_at = now() - interval '2 minutes' WHERE token_hash = $1`, [hashToken(w.token)]);
    const stale = (await t.db.query<{ last_used_at: Date }>('SELECT last_used_at FROM workspace_auth_tokens WHERE token_hash = $1', [hashToken(w.token)])).rows[0]!.last_used_at;
    await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: bearer(w.token) });
    const fresh = (await t.db.query<{ last_used_at: Date }>('SELECT last_used_at FROM workspace_auth_tokens WHERE token_hash = $1', [hashToken(w.token)])).rows[0]!.last_used_at;
    expect(new Date(fresh).getTime()).toBeGreaterThan(new Date(stale).getTime());
    await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: bearer(w.token) });
    const again = (await t.db.query<{ last_used_at: Date }>('SELECT last_used_at FROM workspace_auth_tokens WHERE token_hash = $1', [hashToken(w.token)])).rows[0]!.last_used_at;
    expect(new Date(again).getTime()).toBe(new Date(fresh).getTime());
  });

  describe('workspace tokens (C216: list, create, revoke; a revoked token fails validation)', () => {
    it('are shown once, listed by prefix only, stored as sha256, and revocable', async () => {
      const w = await createExternal(t, { name: 'tokens' });
      const minted = await t.app.inject({ method: 'POST', url: `/workspaces/${w.id}/tokens`, headers: bearer(w.token) });
      expect(minted.statusCode).toBe(201);
      const m = minted.json();
      expect(m).toMatchObject({ workspace_id: w.id, auth_token: expect.stringMatching(/^mol_ws_/), message: expect.stringMatching(/cannot be retrieved/) });
      const list = (await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}/tokens`, headers: t.admin })).json();
      expect(list.count).toBe(2);
      expect(JSON.stringify(list)).not.toContain(m.auth_token);
      expect(list.tokens.map((x: { prefix: string }) => x.prefix)).toContain(m.prefix);
      const row = await t.db.query<{ token_hash: Buffer }>('SELECT token_hash FROM workspace_auth_tokens WHERE id = $1', [m.id]);
      expect(Buffer.from(row.rows[0]!.token_hash).equals(hashToken(m.auth_token))).toBe(true);
      // Revoking the token you authenticate with is allowed; it stops working at once.
      expect((await t.app.inject({ method: 'DELETE', url: `/workspaces/${w.id}/tokens/${m.id}`, headers: bearer(m.auth_token) })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: bearer(m.auth_token) })).statusCode).toBe(401);
      const again = await t.app.inject({ method: 'DELETE', url: `/workspaces/${w.id}/tokens/${m.id}`, headers: t.admin });
      expect(again.statusCode).toBe(404);
    });

    it("cannot revoke another workspace's token through its own id", async () => {
      const a = await createExternal(t, { name: 'tok-a' });
      const b = await createExternal(t, { name: 'tok-b' });
      const bList = (await t.app.inject({ method: 'GET', url: `/workspaces/${b.id}/tokens`, headers: t.admin })).json();
      const r = await t.app.inject({ method: 'DELETE', url: `/workspaces/${a.id}/tokens/${bList.tokens[0].id}`, headers: bearer(a.token) });
      expect(r.statusCode).toBe(404);
      expect((await t.app.inject({ method: 'GET', url: `/workspaces/${b.id}`, headers: bearer(b.token) })).statusCode).toBe(200);
    });

    it('caps live tokens at 50 per workspace with 429', async () => {
      const w = await createExternal(t, { name: 'many' });
      for (let i = 1; i < 50; i++) {
        expect((await t.app.inject({ method: 'POST', url: `/workspaces/${w.id}/tokens`, headers: t.admin })).statusCode).toBe(201);
      }
      const over = await t.app.inject({ method: 'POST', url: `/workspaces/${w.id}/tokens`, headers: t.admin });
      expect(over.statusCode).toBe(429);
      expect(over.json().error).toMatch(/50/);
    });

    it('rejects bad ids and paging values with 400', async () => {
      expect((await t.app.inject({ method: 'GET', url: '/workspaces/nope/tokens', headers: t.admin })).statusCode).toBe(400);
      expect((await t.app.inject({ method: 'DELETE', url: `/workspaces/${own.id}/tokens/nope`, headers: t.admin })).statusCode).toBe(400);
      expect((await t.app.inject({ method: 'GET', url: `/workspaces/${own.id}/tokens?limit=0`, headers: t.admin })).statusCode).toBe(400);
      expect((await t.app.inject({ method: 'GET', url: `/workspaces/${own.id}/tokens?offset=-1`, headers: t.admin })).statusCode).toBe(400);
    });

    it('a removed workspace cannot mint tokens (410)', async () => {
      expect((await t.app.inject({ method: 'POST', url: `/workspaces/${removed.id}/tokens`, headers: t.admin })).statusCode).toBe(410);
    });
  });

  describe('org tokens', () => {
    it('are listed by prefix only and stop working once revoked', async () => {
      const minted = (await t.app.inject({ method: 'POST', url: '/org/tokens', headers: t.admin })).json();
      expect(minted.auth_token).toMatch(/^mol_org_/);
      const list = (await t.app.inject({ method: 'GET', url: '/org/tokens', headers: t.admin })).json();
      expect(JSON.stringify(list)).not.toContain(minted.auth_token);
      expect(list.tokens.find((x: { id: string }) => x.id === minted.id)).toMatchObject({ created_by: 'admin', name: 'unnamed' });
      expect((await t.app.inject({ method: 'DELETE', url: `/org/tokens/${minted.id}`, headers: t.admin })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: '/workspaces', headers: bearer(minted.auth_token) })).statusCode).toBe(401);
    });

    it('minting is rate-limited per client (429 with retry_after)', async () => {
      // beforeAll and the test above used 2 of the 3 allowed per hour.
      expect((await t.app.inject({ method: 'POST', url: '/org/tokens', headers: t.admin, remoteAddress: '10.9.9.9' })).statusCode).toBe(201);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        statuses.push((await t.app.inject({ method: 'POST', url: '/org/tokens', headers: t.admin, remoteAddress: '10.9.9.9' })).statusCode);
      }
      expect(statuses).toEqual([201, 201, 429, 429]);
      const limited = await t.app.inject({ method: 'POST', url: '/org/tokens', headers: t.admin, remoteAddress: '10.9.9.9' });
      expect(limited.json()).toMatchObject({ code: 'rate_limited', retry_after: expect.any(Number) });
    });

    it('reject unknown fields and over-long names', async () => {
      expect((await t.app.inject({ method: 'POST', url: '/org/tokens', headers: { ...t.admin, ...json }, payload: { name: 'x', admin: true }, remoteAddress: '10.1.1.1' })).statusCode).toBe(400);
      expect((await t.app.inject({ method: 'POST', url: '/org/tokens', headers: { ...t.admin, ...json }, payload: { name: 'x'.repeat(101) }, remoteAddress: '10.1.1.2' })).statusCode).toBe(400);
    });
  });

  describe('canvas session', () => {
    it('login sets an HttpOnly SameSite=Strict cookie; a wrong token gets 401 and no cookie', async () => {
      const ok = await t.app.inject({ method: 'POST', url: '/auth/login', headers: json, payload: { token: t.adminToken } });
      expect(ok.statusCode).toBe(200);
      const c = ok.cookies.find((x) => x.name === 'molecule_session')!;
      expect(c).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
      const bad = await t.app.inject({ method: 'POST', url: '/auth/login', headers: json, payload: { token: 'wrong' } });
      expect(bad.statusCode).toBe(401);
      expect(bad.cookies).toEqual([]);
      expect((await t.app.inject({ method: 'POST', url: '/auth/login', headers: json, payload: {} })).statusCode).toBe(400);
    });

    it('logout revokes the session server-side', async () => {
      const login = await t.app.inject({ method: 'POST', url: '/auth/login', headers: json, payload: { token: t.adminToken } });
      const cookie = `molecule_session=${login.cookies[0]!.value}`;
      expect((await t.app.inject({ method: 'GET', url: '/workspaces', headers: { cookie } })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie } })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: '/workspaces', headers: { cookie } })).statusCode).toBe(401);
    });
  });
});

describe('GET /admin/workspaces/:id/test-token (C212)', () => {
  const tokensOf = async (t: TestApp, id: string) => (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM workspace_auth_tokens WHERE workspace_id = $1', [id])).rows[0]!.n;

  it('C212 off by default: the admin rule first (401 none, 403 a workspace token), then 404 for an admin; nothing minted', async () => {
    const t = await startTestApp();
    try {
      const ws = await createExternal(t, { name: 'tt-off' });
      const url = `/admin/workspaces/${ws.id}/test-token`;
      expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'GET', url, headers: bearer('wrong') })).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'GET', url, headers: bearer(ws.token) })).statusCode).toBe(403);
      const r = await t.app.inject({ method: 'GET', url, headers: t.admin });
      expect(r.statusCode).toBe(404);
      expect(r.json()).toEqual({ error: 'not found', code: 'not_found' });
      expect(await tokensOf(t, ws.id)).toBe(1);
    } finally {
      await t.close();
    }
  });

  it('C212 with MOLECULE_ENABLE_TEST_TOKENS=1: an admin gets a new working token, older ones stay; unknown 404, removed 410, bad id 400', async () => {
    const t = await startTestApp({ config: { enableTestTokens: true } });
    try {
      const ws = await createExternal(t, { name: 'tt-on' });
      const r = await t.app.inject({ method: 'GET', url: `/admin/workspaces/${ws.id}/test-token`, headers: t.admin });
      expect(r.statusCode, r.body).toBe(200);
      const body = r.json<{ auth_token: string; workspace_id: string }>();
      expect(body).toEqual({ auth_token: expect.stringMatching(/^mol_ws_/), workspace_id: ws.id });
      for (const token of [body.auth_token, ws.token]) {
        const beat = await t.app.inject({ method: 'POST', url: '/registry/heartbeat', headers: { ...bearer(token), ...json }, payload: { workspace_id: ws.id } });
        expect(beat.statusCode, beat.body).toBe(200);
      }
      const created = await t.db.query(`SELECT 1 FROM structure_events WHERE workspace_id = $1 AND event_type = 'TOKEN_CREATED'`, [ws.id]);
      expect(created.rows).toHaveLength(1);
      expect((await t.app.inject({ method: 'GET', url: `/admin/workspaces/${NIL}/test-token`, headers: t.admin })).statusCode).toBe(404);
      expect((await t.app.inject({ method: 'GET', url: '/admin/workspaces/nope/test-token', headers: t.admin })).statusCode).toBe(400);
      await t.app.inject({ method: 'DELETE', url: `/workspaces/${ws.id}`, headers: t.admin });
      expect((await t.app.inject({ method: 'GET', url: `/admin/workspaces/${ws.id}/test-token`, headers: t.admin })).statusCode).toBe(410);
    } finally {
      await t.close();
    }
  });
});

describe('auth when the datastore fails', () => {
  let t: TestApp;
  let failing = false;
  beforeAll(async () => {
    t = await startTestApp({
      tweak: (deps) => {
        const real = deps.db;
        const wrapped: Db = {
          ...real,
          query: (sql, params) =>
            failing ? Promise.reject(new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2')) : real.query(sql, params),
        };
        deps.db = wrapped;
      },
    });
  });
  afterAll(async () => t.close());

  it('C211 answers 503 platform_unavailable without internal text, and never grants', async () => {
    const w = await createExternal(t);
    failing = true;
    try {
      for (const headers of [bearer(w.token), bearer('mol_org_' + 'C'.repeat(43)), { cookie: 'molecule_session=mol_sess_x' }]) {
        const r = await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers });
        expect(r.statusCode).toBe(503);
        expect(r.json()).toEqual({ error: expect.any(String), code: 'platform_unavailable' });
        expect(r.body).not.toMatch(/ECONNREFUSED|10\.0\.0\.5|hunter2/);
      }
    } finally {
      failing = false;
    }
  });

  it('GET /health answers 503 while the database is unreachable', async () => {
    failing = true;
    try {
      const r = await t.app.inject({ method: 'GET', url: '/health' });
      expect(r.statusCode).toBe(503);
      expect(r.body).not.toMatch(/ECONNREFUSED|hunter2/);
    } finally {
      failing = false;
    }
    expect((await t.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });
});

describe('admin token bootstrap', () => {
  it('ADMIN_TOKEN from the environment wins', async () => {
    expect(await resolveAdminToken({ adminToken: 'from-env-0123456789', host: '0.0.0.0', dataDir: '/nonexistent' })).toEqual({
      token: 'from-env-0123456789',
      source: 'env',
    });
  });

  it('on loopback without ADMIN_TOKEN it generates one, keeps it 0600 in the data dir, and reuses it', async () => {
    const dir = path.join(await mkdtemp(path.join(os.tmpdir(), 'molecule-admin-')), 'data');
    const first = await resolveAdminToken({ adminToken: undefined, host: '127.0.0.1', dataDir: dir });
    expect(first.source).toBe('generated');
    expect(first.token.length).toBeGreaterThanOrEqual(40);
    expect((await stat(first.file!)).mode & 0o777).toBe(0o600);
    expect((await readFile(first.file!, 'utf8')).trim()).toBe(first.token);
    const second = await resolveAdminToken({ adminToken: undefined, host: 'localhost', dataDir: dir });
    expect(second).toMatchObject({ token: first.token, source: 'file' });
  });

  it('processes sharing a data dir that start together all get the one generated token', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-admin-race-'));
    const all = await Promise.all(Array.from({ length: 20 }, () => resolveAdminToken({ adminToken: undefined, host: '127.0.0.1', dataDir: dir })));
    expect(all.filter((r) => r.source === 'generated')).toHaveLength(1);
    expect(new Set(all.map((r) => r.token)).size).toBe(1);
  });

  it('a token file too short to be a token is a startup error naming the file, and is left as it is', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-admin-'));
    await writeFile(path.join(dir, 'admin_token'), 'short\n');
    await expect(resolveAdminToken({ adminToken: undefined, host: '127.0.0.1', dataDir: dir })).rejects.toThrow(/admin_token holds a token shorter than 16/);
    expect(await readFile(path.join(dir, 'admin_token'), 'utf8')).toBe('short\n');
  });

  it('repairs loose permissions on an existing token file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-admin-'));
    await writeFile(path.join(dir, 'admin_token'), 'x'.repeat(40), { mode: 0o644 });
    const r = await resolveAdminToken({ adminToken: undefined, host: '127.0.0.1', dataDir: dir });
    expect(r.source).toBe('file');
    expect((await stat(r.file!)).mode & 0o777).toBe(0o600);
  });

  it('refuses to start on a non-loopback host without ADMIN_TOKEN, saying how to fix it', async () => {
    await expect(resolveAdminToken({ adminToken: undefined, host: '0.0.0.0', dataDir: '/nonexistent' })).rejects.toThrow(StartupError);
    await expect(resolveAdminToken({ adminToken: undefined, host: '0.0.0.0', dataDir: '/nonexistent' })).rejects.toThrow(/Set ADMIN_TOKEN/);
  });
});
