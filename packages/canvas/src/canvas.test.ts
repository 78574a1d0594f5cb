import { describe, expect, it } from 'vitest';
import { Status, type PlatformEvent } from '@molecule/contracts';
import { ws } from './test-fixture.js';
import { ApiError, createApi, PlatformUnavailableError } from './api.js';
import { layoutOrg, NODE_W } from './layout.js';
import { statusLine } from './status.js';
import { descendantsOf } from './tree.js';
import { applyEvent, countByStatus, createCanvasStore, setWorkspaces } from './store.js';

const event = (type: PlatformEvent['type'], workspaceId: string, seq: number | null, payload: Record<string, unknown> = {}): PlatformEvent => ({ type, workspace_id: workspaceId, payload, at: new Date().toISOString(), seq });

/** A fetch answering from a list of responses, recording what it was asked. */
function fakeFetch(answers: (Response | Error)[]) {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  const impl = (async (url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), init });
    const a = answers.shift()!;
    if (a instanceof Error) throw a;
    return a;
  }) as typeof fetch;
  return { impl, calls };
}
const json = (status: number, body: unknown, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('canvas API client', () => {
  it('C276 a 503 platform_unavailable, or no answer at all, is the typed PlatformUnavailableError', async () => {
    const { impl } = fakeFetch([json(503, { error: 'the platform cannot reach its database', code: 'platform_unavailable' }), new TypeError('fetch failed')]);
    const api = createApi({ fetchImpl: impl });
    await expect(api.workspaces()).rejects.toBeInstanceOf(PlatformUnavailableError);
    await expect(api.workspaces()).rejects.toMatchObject({ name: 'PlatformUnavailableError', status: 503, code: 'platform_unavailable' });
  });

  it('a GET answered 429 is retried once after its Retry-After; a second 429 is the error', async () => {
    const { impl, calls } = fakeFetch([json(429, { error: 'slow down', code: 'rate_limited' }, { 'retry-after': '0' }), json(200, [])]);
    expect(await createApi({ fetchImpl: impl, retryAfterMs: 1 }).workspaces()).toEqual([]);
    expect(calls).toHaveLength(2);
    const twice = fakeFetch([json(429, { error: 'slow down', code: 'rate_limited' }), json(429, { error: 'slow down', code: 'rate_limited' })]);
    await expect(createApi({ fetchImpl: twice.impl, retryAfterMs: 1 }).workspaces()).rejects.toMatchObject({ status: 429, code: 'rate_limited', message: 'slow down' });
  });

  it('a POST is never retried; 401 is unauthorized; the error text is the platform\'s safe message', async () => {
    const { impl, calls } = fakeFetch([json(429, { error: 'slow down' }), json(401, { error: 'auth required', code: 'unauthorized' })]);
    const api = createApi({ fetchImpl: impl, retryAfterMs: 1 });
    await expect(api.login('x')).rejects.toMatchObject({ status: 429 });
    expect(calls).toHaveLength(1);
    const e = await api.workspaces().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 401, code: 'unauthorized', message: 'auth required' });
  });

  it('calls are same-origin with the session cookie, JSON bodies, and a timeout', async () => {
    const { impl, calls } = fakeFetch([json(200, { status: 'ok' })]);
    await createApi({ fetchImpl: impl }).login('tok');
    expect(calls[0]).toMatchObject({ url: '/auth/login', init: { method: 'POST', credentials: 'same-origin', body: '{"token":"tok"}', headers: { 'content-type': 'application/json' } } });
    expect(calls[0]!.init!.signal).toBeInstanceOf(AbortSignal);
  });
});

