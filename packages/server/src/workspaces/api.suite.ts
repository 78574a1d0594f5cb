import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { canCommunicate } from '../hierarchy/access.js';
import { markProvisionFailed } from './transitions.js';
import { fakeProvisioner } from '../test-support/fake-provisioner.js';
import { bearer, countRows, createExternal, createWs, eventsOf, json } from '../test-support/api.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';
import { getWorkspace, setStatus } from './repo.js';

/** The workspaces API suite, on PGlite (api.test.ts) and on real PostgreSQL (api.int.test.ts). */
export function workspaceApiSuite(kind: DbKind): void {
  describe(`workspaces API on ${kind}`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ kind });
    });
    afterAll(async () => t.close());

    const post = (payload: unknown, headers: Record<string, string> = {}) =>
      t.app.inject({ method: 'POST', url: '/workspaces', headers: { ...t.admin, ...json, ...headers }, payload: payload as string });

    describe('create', () => {
      it('applies the defaults: runtime molecule, tier 2, push delivery, one concurrent task', async () => {
        const ws = await createWs(t, { name: 'defaults' });
        expect(ws).toMatchObject({ name: 'defaults', runtime: 'molecule', tier: 2, delivery_mode: 'push', max_concurrent_tasks: 1, role: null, parent_id: null, budget_limit: null });
        expect(ws).not.toHaveProperty('platform_inbound_secret');
      });

      it('C019 C274 an external workspace starts awaiting_agent, defaults to poll, and carries a one-time connection', async () => {
        const r = await post({ name: 'laptop-agent', runtime: 'external' });
        expect(r.statusCode).toBe(201);
        const ws = r.json();
        expect(ws).toMatchObject({ status: 'awaiting_agent', runtime: 'external', delivery_mode: 'poll' });
        expect(ws.connection).toMatchObject({ workspace_id: ws.id, auth_token: expect.stringMatching(/^mol_ws_[A-Za-z0-9_-]{43}$/) });
        expect(ws.connection.platform_url).toMatch(/^http:\/\//);
        // The token works for that workspace and is stored only as a hash.
        const own = await t.app.inject({ method: 'GET', url: `/workspaces/${ws.id}`, headers: bearer(ws.connection.auth_token) });
        expect(own.statusCode).toBe(200);
        const stored = await t.db.query<{ prefix: string }>('SELECT prefix FROM workspace_auth_tokens WHERE workspace_id = $1', [ws.id]);
        expect(stored.rows).toHaveLength(1);
        expect(ws.connection.auth_token.startsWith(stored.rows[0]!.prefix)).toBe(true);
        expect((await eventsOf(t, ws.id)).map((e) => e.event_type)).toEqual(['WORKSPACE_CREATED', 'WORKSPACE_AWAITING_AGENT']);
      });

      it('an external workspace may ask for push delivery explicitly', async () => {
        expect((await createWs(t, { name: 'pushy', runtime: 'external', delivery_mode: 'push' })).delivery_mode).toBe('push');
      });

      it('C110 with no backend the create itself marks the workspace failed with an actionable message and an event', async () => {
        const ws = await createWs(t, { name: 'no-backend' });
        expect(ws.status).toBe('failed');
        expect(ws.last_sample_error).toMatch(/MOLECULE_PROVISIONER/);
        const events = await eventsOf(t, ws.id);
        expect(events.map((e) => e.event_type)).toEqual(['WORKSPACE_CREATED', 'WORKSPACE_PROVISIONING', 'WORKSPACE_PROVISION_FAILED']);
        expect(events[2]!.payload).toEqual({ error: ws.last_sample_error });
        expect((await getWorkspace(t.db, ws.id))!.status).toBe(Status.Failed);
      });

      it('C131 max_concurrent_tasks: omitted or 0 means 1, an explicit 3 is stored as 3', async () => {
        expect((await createWs(t, { name: 'm0', max_concurrent_tasks: 0 })).max_concurrent_tasks).toBe(1);
        expect((await createWs(t, { name: 'm-omitted' })).max_concurrent_tasks).toBe(1);
        const three = await createWs(t, { name: 'm3', max_concurrent_tasks: 3 });
        expect((await getWorkspace(t.db, three.id))!.max_concurrent_tasks).toBe(3);
      });

      it('from a template, max_concurrent_tasks is the template\'s unless the request gives one (the agent is started with the row\'s)', async () => {
        expect((await createWs(t, { name: 'm-echo', template: 'echo' })).max_concurrent_tasks).toBe(4);
        expect((await createWs(t, { name: 'm-echo-2', template: 'echo', max_concurrent_tasks: 2 })).max_concurrent_tasks).toBe(2);
      });

      it('C163 budget_limit and max_concurrent_tasks are written by the one insert whatever was supplied', async () => {
        const a = await createWs(t, { name: 'b1', budget_limit: 500, max_concurrent_tasks: 2 });
        const b = await createWs(t, { name: 'b2' });
        expect(await getWorkspace(t.db, a.id)).toMatchObject({ budget_limit: 500, max_concurrent_tasks: 2 });
        expect(await getWorkspace(t.db, b.id)).toMatchObject({ budget_limit: null, max_concurrent_tasks: 1 });
      });

      it('accepts tier as 1..4 or "T1".."T4" and stores the integer', async () => {
        expect((await createWs(t, { name: 't3', tier: 'T3' })).tier).toBe(3);
        expect((await createWs(t, { name: 't4', tier: 4 })).tier).toBe(4);
      });

      it('C132 an invalid delivery_mode is rejected before any side effect', async () => {
        const before = await Promise.all([countRows(t, 'workspaces'), countRows(t, 'structure_events')]);
        const r = await post({ name: 'bad-mode', delivery_mode: 'carrier-pigeon' });
        expect(r.statusCode).toBe(400);
        expect(r.json()).toMatchObject({ code: 'invalid_request', error: expect.stringContaining('delivery_mode') });
        expect(await Promise.all([countRows(t, 'workspaces'), countRows(t, 'structure_events')])).toEqual(before);
      });

      it('C132 a valid delivery_mode is persisted by the create', async () => {
        const ws = await createWs(t, { name: 'poller', delivery_mode: 'poll' });
        expect((await getWorkspace(t.db, ws.id))!.delivery_mode).toBe('poll');
      });

      it.each([
        ['missing name', {}],
        ['empty name', { name: '  ' }],
        ['name with a line break', { name: 'a\nb' }],
        ['name with forbidden characters', { name: 'a{b}' }],
        ['name too long', { name: 'x'.repeat(256) }],
        ['wrong type for name', { name: 42 }],
        ['tier out of range', { name: 'x', tier: 5 }],
        ['tier label out of range', { name: 'x', tier: 'T9' }],
        ['unknown runtime', { name: 'x', runtime: 'skynet' }],
        ['negative budget', { name: 'x', budget_limit: -1 }],
        ['fractional max_concurrent_tasks', { name: 'x', max_concurrent_tasks: 1.5 }],
        ['parent_id not a uuid', { name: 'x', parent_id: 'abc' }],
        ['template with a path', { name: 'x', template: '../etc' }],
        ['an unknown field', { name: 'x', external: true }],
        ['an array body', [{ name: 'x' }]],
      ])('400 and nothing created for %s', async (_label, body) => {
        const before = await countRows(t, 'workspaces');
        const r = await post(body);
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json()).toMatchObject({ error: expect.any(String), code: 'invalid_request' });
        expect(await countRows(t, 'workspaces')).toBe(before);
      });

      it('400 invalid_json for a malformed body, 413 for an oversize one', async () => {
        const bad = await post('{"name": "x",');
        expect(bad.statusCode).toBe(400);
        expect(bad.json()).toEqual({ error: 'malformed JSON body', code: 'invalid_json' });
        const big = await post(JSON.stringify({ name: 'x', role: 'r'.repeat(2 * 1024 * 1024) }));
        expect(big.statusCode).toBe(413);
        expect(big.json()).toMatchObject({ code: 'payload_too_large' });
      });

      it('404 for an unknown parent and 409 for a removed parent, nothing created', async () => {
        const before = await countRows(t, 'workspaces');
        const unknown = await post({ name: 'orphan', parent_id: '00000000-0000-4000-8000-000000000000' });
        expect(unknown.statusCode).toBe(404);
        const gone = await createExternal(t);
        await t.app.inject({ method: 'DELETE', url: `/workspaces/${gone.id}`, headers: t.admin });
        const afterDelete = await countRows(t, 'workspaces');
        const removed = await post({ name: 'late-child', parent_id: gone.id });
        expect(removed.statusCode).toBe(409);
        expect(removed.json().error).toMatch(/removed/);
        expect(await countRows(t, 'workspaces')).toBe(afterDelete);
        expect(afterDelete).toBe(before + 1);
      });
    });

    describe('read', () => {
      it('GET /workspaces lists live workspaces oldest first; include_removed adds removed ones', async () => {
        const a = await createExternal(t, { name: 'list-a' });
        const b = await createExternal(t, { name: 'list-b' });
        await t.app.inject({ method: 'DELETE', url: `/workspaces/${b.id}`, headers: t.admin });
        const live = (await t.app.inject({ method: 'GET', url: '/workspaces', headers: t.admin })).json() as { id: string }[];
        expect(live.map((w) => w.id)).toContain(a.id);
        expect(live.map((w) => w.id)).not.toContain(b.id);
        const all = (await t.app.inject({ method: 'GET', url: '/workspaces?include_removed=true', headers: t.admin })).json() as { id: string }[];
        expect(all.map((w) => w.id)).toContain(b.id);
        expect(all.findIndex((w) => w.id === a.id)).toBeLessThan(all.findIndex((w) => w.id === b.id));
      });

      it('C160 a removed workspace answers 410 with removed_at and a hint', async () => {
        const w = await createExternal(t);
        await t.app.inject({ method: 'DELETE', url: `/workspaces/${w.id}`, headers: t.admin });
        const r = await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: t.admin });
        expect(r.statusCode).toBe(410);
        const body = r.json();
        expect(body).toMatchObject({ error: 'workspace removed', id: w.id, hint: expect.stringMatching(/Regenerate/) });
        expect(new Date(body.removed_at).getTime()).toBeGreaterThan(0);
      });

      it('C161 include_removed=true returns the row with status removed', async () => {
        const w = await createExternal(t);
        await t.app.inject({ method: 'DELETE', url: `/workspaces/${w.id}`, headers: t.admin });
        const r = await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}?include_removed=true`, headers: t.admin });
        expect(r.statusCode).toBe(200);
        expect(r.json()).toMatchObject({ id: w.id, status: 'removed' });
      });

      it('400 for a non-UUID id, 404 for an unknown one, 400 for a bad boolean', async () => {
        for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
          const r = await t.app.inject({ method, url: '/workspaces/not-a-uuid', headers: { ...t.admin, ...json }, payload: method === 'PATCH' ? { name: 'x' } : undefined });
          expect(r.statusCode, method).toBe(400);
          expect(r.json().error).toMatch(/invalid workspace ID/);
        }
        const unknown = await t.app.inject({ method: 'GET', url: '/workspaces/00000000-0000-4000-8000-000000000000', headers: t.admin });
        expect(unknown.statusCode).toBe(404);
        const badBool = await t.app.inject({ method: 'GET', url: '/workspaces?include_removed=yes', headers: t.admin });
        expect(badBool.statusCode).toBe(400);
      });
    });

    describe('update', () => {
      it('renames, re-roles and re-parents, and records WORKSPACE_UPDATED', async () => {
        const boss = await createExternal(t, { name: 'boss' });
        const w = await createExternal(t, { name: 'worker' });
        const r = await t.app.inject({
          method: 'PATCH',
          url: `/workspaces/${w.id}`,
          headers: { ...t.admin, ...json },
          payload: { name: 'lead', role: 'Team lead', parent_id: boss.id },
        });
        expect(r.statusCode).toBe(200);
        expect(r.json()).toMatchObject({ name: 'lead', role: 'Team lead', parent_id: boss.id });
        const events = await eventsOf(t, w.id);
        expect(events.at(-1)).toEqual({ event_type: 'WORKSPACE_UPDATED', payload: { name: 'lead', role: 'Team lead', parent_id: boss.id } });
        const detach = await t.app.inject({ method: 'PATCH', url: `/workspaces/${w.id}`, headers: { ...t.admin, ...json }, payload: { parent_id: null } });
        expect(detach.json().parent_id).toBeNull();
      });

      it('a read right after a change sees the change (the read cache is invalidated by the write)', async () => {
        const w = await createExternal(t, { name: 'before' });
        const get = async () => (await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: t.admin })).json();
        expect((await get()).name).toBe('before');
        await t.app.inject({ method: 'PATCH', url: `/workspaces/${w.id}`, headers: { ...t.admin, ...json }, payload: { name: 'after' } });
        expect((await get()).name).toBe('after');
        await t.app.inject({ method: 'DELETE', url: `/workspaces/${w.id}`, headers: t.admin });
        expect((await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: t.admin })).statusCode).toBe(410);
      });

      it('refuses a cycle, its own id, an unknown or removed parent, and an empty body; nothing changes', async () => {
        const a = await createExternal(t, { name: 'cyc-a' });
        const b = await createExternal(t, { name: 'cyc-b', parent_id: a.id });
        const c = await createExternal(t, { name: 'cyc-c', parent_id: b.id });
        const gone = await createExternal(t, { name: 'cyc-gone' });
        await t.app.inject({ method: 'DELETE', url: `/workspaces/${gone.id}`, headers: t.admin });
        const patch = (id: string, payload: unknown) =>
          t.app.inject({ method: 'PATCH', url: `/workspaces/${id}`, headers: { ...t.admin, ...json }, payload: payload as object });
        expect((await patch(a.id, { parent_id: c.id })).statusCode).toBe(400);
        expect((await patch(a.id, { parent_id: a.id })).statusCode).toBe(400);
        expect((await patch(a.id, { parent_id: '00000000-0000-4000-8000-000000000000' })).statusCode).toBe(404);
        expect((await patch(a.id, { parent_id: gone.id })).statusCode).toBe(409);
        expect((await patch(a.id, {})).statusCode).toBe(400);
        expect((await patch(a.id, { name: 'x', status: 'online' })).statusCode).toBe(400);
        expect((await getWorkspace(t.db, a.id))!.parent_id).toBeNull();
        expect((await patch(gone.id, { name: 'zombie' })).statusCode).toBe(410);
      });

      it('stores a canvas position, clears it with nulls, and forgets it when the parent changes without one', async () => {
        const lead = await createExternal(t, { name: 'pos-lead' });
        const created = await createWs(t, { name: 'pos-worker', runtime: 'external' });
        expect(created).toMatchObject({ x: null, y: null });
        const w = { id: created.id as string };
        const patch = (payload: object) => t.app.inject({ method: 'PATCH', url: `/workspaces/${w.id}`, headers: { ...t.admin, ...json }, payload });
        expect((await patch({ x: 120.5, y: -40 })).json()).toMatchObject({ x: 120.5, y: -40, parent_id: null });
        expect((await eventsOf(t, w.id)).at(-1)).toEqual({ event_type: 'WORKSPACE_UPDATED', payload: { x: 120.5, y: -40 } });
        // Positions are relative to the parent's box: a move into a team without one is laid out afresh...
        expect((await patch({ parent_id: lead.id })).json()).toMatchObject({ parent_id: lead.id, x: null, y: null });
        // ...and a move with one (a drop at a point) keeps it.
        expect((await patch({ parent_id: null, x: 300, y: 10 })).json()).toMatchObject({ parent_id: null, x: 300, y: 10 });
        expect((await patch({ x: null, y: null })).json()).toMatchObject({ x: null, y: null });
        const listed = (await t.app.inject({ method: 'GET', url: '/workspaces', headers: t.admin })).json() as { id: string; x: unknown }[];
        expect(listed.find((r) => r.id === w.id)).toMatchObject({ x: null, y: null });
      });

      it('refuses half a position, a non-number and an out-of-range coordinate; nothing changes', async () => {
        const w = await createExternal(t, { name: 'pos-bad' });
        await t.app.inject({ method: 'PATCH', url: `/workspaces/${w.id}`, headers: { ...t.admin, ...json }, payload: { x: 1, y: 2 } });
        for (const payload of [{ x: 5 }, { y: 5 }, { x: 5, y: null }, { x: '5', y: 5 }, { x: 1e7, y: 0 }, { x: 0, y: -1e7 }]) {
          const r = await t.app.inject({ method: 'PATCH', url: `/workspaces/${w.id}`, headers: { ...t.admin, ...json }, payload });
          expect(r.statusCode, JSON.stringify(payload)).toBe(400);
          expect(r.json().error).toMatch(/x|y|number|1000000/i);
        }
        expect(await getWorkspace(t.db, w.id)).toMatchObject({ canvas_x: 1, canvas_y: 2 });
      });
    });

    describe('canvas viewport', () => {
      const put = (payload: unknown, headers: Record<string, string> = t.admin) =>
        t.app.inject({ method: 'PUT', url: '/canvas/viewport', headers: { ...headers, ...json }, payload: payload as object });
      const get = (headers: Record<string, string> = t.admin) => t.app.inject({ method: 'GET', url: '/canvas/viewport', headers });

      it('answers the default until one is saved, then the last saved one', async () => {
        await t.db.query('DELETE FROM canvas_viewport');
        expect((await get()).json()).toEqual({ x: 0, y: 0, zoom: 1 });
        expect((await put({ x: -120, y: 45.5, zoom: 0.75 })).json()).toEqual({ status: 'saved' });
        expect((await put({ x: -130, y: 40, zoom: 0.5 })).json()).toEqual({ status: 'saved' });
        expect((await get()).json()).toEqual({ x: -130, y: 40, zoom: 0.5 });
        expect(await countRows(t, 'canvas_viewport')).toBe(1);
      });

      it('is for the admin only, and refuses a bad viewport; nothing changes', async () => {
        await put({ x: 1, y: 2, zoom: 1 });
        const agent = await createExternal(t, { name: 'vp-agent' });
        expect((await get({})).statusCode).toBe(401);
        expect((await put({ x: 9, y: 9, zoom: 1 }, {})).statusCode).toBe(401);
        expect((await put({ x: 9, y: 9, zoom: 1 }, bearer(agent.token))).statusCode).toBe(403);
        for (const bad of [{ x: 1, y: 2 }, { x: 1, y: 2, zoom: 0 }, { x: 1, y: 2, zoom: 50 }, { x: 'a', y: 2, zoom: 1 }, { x: 1, y: 2, zoom: 1, extra: true }, []]) {
          const r = await put(bad);
          expect(r.statusCode, JSON.stringify(bad)).toBe(400);
          expect(r.json()).toMatchObject({ error: expect.any(String) });
        }
        expect((await get()).json()).toEqual({ x: 1, y: 2, zoom: 1 });
      });
    });

    describe('delete', () => {
      it('C153 marks the whole subtree removed, revokes its tokens and reports cascade_deleted', async () => {
        const root = await createExternal(t, { name: 'del-root' });
        const kid = await createExternal(t, { name: 'del-kid', parent_id: root.id });
        const grandkid = await createExternal(t, { name: 'del-grandkid', parent_id: kid.id });
        const needConfirm = await t.app.inject({ method: 'DELETE', url: `/workspaces/${root.id}`, headers: t.admin });
        expect(needConfirm.statusCode).toBe(409);
        expect(needConfirm.json()).toMatchObject({ code: 'confirmation_required', children_count: 1, children: [{ id: kid.id, name: 'del-kid' }] });
        expect((await getWorkspace(t.db, root.id))!.status).toBe(Status.AwaitingAgent);

        const r = await t.app.inject({ method: 'DELETE', url: `/workspaces/${root.id}?confirm=true`, headers: t.admin });
        expect(r.statusCode).toBe(200);
        expect(r.json()).toEqual({ status: 'removed', cascade_deleted: 2 });
        for (const w of [root, kid, grandkid]) {
          expect((await getWorkspace(t.db, w.id))!.status).toBe(Status.Removed);
          expect((await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: bearer(w.token) })).statusCode).toBe(401);
          expect((await eventsOf(t, w.id)).at(-1)!.event_type).toBe('WORKSPACE_REMOVED');
        }
        expect((await eventsOf(t, root.id)).at(-1)!.payload).toEqual({ cascade_deleted: 2 });
      });

      it('404 for an unknown workspace; deleting twice is safe', async () => {
        expect((await t.app.inject({ method: 'DELETE', url: '/workspaces/00000000-0000-4000-8000-000000000000', headers: t.admin })).statusCode).toBe(404);
        const w = await createExternal(t);
        expect((await t.app.inject({ method: 'DELETE', url: `/workspaces/${w.id}`, headers: t.admin })).statusCode).toBe(200);
        const again = await t.app.inject({ method: 'DELETE', url: `/workspaces/${w.id}`, headers: t.admin });
        expect(again.statusCode).toBe(200);
        expect((await eventsOf(t, w.id)).filter((e) => e.event_type === 'WORKSPACE_REMOVED')).toHaveLength(1);
      });

      it('purge=true hard-deletes the subtree, its tokens and its events', async () => {
        const root = await createExternal(t, { name: 'purge-root' });
        const kid = await createExternal(t, { name: 'purge-kid', parent_id: root.id });
        const r = await t.app.inject({ method: 'DELETE', url: `/workspaces/${root.id}?confirm=true&purge=true`, headers: t.admin });
        expect(r.json()).toEqual({ status: 'purged', cascade_deleted: 1 });
        for (const id of [root.id, kid.id]) {
          expect(await getWorkspace(t.db, id)).toBeUndefined();
          expect(await eventsOf(t, id)).toEqual([]);
          const tokens = await t.db.query('SELECT 1 FROM workspace_auth_tokens WHERE workspace_id = $1', [id]);
          expect(tokens.rowCount).toBe(0);
        }
      });

      it('C013 a removed workspace is never resurrected by a later status write', async () => {
        const w = await createExternal(t);
        await t.app.inject({ method: 'DELETE', url: `/workspaces/${w.id}`, headers: t.admin });
        expect(await setStatus(t.db, w.id, Status.Online)).toBeUndefined();
        await markProvisionFailed(t.deps, w.id, 'late failure');
        const row = (await getWorkspace(t.db, w.id))!;
        expect(row.status).toBe(Status.Removed);
        expect((await eventsOf(t, w.id)).map((e) => e.event_type)).not.toContain('WORKSPACE_PROVISION_FAILED');
      });
    });

    it('canCommunicate reads the live tree and denies removed workspaces', async () => {
      const root = await createExternal(t, { name: 'h-root' });
      const a = await createExternal(t, { name: 'h-a', parent_id: root.id });
      const b = await createExternal(t, { name: 'h-b', parent_id: root.id });
      const a1 = await createExternal(t, { name: 'h-a1', parent_id: a.id });
      const b1 = await createExternal(t, { name: 'h-b1', parent_id: b.id });
      expect(await canCommunicate(t.db, a.id, b.id)).toEqual({ allowed: true, reason: 'siblings' });
      expect(await canCommunicate(t.db, a1.id, root.id)).toEqual({ allowed: true, reason: 'ancestor' });
      expect(await canCommunicate(t.db, a1.id, b1.id)).toEqual({ allowed: false, reason: 'unrelated' });
      await t.app.inject({ method: 'DELETE', url: `/workspaces/${b.id}?confirm=true`, headers: t.admin });
      expect(await canCommunicate(t.db, a.id, b.id)).toEqual({ allowed: false, reason: 'removed' });
      expect(await canCommunicate(t.db, a.id, '00000000-0000-4000-8000-000000000000')).toEqual({ allowed: false, reason: 'unknown' });
    });
  });

  describe(`delete with a backend on ${kind}`, () => {
    let t: TestApp;
    let fake: ReturnType<typeof fakeProvisioner>;
    beforeAll(async () => {
      fake = fakeProvisioner();
      t = await startTestApp({
        kind,
        config: { provisioner: 'docker' },
        tweak: (deps) => {
          deps.provisioner = fake.prov;
          deps.deleteCleanupTimeoutMs = 300;
        },
      });
    });
    afterAll(async () => t.close());

    it('C152 C154 C156 delete stops through the configured backend; a failed stop answers 500 with counts, skips that volume removal, and leaves the rows removed', async () => {
      const root = await createWs(t, { name: 'f-root' });
      const ok = await createWs(t, { name: 'f-ok', parent_id: root.id });
      const bad = await createWs(t, { name: 'f-bad', parent_id: root.id });
      fake.failStop.add('f-bad');
      const r = await t.app.inject({ method: 'DELETE', url: `/workspaces/${root.id}?confirm=true`, headers: t.admin });
      expect(r.statusCode).toBe(500);
      const body = r.json();
      expect(body).toMatchObject({ removed_count: 3, stop_failures: 1, error: expect.stringMatching(/retry/) });
      expect(JSON.stringify(body)).not.toMatch(/AccessDenied|arn:aws|i-0abc/);
      expect(fake.calls.removeVolumes).toEqual(expect.arrayContaining(['f-root', 'f-ok']));
      expect(fake.calls.removeVolumes).not.toContain('f-bad');
      for (const w of [root, ok, bad]) expect((await getWorkspace(t.db, w.id))!.status).toBe(Status.Removed);
      fake.failStop.delete('f-bad');
    });

    it('C157 a retry after a failed stop resolves the removed subtree again and re-attempts the stop', async () => {
      const root = await createWs(t, { name: 'r-root' });
      await createWs(t, { name: 'r-bad', parent_id: root.id });
      fake.failStop.add('r-bad');
      expect((await t.app.inject({ method: 'DELETE', url: `/workspaces/${root.id}?confirm=true`, headers: t.admin })).statusCode).toBe(500);
      fake.failStop.delete('r-bad');
      const stopsBefore = fake.calls.stop.filter((n) => n === 'r-bad').length;
      const retry = await t.app.inject({ method: 'DELETE', url: `/workspaces/${root.id}?confirm=true`, headers: t.admin });
      expect(retry.statusCode).toBe(200);
      expect(retry.json()).toEqual({ status: 'removed', cascade_deleted: 1 });
      expect(fake.calls.stop.filter((n) => n === 'r-bad').length).toBe(stopsBefore + 1);
      expect(fake.calls.removeVolumes).toContain('r-bad');
    });

    it('C155 a stop that hangs is bounded by the cleanup timeout and counted as a failure', async () => {
      const w = await createWs(t, { name: 'f-hang' });
      fake.hangStop.add('f-hang');
      const r = await t.app.inject({ method: 'DELETE', url: `/workspaces/${w.id}`, headers: t.admin });
      expect(r.statusCode).toBe(500);
      expect(r.json()).toMatchObject({ removed_count: 1, stop_failures: 1 });
      fake.hangStop.delete('f-hang');
    });

    it('C155 cleanup finishes after the client hangs up: the stop completes and the volumes are removed', async () => {
      const w = await createWs(t, { name: 'f-hangup' });
      let release!: () => void;
      fake.gates.set('f-hangup', new Promise<void>((r) => (release = r)));
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const ac = new AbortController();
      const req = fetch(`${address}/workspaces/${w.id}`, { method: 'DELETE', headers: t.admin, signal: ac.signal });
      await expect.poll(() => fake.calls.stop.includes('f-hangup')).toBe(true);
      ac.abort();
      await expect(req).rejects.toThrow();
      expect(fake.calls.removeVolumes).not.toContain('f-hangup');
      release();
      await expect.poll(() => fake.calls.removeVolumes.includes('f-hangup')).toBe(true);
      expect((await eventsOf(t, w.id)).map((e) => e.event_type)).toContain('WORKSPACE_REMOVED');
    });

    it('provisions through the wired backend and records the instance', async () => {
      const w = await createWs(t, { name: 'f-started' });
      expect(w.status).toBe('provisioning');
      await expect.poll(async () => (await getWorkspace(t.db, w.id))!.instance_id).toBe(`inst-${w.id}`);
      expect(fake.calls.start).toContain('f-started');
    });
  });
}
