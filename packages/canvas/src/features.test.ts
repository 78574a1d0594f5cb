import { describe, expect, it } from 'vitest';
import { Status, type PlatformEvent } from '@molecule/contracts';
import { moveRefusal, runBatch, topmost } from './actions.js';
import { activityFromEvent, matchesFilter } from './ActivityTab.js';
import { createApi } from './api.js';
import { deletionList } from './ConfirmDelete.js';
import { createBody, EMPTY_FORM, fieldErrors } from './CreateDialog.js';
import { peersOf } from './DetailsTab.js';
import { payloadLine } from './EventsTab.js';
import { HEADER, layoutOrg, NODE_W, PAD } from './layout.js';
import { searchWorkspaces } from './Search.js';
import { applyEvent, createCanvasStore, setWorkspaces, togglePicked } from './store.js';
import { ws } from './test-fixture.js';
import { closeReason } from './Terminal.js';
import { addTraffic, pruneTraffic, TRAFFIC_TTL_MS, trafficOpacity } from './traffic.js';

const event = (type: PlatformEvent['type'], workspaceId: string, payload: Record<string, unknown> = {}): PlatformEvent => ({ type, workspace_id: workspaceId, payload, at: new Date().toISOString(), seq: null });
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('layout with saved positions', () => {
  it('a placed member stays where it was put (kept clear of the header), its team box grows to hold it; the rest fill the grid', () => {
    const lead = ws({ name: 'lead' });
    const placed = ws({ parent_id: lead.id, x: 700, y: 400 });
    const tucked = ws({ parent_id: lead.id, x: -50, y: 10 });
    const gridded = ws({ parent_id: lead.id });
    const byId = new Map(layoutOrg([lead, placed, tucked, gridded]).map((p) => [p.id, p]));
    expect(byId.get(placed.id)).toMatchObject({ x: 700, y: 400, parentId: lead.id });
    expect(byId.get(tucked.id)).toMatchObject({ x: PAD, y: HEADER });
    expect(byId.get(gridded.id)).toMatchObject({ x: PAD, y: HEADER });
    expect(byId.get(lead.id)!.width).toBe(700 + NODE_W + PAD);
    expect(byId.get(lead.id)!.height).toBeGreaterThanOrEqual(400 + 96 + PAD);
  });

  it('a placed root keeps its canvas position; unplaced roots still line up from the left', () => {
    const a = ws({ x: -300, y: 250 });
    const b = ws();
    const byId = new Map(layoutOrg([a, b]).map((p) => [p.id, p]));
    expect(byId.get(a.id)).toMatchObject({ x: -300, y: 250 });
    expect(byId.get(b.id)).toMatchObject({ x: 0, y: 0 });
  });
});

describe('layout of a large org', () => {
  it('50 teams wrap into rows, about as wide as a screen for their height, without overlapping', () => {
    const list = [];
    for (let t = 0; t < 50; t++) {
      const lead = ws({ name: `lead-${t}` });
      list.push(lead, ...Array.from({ length: 9 }, () => ws({ parent_id: lead.id })));
    }
    const roots = layoutOrg(list).filter((p) => !p.parentId);
    expect(roots).toHaveLength(50);
    const width = Math.max(...roots.map((r) => r.x + r.width));
    const height = Math.max(...roots.map((r) => r.y + r.height));
    expect(width / height).toBeGreaterThan(1);
    expect(width / height).toBeLessThan(2.5);
    for (const a of roots) {
      for (const b of roots) {
        if (a === b) continue;
        const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
        expect(apart).toBe(true);
      }
    }
  });
});

describe('live A2A lines', () => {
  it('an agent-to-agent send draws a line that counts messages, fades over its life, and goes after 3 minutes', () => {
    const store = createCanvasStore();
    const [a, b] = [ws(), ws()];
    setWorkspaces(store, [a, b]);
    const send = event('ACTIVITY_LOGGED', a.id, { activity_type: 'a2a_send', source_id: a.id, target_id: b.id });
    applyEvent(store, send);
    applyEvent(store, send);
    // A user's message (no source) and an agent's own log draw nothing.
    applyEvent(store, event('ACTIVITY_LOGGED', b.id, { activity_type: 'a2a_receive', source_id: null, target_id: b.id }));
    applyEvent(store, event('ACTIVITY_LOGGED', a.id, { activity_type: 'agent_log', source_id: a.id, target_id: a.id }));
    const lines = Object.values(store.getState().traffic);
    expect(lines).toEqual([{ source: a.id, target: b.id, at: expect.any(Number), count: 2 }]);
    const at = lines[0]!.at;
    expect(trafficOpacity(at, at)).toBe(1);
    expect(trafficOpacity(at, at + TRAFFIC_TTL_MS / 2)).toBe(0.6);
    expect(pruneTraffic(store.getState().traffic, at + TRAFFIC_TTL_MS - 1)).toBe(store.getState().traffic);
    expect(pruneTraffic(store.getState().traffic, at + TRAFFIC_TTL_MS)).toEqual({});
    expect(Object.keys(addTraffic({}, a.id, b.id, 0))).toEqual([`${a.id}>${b.id}`]);
  });
});

