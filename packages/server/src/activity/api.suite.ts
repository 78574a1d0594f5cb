import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_REPORTED_ACTIVITY_TYPES, type PlatformEvent } from '@molecule/contracts';
import { bearer, createExternal, json } from '../test-support/api.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';
import { recordActivities, type ActivityInsert } from './service.js';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/** The activity and notify API suite, on PGlite (api.test.ts) and on real PostgreSQL (api.int.test.ts). */
export function activityApiSuite(kind: DbKind): void {
  describe(`activity API on ${kind}`, () => {
    let t: TestApp;
    const seen: PlatformEvent[] = [];
    beforeAll(async () => {
      t = await startTestApp({ kind });
      t.bus.subscribe((e) => void seen.push(e));
    });
    afterAll(async () => t.close());

    const eventsOf = (id: string, type?: string) => seen.filter((e) => e.workspace_id === id && (type === undefined || e.type === type));
    const rowsOf = async (id: string) =>
      (await t.db.query<Record<string, unknown>>('SELECT * FROM activity_logs WHERE workspace_id = $1 ORDER BY created_at, id', [id])).rows;
    /** Rows and published events of a workspace: a refused call must leave both as they were. */
    const snapshot = async (id: string) => ({ rows: (await rowsOf(id)).length, events: eventsOf(id).length });

    const auth = (token?: string) => (token === undefined ? t.admin : bearer(token));
    const report = (id: string, payload: unknown, token?: string) =>
      t.app.inject({ method: 'POST', url: `/workspaces/${id}/activity`, headers: { ...json, ...auth(token) }, payload: payload as string });
    const list = (id: string, query: Record<string, string> = {}, token?: string) =>
      t.app.inject({ method: 'GET', url: `/workspaces/${id}/activity`, query, headers: auth(token) });
    const listRaw = (id: string, rawQuery: string) => t.app.inject({ method: 'GET', url: `/workspaces/${id}/activity?${rawQuery}`, headers: t.admin });
    const notify = (id: string, payload: unknown, token?: string) =>
      t.app.inject({ method: 'POST', url: `/workspaces/${id}/notify`, headers: { ...json, ...auth(token) }, payload: payload as string });

    /** Writes rows through the one writer, then backdates them: `ageSecs[i]` seconds ago. */
    const seed = async (rows: ActivityInsert[], ageSecs?: number[]) => {
      const stored = await recordActivities(t.deps, rows);
      if (ageSecs) {
        for (const [i, r] of stored.entries()) {
          await t.db.query(`UPDATE activity_logs SET created_at = now() - make_interval(secs => $2) WHERE id = $1`, [r.id, ageSecs[i]]);
        }
      }
      return stored.map((r) => r.id);
    };
    const log = (ws: string, extra: Partial<ActivityInsert> = {}): ActivityInsert => ({ workspace_id: ws, activity_type: 'agent_log', ...extra });
    const ids = (body: { id: string }[]) => body.map((r) => r.id);

    describe('POST /workspaces/:id/activity', () => {
      it('C093 C037 an agent logs its own action: source and target are itself, status ok, ACTIVITY_LOGGED carries the row', async () => {
        const w = await createExternal(t);
        const r = await report(w.id, { activity_type: 'agent_log', method: 'Read', summary: 'read README.md', duration_ms: 12, tool_trace: [{ tool: 'Read' }] }, w.token);
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json()).toEqual({ status: 'logged', id: expect.any(String) });
        const [row] = await rowsOf(w.id);
        expect(row).toMatchObject({
          id: r.json().id,
          activity_type: 'agent_log',
          source_id: w.id,
          target_id: w.id,
          method: 'Read',
          summary: 'read README.md',
          status: 'ok',
          duration_ms: 12,
          request_body: null,
          tool_trace: [{ tool: 'Read' }],
        });
        const [event] = eventsOf(w.id, 'ACTIVITY_LOGGED');
        expect(event).toMatchObject({
          seq: null,
          payload: {
            id: r.json().id,
            activity_type: 'agent_log',
            method: 'Read',
            summary: 'read README.md',
            status: 'ok',
            source_id: w.id,
            target_id: w.id,
            duration_ms: 12,
            tool_trace: [{ tool: 'Read' }],
            created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
          },
        });
        // Broadcast only: the row is the durable record.
        expect((await t.db.query('SELECT 1 FROM structure_events WHERE workspace_id = $1 AND event_type = $2', [w.id, 'ACTIVITY_LOGGED'])).rowCount).toBe(0);
      });

      it('C037 every self-action type defaults its target to the workspace; a2a rows keep no target unless given one', async () => {
        const w = await createExternal(t);
        const peer = await createExternal(t);
        for (const type of AGENT_REPORTED_ACTIVITY_TYPES) expect((await report(w.id, { activity_type: type }, w.token)).statusCode).toBe(200);
        expect((await report(w.id, { activity_type: 'a2a_send', target_id: peer.id }, w.token)).statusCode).toBe(200);
        expect((await report(w.id, { activity_type: 'agent_log', target_id: '' }, w.token)).statusCode).toBe(200);
        const rows = await rowsOf(w.id);
        const targetOf = (type: string) => rows.filter((r) => r.activity_type === type).map((r) => r.target_id);
        for (const type of ['task_update', 'skill_promotion', 'memory_write', 'error']) expect(targetOf(type)).toEqual([w.id]);
        expect(targetOf('agent_log')).toEqual([w.id, w.id]);
        expect(targetOf('a2a_receive')).toEqual([null]);
        expect(targetOf('a2a_send').sort()).toEqual([null, peer.id].sort());
      });

      it('metadata stands in for an absent request_body; request_body wins when both are sent; status and error_detail are kept', async () => {
        const w = await createExternal(t);
        await report(w.id, { activity_type: 'task_update', metadata: { step: 1 } }, w.token);
        await report(w.id, { activity_type: 'error', metadata: { m: 1 }, request_body: { r: 1 }, response_body: ['x'], status: 'failed', error_detail: 'timeout' }, w.token);
        const rows = await rowsOf(w.id);
        expect(rows.find((r) => r.activity_type === 'task_update')).toMatchObject({ request_body: { step: 1 }, response_body: null });
        expect(rows.find((r) => r.activity_type === 'error')).toMatchObject({ request_body: { r: 1 }, response_body: ['x'], status: 'failed', error_detail: 'timeout' });
      });

      it('an admin credential may report for a workspace; source_id may be empty or the workspace itself', async () => {
        const w = await createExternal(t);
        expect((await report(w.id, { activity_type: 'agent_log', source_id: '' })).statusCode).toBe(200);
        expect((await report(w.id, { activity_type: 'agent_log', source_id: w.id }, w.token)).statusCode).toBe(200);
        expect((await rowsOf(w.id)).map((r) => r.source_id)).toEqual([w.id, w.id]);
      });

      it('403 and nothing written when source_id names another workspace', async () => {
        const w = await createExternal(t);
        const other = await createExternal(t);
        const before = await snapshot(w.id);
        const r = await report(w.id, { activity_type: 'agent_log', source_id: other.id }, w.token);
        expect(r.statusCode).toBe(403);
        expect(r.json()).toEqual({ error: "source_id must be empty or this workspace's own ID", code: 'forbidden' });
        expect(await snapshot(w.id)).toEqual(before);
      });

      it('text the database cannot hold (NUL, lone surrogates) is stored as U+FFFD instead of failing the write', async () => {
        const w = await createExternal(t);
        const r = await report(w.id, { activity_type: 'agent_log', summary: 'a\u0000b', request_body: { k: 'x\ud800y', literal: '\\u0000' } }, w.token);
        expect(r.statusCode, r.body).toBe(200);
        const [row] = await rowsOf(w.id);
        expect(row).toMatchObject({ summary: 'a\ufffdb', request_body: { k: 'x\ufffdy', literal: '\\u0000' } });
      });

      it.each([
        ['no activity_type', {}, /activity_type/],
        ['an unknown activity_type', { activity_type: 'delegation' }, /activity_type must be one of a2a_send, a2a_receive/],
        ['a numeric summary', { activity_type: 'agent_log', summary: 42 }, /summary must be a string/],
        ['a summary over 8192 characters', { activity_type: 'agent_log', summary: 's'.repeat(8193) }, /summary must be at most 8192/],
        ['a negative duration', { activity_type: 'agent_log', duration_ms: -1 }, /duration_ms must not be negative/],
        ['a fractional duration', { activity_type: 'agent_log', duration_ms: 1.5 }, /duration_ms must be a whole number/],
        ['a duration as a string', { activity_type: 'agent_log', duration_ms: '10' }, /duration_ms must be a number/],
        ['a target_id that is not a uuid', { activity_type: 'a2a_send', target_id: 'ws-1' }, /target_id must be a workspace ID/],
        ['a source_id that is not a uuid', { activity_type: 'agent_log', source_id: "1' OR '1'='1" }, /source_id must be a workspace ID/],
        ['a status over 64 characters', { activity_type: 'agent_log', status: 'x'.repeat(65) }, /status must be at most 64/],
        ['an array body', [{ activity_type: 'agent_log' }], /body/],
      ])('400 naming the field, and nothing written, for %s', async (_label, payload, message) => {
        const w = await createExternal(t);
        const before = await snapshot(w.id);
        const r = await report(w.id, payload, w.token);
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json()).toMatchObject({ code: 'invalid_request', error: expect.stringMatching(message) });
        expect(await snapshot(w.id)).toEqual(before);
      });

      it('400 invalid_json for a malformed body, 413 for an oversize one; nothing written', async () => {
        const w = await createExternal(t);
        const before = await snapshot(w.id);
        const bad = await report(w.id, '{"activity_type": "agent_log",', w.token);
        expect(bad.statusCode).toBe(400);
        expect(bad.json()).toEqual({ error: 'malformed JSON body', code: 'invalid_json' });
        const big = await report(w.id, JSON.stringify({ activity_type: 'agent_log', request_body: { blob: 'x'.repeat(2 * 1024 * 1024) } }), w.token);
        expect(big.statusCode).toBe(413);
        expect(await snapshot(w.id)).toEqual(before);
      });
    });

    describe('who may read and write a log', () => {
      it.each([
        ['POST activity', (id: string, token?: string) => report(id, { activity_type: 'agent_log' }, token)],
        ['GET activity', (id: string, token?: string) => list(id, {}, token)],
        ['POST notify', (id: string, token?: string) => notify(id, { message: 'hi' }, token)],
      ])('%s: 401 without a credential or with an unknown one, 403 with another workspace token; nothing written', async (_label, call) => {
        const w = await createExternal(t);
        const other = await createExternal(t);
        const before = await snapshot(w.id);
        const none = await t.app.inject({ method: 'POST', url: `/workspaces/${w.id}/activity`, headers: json, payload: { activity_type: 'agent_log' } });
        expect(none.statusCode).toBe(401);
        expect((await call(w.id, 'mol_ws_' + 'x'.repeat(43))).statusCode).toBe(401);
        const foreign = await call(w.id, other.token);
        expect(foreign.statusCode).toBe(403);
        expect(foreign.json()).toMatchObject({ code: 'forbidden' });
        expect(await snapshot(w.id)).toEqual(before);
      });

      it('404 for an unknown workspace, 400 for a malformed id, 410 for a removed one and 401 for its token; nothing written', async () => {
        const w = await createExternal(t);
        const del = await t.app.inject({ method: 'DELETE', url: `/workspaces/${w.id}`, headers: t.admin });
        expect(del.statusCode, del.body).toBe(200);
        const before = await snapshot(w.id);
        for (const call of [
          () => report(UNKNOWN_ID, { activity_type: 'agent_log' }),
          () => list(UNKNOWN_ID),
          () => notify(UNKNOWN_ID, { message: 'hi' }),
        ]) {
          const r = await call();
          expect(r.statusCode).toBe(404);
          expect(r.json()).toEqual({ error: 'workspace not found', code: 'not_found' });
        }
        expect((await report('not-a-uuid', { activity_type: 'agent_log' })).statusCode).toBe(400);
        for (const call of [() => report(w.id, { activity_type: 'agent_log' }), () => list(w.id), () => notify(w.id, { message: 'hi' })]) {
          const r = await call();
          expect(r.statusCode).toBe(410);
          expect(r.json()).toMatchObject({ error: 'workspace removed', code: 'gone' });
        }
        expect((await report(w.id, { activity_type: 'agent_log' }, w.token)).statusCode).toBe(401);
        expect(await snapshot(w.id)).toEqual(before);
      });
    });

    describe('GET /workspaces/:id/activity', () => {
      it('C086 C093 newest first, 100 by default, with upstream fields and the JSON bodies only when set', async () => {
        const w = await createExternal(t);
        const seeded = await seed(
          Array.from({ length: 105 }, (_, i) => log(w.id, { summary: `s${i}` })),
          Array.from({ length: 105 }, (_, i) => 1000 - i),
        );
        const r = await list(w.id, {}, w.token);
        expect(r.statusCode, r.body).toBe(200);
        const body = r.json();
        expect(body).toHaveLength(100);
        expect(ids(body)).toEqual(seeded.slice(5).reverse());
        expect(Object.keys(body[0]).sort()).toEqual(
          ['activity_type', 'created_at', 'duration_ms', 'error_detail', 'id', 'method', 'source_id', 'status', 'summary', 'target_id', 'workspace_id'].sort(),
        );
        const [withBodies] = await seed([log(w.id, { request_body: { q: 1 }, response_body: { a: 2 }, tool_trace: [] })]);
        const top = (await list(w.id, { limit: '1' })).json()[0];
        expect(top).toMatchObject({ id: withBodies, request_body: { q: 1 }, response_body: { a: 2 }, tool_trace: [] });
      });

      it('C086 type and source filter; source canvas means no source workspace, agent means one', async () => {
        const w = await createExternal(t);
        const peer = await createExternal(t);
        const [canvasIn, agentIn, send] = await seed([
          { workspace_id: w.id, activity_type: 'a2a_receive', source_id: null },
          { workspace_id: w.id, activity_type: 'a2a_receive', source_id: peer.id },
          { workspace_id: w.id, activity_type: 'a2a_send', source_id: w.id, target_id: peer.id },
        ], [3, 2, 1]);
        expect(ids((await list(w.id, { type: 'a2a_receive' })).json())).toEqual([agentIn, canvasIn]);
        expect(ids((await list(w.id, { source: 'canvas' })).json())).toEqual([canvasIn]);
        expect(ids((await list(w.id, { source: 'agent' })).json())).toEqual([send, agentIn]);
        expect(ids((await list(w.id, { type: 'a2a_receive', source: 'canvas' })).json())).toEqual([canvasIn]);
        expect((await list(w.id, { type: 'cron_run' })).json()).toEqual([]);
      });

      it('C086 limit takes 1 to 500', async () => {
        const w = await createExternal(t);
        await seed([log(w.id), log(w.id), log(w.id)]);
        expect((await list(w.id, { limit: '2' })).json()).toHaveLength(2);
        expect((await list(w.id, { limit: '500' })).json()).toHaveLength(3);
      });

      it('C087 since_secs keeps the last N seconds, clamps past 30 days, and composes with since_id by AND', async () => {
        const w = await createExternal(t);
        const [days31, days29, old, recent, newest] = await seed([log(w.id), log(w.id), log(w.id), log(w.id), log(w.id)], [31 * 86400, 29 * 86400, 600, 30, 5]);
        expect(ids((await list(w.id, { since_secs: '60' })).json())).toEqual([newest, recent]);
        expect(ids((await list(w.id, { since_secs: '99999999999999999999' })).json())).toEqual([newest, recent, old, days29]);
        expect(ids((await list(w.id, { since_secs: '2592000' })).json())).not.toContain(days31);
        // AND: after the cursor (oldest first) and within the window.
        expect(ids((await list(w.id, { since_id: days29!, since_secs: '60' })).json())).toEqual([recent, newest]);
      });

      it('C088 since_id returns the rows strictly after the cursor, oldest first, and pages without gaps', async () => {
        const w = await createExternal(t);
        const seeded = await seed(Array.from({ length: 7 }, () => log(w.id)), [70, 60, 50, 40, 30, 20, 10]);
        expect(ids((await list(w.id, { since_id: seeded[2]! })).json())).toEqual(seeded.slice(3));
        const seenIds: string[] = [];
        let cursor = seeded[0]!;
        for (;;) {
          const page = ids((await list(w.id, { since_id: cursor, limit: '2' })).json());
          if (page.length === 0) break;
          seenIds.push(...page);
          cursor = page.at(-1)!;
        }
        expect(seenIds).toEqual(seeded.slice(1));
      });

      it('C089 an unknown cursor and another workspace\'s cursor both answer 410, identically', async () => {
        const w = await createExternal(t);
        const other = await createExternal(t);
        const [foreignRow] = await seed([log(other.id)]);
        const [ownRow] = await seed([log(w.id)]);
        const unknown = await list(w.id, { since_id: randomUUID() }, w.token);
        const foreign = await list(w.id, { since_id: foreignRow! }, w.token);
        expect(unknown.statusCode).toBe(410);
        expect(foreign.statusCode).toBe(410);
        expect(foreign.json()).toEqual(unknown.json());
        expect(unknown.json()).toMatchObject({ code: 'gone', error: expect.stringMatching(/since_id/) });
        // A pruned cursor is the same 410.
        await t.db.query('DELETE FROM activity_logs WHERE id = $1', [ownRow]);
        expect((await list(w.id, { since_id: ownRow! }, w.token)).json()).toEqual(unknown.json());
      });

      it('C090 peer_id covers both directions of a conversation', async () => {
        const w = await createExternal(t);
        const peer = await createExternal(t);
        const stranger = await createExternal(t);
        const [inbound, outbound] = await seed([
          { workspace_id: w.id, activity_type: 'a2a_receive', source_id: peer.id, target_id: w.id },
          { workspace_id: w.id, activity_type: 'a2a_send', source_id: w.id, target_id: peer.id },
          { workspace_id: w.id, activity_type: 'a2a_receive', source_id: stranger.id, target_id: w.id },
          { workspace_id: w.id, activity_type: 'a2a_receive', source_id: null },
        ], [4, 3, 2, 1]);
        expect(ids((await list(w.id, { peer_id: peer.id })).json())).toEqual([outbound, inbound]);
        expect(ids((await list(w.id, { peer_id: peer.id, type: 'a2a_receive' })).json())).toEqual([inbound]);
      });

      it('C091 before_ts is strict and pages chat history backwards with peer_id, rows of one millisecond included', async () => {
        const w = await createExternal(t);
        const peer = await createExternal(t);
        const rows = await seed(Array.from({ length: 5 }, () => ({ workspace_id: w.id, activity_type: 'a2a_receive' as const, source_id: peer.id })));
        // Same millisecond, different microseconds.
        for (const [i, id] of rows.entries()) {
          await t.db.query(`UPDATE activity_logs SET created_at = '2026-03-01T10:00:00.123000Z'::timestamptz + make_interval(secs => $2) WHERE id = $1`, [id, i / 1e6]);
        }
        const first = (await list(w.id, { peer_id: peer.id, limit: '2' })).json();
        expect(ids(first)).toEqual([rows[4], rows[3]]);
        expect(first[1].created_at).toBe('2026-03-01T10:00:00.123003Z');
        const collected = ids(first);
        let oldest = first.at(-1).created_at as string;
        for (;;) {
          const page = (await list(w.id, { peer_id: peer.id, before_ts: oldest, limit: '2' })).json();
          if (page.length === 0) break;
          collected.push(...ids(page));
          oldest = page.at(-1).created_at;
        }
        expect(collected).toEqual([...rows].reverse());
        // An offset other than Z, sent encoded.
        expect(ids((await listRaw(w.id, `before_ts=2026-03-01T11:00:00.123002%2B01:00`)).json())).toEqual([rows[1], rows[0]]);
      });

      it('C094 rows with the same created_at come back in id order both ways, whatever order they were written in', async () => {
        // Written against the id order each query must return, so only the tie-break can put them right.
        const peer = await createExternal(t);
        const sameInstant = async (ws: string, order: 'asc' | 'desc') => {
          const rowIds = Array.from({ length: 6 }, () => randomUUID()).sort();
          if (order === 'desc') rowIds.reverse();
          for (const id of rowIds) {
            await t.db.query(
              `INSERT INTO activity_logs (id, workspace_id, activity_type, source_id, created_at) VALUES ($1, $2, $3, $4, '2026-03-02T00:00:00Z')`,
              [id, ws, 'a2a_receive', peer.id],
            );
          }
          return [...rowIds].sort();
        };
        const w = await createExternal(t);
        const byId = await sameInstant(w.id, 'asc');
        expect(ids((await list(w.id)).json())).toEqual([...byId].reverse());
        expect(ids((await list(w.id, { peer_id: peer.id })).json())).toEqual([...byId].reverse());
        const v = await createExternal(t);
        const byIdV = await sameInstant(v.id, 'desc');
        expect(ids((await list(v.id, { since_id: byIdV[0]! })).json())).toEqual(byIdV.slice(1));
        expect(ids((await list(v.id, { since_id: byIdV[0]!, peer_id: peer.id })).json())).toEqual(byIdV.slice(1));
      });

      it('C086 every filter composes with the others', async () => {
        const w = await createExternal(t);
        const peer = await createExternal(t);
        const [, match] = await seed([
          { workspace_id: w.id, activity_type: 'a2a_receive', source_id: peer.id },
          { workspace_id: w.id, activity_type: 'a2a_receive', source_id: peer.id },
          { workspace_id: w.id, activity_type: 'a2a_receive', source_id: null, target_id: peer.id },
          { workspace_id: w.id, activity_type: 'a2a_send', source_id: w.id, target_id: peer.id },
          { workspace_id: w.id, activity_type: 'a2a_receive', source_id: peer.id },
        ], [500, 50, 40, 30, 5]);
        const before = new Date(Date.now() - 20_000).toISOString();
        const r = await list(w.id, { type: 'a2a_receive', source: 'agent', peer_id: peer.id, since_secs: '300', before_ts: before, limit: '10' });
        expect(ids(r.json())).toEqual([match]);
      });

      it.each([
        ['limit', '0', /limit must be a whole number from 1 to 500/],
        ['limit', '-1', /limit/],
        ['limit', '501', /limit/],
        ['limit', 'abc', /limit/],
        ['limit', '1.5', /limit/],
        ['since_secs', '0', /since_secs must be a positive whole number of seconds/],
        ['since_secs', '-1', /since_secs/],
        ['since_secs', '1.5', /since_secs/],
        ['since_secs', 'abc', /since_secs/],
        ['since_secs', '', /since_secs/],
        ['since_id', 'abc', /since_id must be an activity ID/],
        ['since_id', "1' OR '1'='1", /since_id/],
        ['peer_id', 'not-a-uuid', /peer_id must be a workspace ID/],
        ['before_ts', '2026-01-01', /before_ts must be an RFC 3339 timestamp/],
        ['before_ts', 'yesterday', /before_ts/],
        ['before_ts', '2026-13-01T00:00:00Z', /before_ts/],
        ['before_ts', '2026-02-30T00:00:00Z', /before_ts/],
        ['before_ts', '0000-01-01T00:00:00Z', /before_ts/],
        ['before_ts', '2026-01-01T00:00:00+16:00', /before_ts/],
        ['before_ts', "2026-01-01T00:00:00Z' OR '1'='1", /before_ts/],
        ['before_ts', '2026-01-01T00:00:00Z; DROP TABLE activity_logs', /before_ts/],
        ['type', 'everything', /type must be one of a2a_send/],
        ['source', 'bogus', /source must be 'canvas' or 'agent'/],
      ])('400 naming the field for %s=%j', async (field, value, message) => {
        const w = await createExternal(t);
        await seed([log(w.id)]);
        const r = await list(w.id, { [field]: value }, w.token);
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json()).toMatchObject({ code: 'invalid_request', error: expect.stringMatching(message), details: [expect.objectContaining({ path: `/${field}` })] });
        expect((await rowsOf(w.id)).length).toBe(1);
      });

      it('C091 a URL-encoded injection in before_ts and an unencoded + are refused, and the table is intact', async () => {
        const w = await createExternal(t);
        await seed([log(w.id)]);
        for (const raw of [
          'before_ts=2026-01-01T00%3A00%3A00Z%27%29%20OR%20%271%27%3D%271',
          'before_ts=2026-01-01T00:00:00Z%3BDELETE%20FROM%20activity_logs',
          'before_ts=2026-01-01T00:00:00+02:00',
          'limit=1&limit=2',
        ]) {
          const r = await listRaw(w.id, raw);
          expect(r.statusCode, raw).toBe(400);
          expect(r.json().code).toBe('invalid_request');
        }
        expect((await rowsOf(w.id)).length).toBe(1);
      });
    });

    it('/openapi.json documents the three routes and the list filters', async () => {
      const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      expect(doc.paths['/workspaces/{id}/activity']).toHaveProperty(['post']);
      expect(doc.paths['/workspaces/{id}/notify']).toHaveProperty(['post']);
      const params = doc.paths['/workspaces/{id}/activity'].get.parameters.map((p: { name: string }) => p.name);
      expect(params).toEqual(expect.arrayContaining(['type', 'source', 'limit', 'since_secs', 'since_id', 'peer_id', 'before_ts']));
    });

    describe('POST /workspaces/:id/notify', () => {
      const attachment = { uri: 'workspace:/workspace/.molecule/chat-uploads/1-report.pdf', name: 'report.pdf', mimeType: 'application/pdf', size: 2048 };

      it('C069 C070 broadcasts AGENT_MESSAGE and stores an a2a_receive row that chat history replays with its file parts', async () => {
        const w = await createExternal(t, { name: 'notifier' });
        const message = `Here is the report you asked for. ${'x'.repeat(100)}`;
        const r = await notify(w.id, { message, attachments: [attachment, { uri: 'https://example.com/a.png', name: 'a.png' }] }, w.token);
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json()).toEqual({ status: 'sent' });
        const [event] = eventsOf(w.id, 'AGENT_MESSAGE');
        expect(event).toMatchObject({
          seq: null,
          payload: { message, workspace_id: w.id, name: 'notifier', attachments: [attachment, { uri: 'https://example.com/a.png', name: 'a.png' }] },
        });
        const history = (await list(w.id, { type: 'a2a_receive', source: 'canvas' }, w.token)).json();
        expect(history).toHaveLength(1);
        expect(history[0]).toMatchObject({
          activity_type: 'a2a_receive',
          method: 'notify',
          source_id: null,
          status: 'ok',
          summary: `Agent message: ${message.slice(0, 80)}`,
          response_body: {
            result: message,
            parts: [
              { kind: 'file', file: attachment },
              { kind: 'file', file: { uri: 'https://example.com/a.png', name: 'a.png' } },
            ],
          },
        });
        expect(history[0]).not.toHaveProperty('request_body');
      });

      it('C070 a message without attachments stores no parts; extra fields (type) are ignored', async () => {
        const w = await createExternal(t);
        expect((await notify(w.id, { message: 'done', type: 'delegation_result' }, w.token)).statusCode).toBe(200);
        const [row] = await rowsOf(w.id);
        expect(row!.response_body).toEqual({ result: 'done' });
        expect(eventsOf(w.id, 'AGENT_MESSAGE')[0]!.payload).not.toHaveProperty('attachments');
      });

      it('C071 a failed insert is logged and neither blocks the broadcast nor the 200', async () => {
        const w = await createExternal(t, { name: 'unlucky' });
        // A real failure inside the database, scoped to this workspace.
        await t.db.exec(`
          CREATE OR REPLACE FUNCTION refuse_notify_row() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'disk full'; END $$;
          CREATE TRIGGER refuse_notify_row BEFORE INSERT ON activity_logs FOR EACH ROW
            WHEN (NEW.workspace_id = '${w.id}') EXECUTE FUNCTION refuse_notify_row();`);
        try {
          const r = await notify(w.id, { message: 'still here', attachments: [attachment] }, w.token);
          expect(r.statusCode, r.body).toBe(200);
          expect(r.json()).toEqual({ status: 'sent' });
          expect(eventsOf(w.id, 'AGENT_MESSAGE')[0]!.payload).toMatchObject({ message: 'still here', name: 'unlucky', attachments: [attachment] });
          expect(await rowsOf(w.id)).toEqual([]);
          expect(eventsOf(w.id, 'ACTIVITY_LOGGED')).toEqual([]);
        } finally {
          await t.db.exec('DROP TRIGGER refuse_notify_row ON activity_logs; DROP FUNCTION refuse_notify_row();');
        }
      });

      it.each([
        ['an empty uri', [{ uri: '', name: 'a.txt' }], 0],
        ['an empty name', [{ uri: 'workspace:/a.txt', name: '' }], 0],
        ['both empty', [{ uri: '', name: '' }], 0],
        ['both missing', [{}], 0],
        ['a blank uri', [{ uri: '   ', name: 'a.txt' }], 0],
        ['a bad second element', [{ uri: 'workspace:/a.txt', name: 'a.txt' }, { uri: 'workspace:/b.txt' }], 1],
      ])('C068 400 "attachment[i]: uri and name are required" for %s; nothing stored or sent', async (_label, attachments, index) => {
        const w = await createExternal(t);
        const before = await snapshot(w.id);
        const r = await notify(w.id, { message: 'hi', attachments }, w.token);
        expect(r.statusCode).toBe(400);
        expect(r.json()).toEqual({ error: `attachment[${index}]: uri and name are required`, code: 'invalid_request' });
        expect(await snapshot(w.id)).toEqual(before);
      });

      it.each([
        ['no message', {}, /message is required/],
        ['an empty message', { message: '' }, /message is required/],
        ['a blank message', { message: '  \n' }, /message is required/],
        ['a numeric message', { message: 7 }, /message is required/],
        ['attachments not an array', { message: 'hi', attachments: { uri: 'a', name: 'b' } }, /attachments/],
        ['a null attachment', { message: 'hi', attachments: [null] }, /attachments/],
        ['a negative size', { message: 'hi', attachments: [{ uri: 'workspace:/a', name: 'a', size: -1 }] }, /size must not be negative/],
        ['a numeric uri', { message: 'hi', attachments: [{ uri: 5, name: 'a' }] }, /uri/],
        ['a javascript: uri', { message: 'hi', attachments: [{ uri: 'javascript:alert(1)', name: 'a' }] }, /attachment\[0\]: uri must be a workspace:, http: or https: URI/],
        ['a file: uri', { message: 'hi', attachments: [{ uri: 'file:///etc/passwd', name: 'passwd' }] }, /attachment\[0\]: uri must be/],
        ['too many attachments', { message: 'hi', attachments: Array.from({ length: 51 }, () => ({ uri: 'workspace:/a', name: 'a' })) }, /at most 50 attachments/],
      ])('400 and nothing stored or sent for %s', async (_label, payload, message) => {
        const w = await createExternal(t);
        const before = await snapshot(w.id);
        const r = await notify(w.id, payload, w.token);
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json()).toMatchObject({ code: 'invalid_request', error: expect.stringMatching(message) });
        expect(await snapshot(w.id)).toEqual(before);
      });

      it('413 for an oversize body and 400 for malformed JSON; nothing stored or sent', async () => {
        const w = await createExternal(t);
        const before = await snapshot(w.id);
        expect((await notify(w.id, JSON.stringify({ message: 'm'.repeat(2 * 1024 * 1024) }), w.token)).statusCode).toBe(413);
        expect((await notify(w.id, '{"message":', w.token)).statusCode).toBe(400);
        expect(await snapshot(w.id)).toEqual(before);
      });
    });
  });
}
