import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../test-support/harness.js';

describe('meta routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ config: { gitSha: 'abc123' } });
  });
  afterAll(async () => t.close());

  it('GET /health answers ok while the database is reachable', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/health' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ status: 'ok' });
  });

  it('C280 GET /buildinfo is public and returns the injected git sha', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/buildinfo' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ git_sha: 'abc123' });
  });
});