describe('selection and batch actions', () => {
  it('picking toggles; a removed workspace leaves the selection', () => {
    const store = createCanvasStore();
    const [a, b] = [ws(), ws()];
    setWorkspaces(store, [a, b]);
    togglePicked(store, a.id);
    togglePicked(store, b.id);
    togglePicked(store, a.id);
    togglePicked(store, a.id);
    expect(store.getState().picked).toEqual([b.id, a.id]);
    applyEvent(store, { ...event('WORKSPACE_REMOVED', b.id), seq: 1 });
    expect(store.getState().picked).toEqual([a.id]);
  });

  it('a batch runs every action and reports each failure with its reason (the failed ones stay selected)', async () => {
    const r = await runBatch(['a', 'b', 'c'], async (id) => {
      if (id === 'b') throw new Error('workspace is paused');
      return id;
    });
    expect(r).toEqual({ ok: ['a', 'c'], failed: [{ id: 'b', error: 'workspace is paused' }] });
  });

  it('a batch delete sends only the topmost of the chosen (members go with their lead) and lists everything that goes', () => {
    const lead = ws({ name: 'lead' });
    const kid = ws({ name: 'kid', parent_id: lead.id });
    const grandkid = ws({ name: 'grandkid', parent_id: kid.id });
    const other = ws({ name: 'other' });
    const all = Object.fromEntries([lead, kid, grandkid, other].map((w) => [w.id, w]));
    expect(topmost(all, [grandkid.id, lead.id, other.id])).toEqual([lead.id, other.id]);
    expect(deletionList(all, [other.id, lead.id]).map((w) => w.name)).toEqual(['other', 'lead', 'kid', 'grandkid']);
  });
});

describe('moves', () => {
  it('a workspace may not report to itself or to one of its own members, at any depth; anywhere else is fine', () => {
    const lead = ws({ name: 'lead' });
    const kid = ws({ name: 'kid', parent_id: lead.id });
    const grandkid = ws({ name: 'grandkid', parent_id: kid.id });
    const other = ws({ name: 'other' });
    const all = Object.fromEntries([lead, kid, grandkid, other].map((w) => [w.id, w]));
    expect(moveRefusal(all, lead.id, grandkid.id)).toBe('lead cannot report to grandkid: it is one of its own members.');
    expect(moveRefusal(all, lead.id, lead.id)).toBe('lead cannot report to itself.');
    expect(moveRefusal(all, lead.id, other.id)).toBeUndefined();
    expect(moveRefusal(all, grandkid.id, lead.id)).toBeUndefined();
    expect(moveRefusal(all, kid.id, null)).toBeUndefined();
  });
});

describe('search', () => {
  it('finds by name (prefix first), role and status words', () => {
    const list = [ws({ name: 'Writer' }), ws({ name: 'Rewriter' }), ws({ name: 'Lead', role: 'writes plans' }), ws({ name: 'Broken', status: Status.Failed })];
    expect(searchWorkspaces(list, 'writ').map((w) => w.name)).toEqual(['Writer', 'Rewriter', 'Lead']);
    expect(searchWorkspaces(list, 'FAILED').map((w) => w.name)).toEqual(['Broken']);
    expect(searchWorkspaces(list, 'nothing like it')).toEqual([]);
    expect(searchWorkspaces(list, '  ').map((w) => w.name)).toEqual(['Broken', 'Lead', 'Rewriter', 'Writer']);
  });
});