describe('canvas store', () => {
  it('status events apply at once and ask for the row again; already-seen events change nothing', () => {
    const store = createCanvasStore();
    const a = ws({ status: Status.Provisioning });
    setWorkspaces(store, [a, ws({ status: Status.Removed })]);
    expect(Object.keys(store.getState().workspaces)).toEqual([a.id]);
    expect(applyEvent(store, event('WORKSPACE_ONLINE', a.id, 5))).toEqual({ refetch: a.id });
    expect(store.getState().workspaces[a.id]!.status).toBe(Status.Online);
    expect(store.getState().lastSeq).toBe(5);
    // A replayed older event is ignored.
    expect(applyEvent(store, event('WORKSPACE_OFFLINE', a.id, 4))).toEqual({});
    expect(store.getState().workspaces[a.id]!.status).toBe(Status.Online);
    // Broadcast-only events (seq null) patch without moving the cursor.
    applyEvent(store, event('TASK_UPDATED', a.id, null, { current_task: 'summarise', active_tasks: 1 }));
    expect(store.getState().workspaces[a.id]).toMatchObject({ current_task: 'summarise', active_tasks: 1 });
    expect(store.getState().lastSeq).toBe(5);
    applyEvent(store, event('WORKSPACE_DEGRADED', a.id, 6, { sample_error: 'rate limited upstream' }));
    expect(store.getState().workspaces[a.id]).toMatchObject({ status: Status.Degraded, last_sample_error: 'rate limited upstream' });
  });

  it('a removed workspace leaves the chart (and the selection); a created one is read', () => {
    const store = createCanvasStore();
    const a = ws();
    setWorkspaces(store, [a]);
    store.setState({ selected: a.id });
    applyEvent(store, event('WORKSPACE_REMOVED', a.id, 1));
    expect(store.getState().workspaces).toEqual({});
    expect(store.getState().selected).toBeUndefined();
    expect(applyEvent(store, event('WORKSPACE_CREATED', 'new-id', 2))).toEqual({ refetch: 'new-id' });
  });

  it('counts by status', () => {
    expect(countByStatus({ a: ws(), b: ws(), c: ws({ status: Status.Failed }) })).toEqual({ online: 2, failed: 1 });
  });
});

describe('canvas presentation', () => {
  it('C279 a provisioning workspace shows its elapsed time against provision_timeout_ms, else the 600 s default', () => {
    const started = Date.parse('2026-01-01T00:00:00Z');
    expect(statusLine(ws({ status: Status.Provisioning, updated_at: new Date(started).toISOString(), provision_timeout_ms: 1_800_000 }), started + 42_000)).toBe('Starting (42 s of 1800 s)');
    expect(statusLine(ws({ status: Status.Provisioning, updated_at: new Date(started).toISOString() }), started + 5_000)).toBe('Starting (5 s of 600 s)');
  });

  it('every status is said in words; degraded and failed say why', () => {
    expect(statusLine(ws({ status: Status.AwaitingAgent }))).toBe('Waiting for agent');
    expect(statusLine(ws({ status: Status.Degraded, last_sample_error: 'timeouts' }))).toBe('Degraded: timeouts');
    expect(statusLine(ws({ status: Status.Failed, last_sample_error: 'image not found' }))).toBe('Failed: image not found');
    expect(statusLine(ws({ status: Status.Paused }))).toBe('Paused');
  });

  it('teams hold their members; an orphan is a root; the layout is deterministic', () => {
    const lead = ws({ name: 'lead' });
    const kids = [ws({ parent_id: lead.id }), ws({ parent_id: lead.id })];
    const grandkid = ws({ parent_id: kids[0]!.id });
    const orphan = ws({ parent_id: '00000000-0000-4000-8000-999999999999' });
    const placed = layoutOrg([orphan, grandkid, ...kids, lead]);
    const byId = new Map(placed.map((p) => [p.id, p]));
    expect(byId.get(lead.id)).toMatchObject({ parentId: undefined, team: true });
    expect(byId.get(kids[0]!.id)).toMatchObject({ parentId: lead.id, team: true });
    expect(byId.get(grandkid.id)).toMatchObject({ parentId: kids[0]!.id, team: false, width: NODE_W });
    expect(byId.get(orphan.id)!.parentId).toBeUndefined();
    // A team's box holds its members' boxes.
    for (const p of placed.filter((x) => x.parentId)) {
      const parent = byId.get(p.parentId!)!;
      expect(p.x + p.width).toBeLessThanOrEqual(parent.width);
      expect(p.y + p.height).toBeLessThanOrEqual(parent.height);
    }
    expect(layoutOrg([lead, ...kids, grandkid, orphan])).toEqual(placed);
  });

  it('a delete names every workspace under the one deleted, at any depth, and nothing else', () => {
    const lead = ws({ name: 'lead' });
    const kid = ws({ name: 'kid', parent_id: lead.id });
    const grandkid = ws({ name: 'grandkid', parent_id: kid.id });
    const other = ws({ name: 'other' });
    const all = Object.fromEntries([lead, kid, grandkid, other].map((w) => [w.id, w]));
    expect(descendantsOf(all, lead.id).map((w) => w.name)).toEqual(['kid', 'grandkid']);
    expect(descendantsOf(all, kid.id).map((w) => w.name)).toEqual(['grandkid']);
    expect(descendantsOf(all, other.id)).toEqual([]);
  });
});
