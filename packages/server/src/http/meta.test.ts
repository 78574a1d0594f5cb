import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExternal } from '../test-support/api.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';

describe('meta routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { gitSha: 'abc123' } });
  });
  afterAll(async () => t.close());

  it('C281 GET /health answers ok while the database is reachable', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/health' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'ok' });
  });

  it('C280 GET /buildinfo is public and returns the injected git sha', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/buildinfo' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ git_sha: 'abc123' });
  });

  it('GET /metrics exposes request durations by route template and status, and event counts', async () => {
    const w = await createExternal(t);
    await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: t.admin });
    await t.app.inject({ method: 'GET', url: '/nowhere' });
    const r = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/plain/);
    expect(r.body).toMatch(/molecule_http_request_duration_seconds_count\{method="GET",route="\/workspaces\/:id",status="200"\} 1/);
    expect(r.body).toMatch(/molecule_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 1/);
    expect(r.body).toMatch(/molecule_events_total\{type="WORKSPACE_CREATED"\} \d+/);
  });

  it('GET /openapi.json describes the routes from their schemas', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(r.statusCode).toBe(200);
    const doc = r.json();
    expect(doc.openapi).toBe('3.1.0');
    for (const p of ['/workspaces', '/workspaces/{id}', '/workspaces/{id}/tokens', '/org/tokens', '/events', '/health', '/buildinfo', '/auth/login']) {
      expect(doc.paths, p).toHaveProperty([p]);
    }
    const create = doc.paths['/workspaces'].post;
    expect(create.requestBody.content['application/json'].schema.required).toContain('name');
    expect(create.responses).toHaveProperty(['201']);
  });

  it('serves the canvas placeholder at / with a strict CSP, and JSON 404s elsewhere', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).toContain('Molecule');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(page.headers['x-frame-options']).toBe('DENY');
    const api = await t.app.inject({ method: 'GET', url: '/nope' });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toEqual({ error: 'not found', code: 'not_found' });
    expect(api.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(api.headers['x-content-type-options']).toBe('nosniff');
  });

  it('one listener answers WebSocket upgrades for /ws, the terminal and the agent socket (a second one logged "websocket upgrade failed" on every upgrade)', () => {
    expect(t.app.server.listenerCount('upgrade')).toBe(1);
  });

  // The canvas build exists once `npm run build` ran (npm test runs it; npm run check alone does not).
  it.runIf(existsSync(new URL('../../../canvas/dist/index.html', import.meta.url)))('serves the canvas bundle the page names, cached for good and with validators (a reload answers 304 without a body)', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/' });
    const src = /<script[^>]+src="([^"]+)"/.exec(page.body)?.[1];
    expect(src).toMatch(/^\/assets\/[\w.-]+\.js$/);
    const script = await t.app.inject({ method: 'GET', url: src! });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/javascript/);
    expect(script.headers['cache-control']).toContain('immutable');
    expect(script.headers.etag).toBeTruthy();
    const again = await t.app.inject({ method: 'GET', url: src!, headers: { 'if-none-match': String(script.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    for (const bad of ['/assets/..%2Fpackage.json', '/assets/nope.js', '/assets/..%2F..%2Fpackage.json', '/assets/.hidden']) {
      const r = await t.app.inject({ method: 'GET', url: bad });
      expect([bad, r.statusCode]).toEqual([bad, 404]);
    }
  });
});