describe('the create form', () => {
  it('is checked with the API schema before anything is sent: empty, over-long and malformed names, a bad budget', () => {
    expect(createBody(EMPTY_FORM)).toEqual({ errors: { name: 'name is required' } });
    expect(createBody({ ...EMPTY_FORM, name: 'x'.repeat(256) })).toEqual({ errors: { name: 'name must be at most 255 characters' } });
    expect(createBody({ ...EMPTY_FORM, name: 'a|b' })).toEqual({ errors: { name: 'name must not contain any of {}[]|>*&!' } });
    expect(createBody({ ...EMPTY_FORM, name: 'ok', budget: '12.345' })).toMatchObject({ errors: { budget: expect.stringMatching(/dollars/) } });
    expect(createBody({ ...EMPTY_FORM, name: 'ok', template: '../etc' })).toMatchObject({ errors: { template: expect.any(String) } });
  });

  it('a filled form is the API body: tier a number, the budget in cents, empty fields left out', () => {
    const parent = ws();
    expect(createBody({ ...EMPTY_FORM, name: ' Scout ', role: 'Research', parent_id: parent.id, runtime: 'molecule', template: 'echo', tier: '3', budget: '12.50', delivery_mode: 'push' })).toEqual({
      body: { name: 'Scout', role: 'Research', parent_id: parent.id, runtime: 'molecule', template: 'echo', tier: 3, budget_limit: 1250, delivery_mode: 'push' },
    });
  });

  it("the API's refusal lands at the field it names, anything else on the form", async () => {
    const api = createApi({ fetchImpl: async () => json(400, { error: 'invalid request body: /tier Invalid input', code: 'invalid_request', details: [{ path: '/tier', message: 'Invalid input' }] }) });
    const err = await api.create({ name: 'x' }).catch((e: unknown) => e);
    expect(fieldErrors(err)).toEqual({ tier: 'Invalid input' });
    const conflict = await createApi({ fetchImpl: async () => json(409, { error: 'parent workspace is removed', code: 'conflict' }) })
      .create({ name: 'x' })
      .catch((e: unknown) => e);
    expect(fieldErrors(conflict)).toEqual({ form: 'parent workspace is removed' });
  });
});

describe('api client: session and health', () => {
  it('a 401 on any call but the login tells the page (the session expired)', async () => {
    let told = 0;
    const api = createApi({ fetchImpl: async () => json(401, { error: 'auth required', code: 'unauthorized' }), onUnauthorized: () => told++ });
    await expect(api.workspaces()).rejects.toMatchObject({ status: 401 });
    await expect(api.login('bad')).rejects.toMatchObject({ status: 401 });
    expect(told).toBe(1);
  });

  it('health: ok, the database down (what it said), or no answer at all', async () => {
    expect(await createApi({ fetchImpl: async () => json(200, { status: 'ok' }) }).health()).toEqual({ ok: true });
    expect(await createApi({ fetchImpl: async () => json(503, { status: 'unavailable', error: 'database unreachable' }) }).health()).toEqual({
      ok: false,
      message: 'The platform is running, but reports: database unreachable.',
    });
    expect(
      await createApi({
        fetchImpl: async () => {
          throw new TypeError('fetch failed');
        },
      }).health(),
    ).toEqual({ ok: false, message: 'The platform cannot be reached.' });
  });
});

describe('panel views', () => {
  it('peers are the lead, the members and the teammates', () => {
    const lead = ws({ name: 'lead' });
    const me = ws({ name: 'me', parent_id: lead.id });
    const mate = ws({ name: 'mate', parent_id: lead.id });
    const mine = ws({ name: 'mine', parent_id: me.id });
    const stranger = ws({ name: 'stranger' });
    const all = Object.fromEntries([lead, me, mate, mine, stranger].map((w) => [w.id, w]));
    expect(peersOf(all, me).map((w) => w.name).sort()).toEqual(['lead', 'mate', 'mine']);
    expect(peersOf(all, stranger)).toEqual([]);
  });

  it('a live activity row comes from ACTIVITY_LOGGED, and the filters apply to it', () => {
    const peer = ws();
    const row = activityFromEvent('w', { id: 'r1', activity_type: 'a2a_send', source_id: 'w', target_id: peer.id, method: 'message/send', status: 'ok', created_at: '2026-01-01T00:00:00Z' })!;
    expect(row).toMatchObject({ id: 'r1', activity_type: 'a2a_send', target_id: peer.id, summary: null, duration_ms: null });
    expect(matchesFilter(row, { type: '', peer: '' })).toBe(true);
    expect(matchesFilter(row, { type: 'a2a_send', peer: peer.id })).toBe(true);
    expect(matchesFilter(row, { type: 'agent_log', peer: '' })).toBe(false);
    expect(matchesFilter(row, { type: '', peer: 'someone-else' })).toBe(false);
    expect(activityFromEvent('w', { activity_type: 'x' })).toBeUndefined();
  });

  it('an event payload reads as one line, long values cut', () => {
    expect(payloadLine({ name: 'a', tier: 2, error: 'x'.repeat(100) })).toBe(`name: a · tier: 2 · error: ${'x'.repeat(79)}…`);
  });
});

describe('terminal close reasons', () => {
  it("says the server's reason when it gave one, points to Diagnose when the upgrade never happened, and names drops and oversize frames", () => {
    expect(closeReason(4000, 'idle: no input for 1800 s', true)).toBe('idle: no input for 1800 s');
    expect(closeReason(1006, '', false)).toMatch(/Diagnose says why/);
    expect(closeReason(1006, '', true)).toBe('the connection dropped');
    expect(closeReason(1009, '', true)).toBe('a message was too large');
    expect(closeReason(1011, '', true)).toBe('closed (1011)');
  });
});
