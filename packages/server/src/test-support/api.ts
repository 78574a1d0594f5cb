import { expect } from 'vitest';
import type { TestApp } from './harness.js';

export const json = { 'content-type': 'application/json' };

/** Creates a workspace through the API as admin and returns the body (fails the test on non-201). */
export async function createWs(t: TestApp, body: Record<string, unknown>): Promise<Record<string, unknown> & { id: string }> {
  const r = await t.app.inject({ method: 'POST', url: '/workspaces', headers: { ...t.admin, ...json }, payload: body });
  expect(r.statusCode, r.body).toBe(201);
  return r.json();
}

/** Creates an external workspace and returns it with its agent token. */
export async function createExternal(t: TestApp, body: Record<string, unknown> = {}): Promise<{ id: string; token: string }> {
  const ws = await createWs(t, { name: 'ext', runtime: 'external', ...body });
  return { id: ws.id, token: (ws.connection as { auth_token: string }).auth_token };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * A request helper for API suites (`app` is read at each call: suites build theirs in beforeAll): `send(method, url, payload?, headers?)` injects as admin unless
 * headers are given, JSON when there is a payload (a string is sent as it is, for malformed bodies).
 */
export function sender(app: () => TestApp) {
  return (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = app().admin) =>
    app().app.inject({
      method,
      url,
      headers: { ...headers, ...(payload === undefined ? {} : json) },
      ...(payload === undefined ? {} : { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) }),
    });
}

export async function countRows(t: TestApp, table: 'workspaces' | 'structure_events' | 'workspace_auth_tokens' | 'canvas_viewport'): Promise<number> {
  const r = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return r.rows[0]!.n;
}

export async function eventsOf(t: TestApp, workspaceId: string): Promise<{ event_type: string; payload: Record<string, unknown> }[]> {
  const r = await t.db.query<{ event_type: string; payload: Record<string, unknown> }>(
    'SELECT event_type, payload FROM structure_events WHERE workspace_id = $1 ORDER BY id',
    [workspaceId],
  );
  return r.rows;
}

/** Polls `fn` until it returns a truthy value or the deadline passes. */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A promise with its resolve function outside (Promise.withResolvers needs Node 22). */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
