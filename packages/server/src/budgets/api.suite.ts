import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUDGET_PERIODS, Status } from '@molecule/contracts';
import { loadMigrations, migrateDown, migrateUp } from '../db/migrate.js';
import { bearer, createExternal, createWs, eventsOf, json } from '../test-support/api.js';
import { startFakeAgent, type FakeAgent } from '../test-support/fake-agent.js';
import { startWithFakeBackend } from '../test-support/fake-provisioner.js';
import { freshDb, type DbKind, type TestApp } from '../test-support/harness.js';
import { getWorkspace, setStatus } from '../workspaces/repo.js';
import { periodWindow } from './period.js';
import { budgetBlock, recordUsage } from './service.js';

type Row = Record<string, unknown>;

/** 1000 input + 1000 output tokens: 3000 + 15000 micro-USD = 1.8 cents. */
const USAGE = { input_tokens: 1000, output_tokens: 1000 };

const send = (text: string) => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'message/send',
  params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } },
});

/** The budgets API and the budget gate of the A2A proxy, on PGlite (api.test.ts) and real PostgreSQL (api.int.test.ts). */
export function budgetsApiSuite(kind: DbKind): void {
  describe(`budgets on ${kind}`, () => {
    let t: TestApp;
    const agents: FakeAgent[] = [];
    beforeAll(async () => {
      ({ t } = await startWithFakeBackend({ kind }));
    });
    afterAll(async () => {
      for (const a of agents) await a.close();
      await t.close();
    });

    const call = (method: 'GET' | 'PATCH' | 'POST' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = t.admin) =>
      t.app.inject({
        method,
        url,
        headers: { ...headers, ...(payload === undefined ? {} : json) },
        ...(payload === undefined ? {} : { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) }),
      });
    const budget = async (id: string) => {
      const r = await call('GET', `/workspaces/${id}/budget`);
      expect(r.statusCode, r.body).toBe(200);
      return r.json<Row>();
    };
    const patch = (id: string, body: unknown, headers: Record<string, string> = t.admin) => call('PATCH', `/workspaces/${id}/budget`, body, headers);
    const a2a = (id: string, text: string) => call('POST', `/workspaces/${id}/a2a`, send(text));
    /** An online workspace whose agent is a fresh fake agent. */
    const online = async (name: string, extra: Row = {}) => {
      const agent = await startFakeAgent();
      agents.push(agent);
      const ws = await createWs(t, { name, ...extra });
      await expect.poll(async () => (await getWorkspace(t.db, ws.id))!.instance_id).not.toBeNull();
      await setStatus(t.db, ws.id, Status.Online);
      await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [ws.id, agent.url]);
      t.deps.workspaceCache.invalidate(ws.id);
      return { id: ws.id, agent };
    };
    /** Everything a refused write must leave alone: the budget row and the events. */
    const state = async (id: string) => ({
      row: (await t.db.query('SELECT budget_limit, team_budget_limit, budget_period, updated_at FROM workspaces WHERE id = $1', [id])).rows[0],
      events: (await eventsOf(t, id)).length,
    });

    it('GET answers upstream\'s three fields and ours: no limits, no spend, the monthly period by default', async () => {
      const ws = await createExternal(t, { name: 'b-default' });
      const now = new Date();
      const month = periodWindow('monthly', now);
      expect(await budget(ws.id)).toEqual({
        budget_limit: null,
        monthly_spend: 0,
        budget_remaining: null,
        budget_period: 'monthly',
        period_start: month.start.toISOString(),
        period_resets_at: month.end.toISOString(),
        period_spend: 0,
        team_budget_limit: null,
        team_spend: 0,
        team_remaining: null,
        blocked_by: null,
      });
      // The workspace's own token reads it too.
      expect((await call('GET', `/workspaces/${ws.id}/budget`, undefined, bearer(ws.token))).statusCode).toBe(200);
    });

    it('PATCH sets, keeps and clears each field, answers the view and records WORKSPACE_UPDATED each time', async () => {
      const ws = await createExternal(t, { name: 'b-patch' });
      await recordUsage(t.db, ws.id, { input_tokens: 100_000, output_tokens: 100_000 }); // 180 cents
      let r = await patch(ws.id, { budget_limit: 500 });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toMatchObject({ budget_limit: 500, monthly_spend: 180, period_spend: 180, budget_remaining: 320, team_budget_limit: null, budget_period: 'monthly', blocked_by: null });
      r = await patch(ws.id, { team_budget_limit: 100, budget_period: 'weekly' });
      expect(r.json()).toMatchObject({ budget_limit: 500, team_budget_limit: 100, team_spend: 180, team_remaining: -80, budget_period: 'weekly' });
      expect(r.json().blocked_by).toMatchObject({ scope: 'team', workspace_id: ws.id, limit: 100, spend: 180, period: 'weekly', resets_at: periodWindow('weekly', new Date()).end.toISOString() });
      r = await patch(ws.id, { budget_limit: null, team_budget_limit: null, budget_period: null });
      expect(r.json()).toMatchObject({ budget_limit: null, budget_remaining: null, team_budget_limit: null, team_remaining: null, budget_period: 'monthly', blocked_by: null });
      // Zero is a limit (nothing may be spent), not "none".
      expect((await patch(ws.id, { budget_limit: 0 })).json()).toMatchObject({ budget_limit: 0, blocked_by: { scope: 'workspace', limit: 0 } });
      expect(await budget(ws.id)).toMatchObject({ budget_limit: 0 });
      const updates = (await eventsOf(t, ws.id)).filter((e) => e.event_type === 'WORKSPACE_UPDATED');
      expect(updates.map((e) => e.payload.budget)).toEqual([
        { budget_limit: 500, team_budget_limit: null, budget_period: 'monthly' },
        { budget_limit: 500, team_budget_limit: 100, budget_period: 'weekly' },
        { budget_limit: null, team_budget_limit: null, budget_period: 'monthly' },
        { budget_limit: 0, team_budget_limit: null, budget_period: 'monthly' },
      ]);
    });

    it('bad input is a clear 4xx and changes nothing', async () => {
      const ws = await createExternal(t, { name: 'b-bad' });
      const other = await createExternal(t, { name: 'b-bad-other' });
      expect((await patch(ws.id, { budget_limit: 700 })).statusCode).toBe(200);
      const before = await state(ws.id);
      const cases: [string, unknown, RegExp][] = [
        ['no field', {}, /budget_limit field is required/],
        ['negative', { budget_limit: -1 }, /budget_limit must be >= 0 \(USD cents\)/],
        ['not an integer', { budget_limit: 12.5 }, /budget_limit must be an integer \(USD cents\) or null/],
        ['a string', { budget_limit: '100' }, /budget_limit must be an integer \(USD cents\) or null/],
        ['a negative team limit', { team_budget_limit: -5 }, /team_budget_limit must be >= 0/],
        ['a fractional team limit', { team_budget_limit: 0.5 }, /team_budget_limit must be an integer/],
        ['an unknown period', { budget_period: 'hourly' }, /budget_period must be one of daily, weekly, monthly/],
        ['an unknown key', { budget_limt: 100 }, /budget_limt|unrecognized/i],
        ['a valid field beside a bad one', { budget_limit: 10, team_budget_limit: -1 }, /team_budget_limit must be >= 0/],
        ['an array', [100], /./],
        ['malformed JSON', '{"budget_limit": ', /malformed JSON/],
      ];
      for (const [what, body, message] of cases) {
        const r = await patch(ws.id, body);
        expect(r.statusCode, `${what}: ${r.body}`).toBe(400);
        expect(r.json<{ error: string }>().error, what).toMatch(message);
      }
      // Not an admin: no credential 401; the workspace's own token (or another's) 403.
      expect((await patch(ws.id, { budget_limit: 1 }, {})).statusCode).toBe(401);
      expect((await patch(ws.id, { budget_limit: 1 }, bearer(ws.token))).statusCode).toBe(403);
      expect((await patch(ws.id, { budget_limit: 1 }, bearer(other.token))).statusCode).toBe(403);
      // Another workspace's token may not read it either.
      expect((await call('GET', `/workspaces/${ws.id}/budget`, undefined, bearer(other.token))).statusCode).toBe(403);
      expect((await call('GET', `/workspaces/${ws.id}/budget`, undefined, {})).statusCode).toBe(401);
      expect(await state(ws.id)).toEqual(before);

      // Unknown, malformed and removed workspaces.
      const unknown = randomUUID();
      for (const r of [await patch(unknown, { budget_limit: 1 }), await call('GET', `/workspaces/${unknown}/budget`)]) {
        expect(r.statusCode, r.body).toBe(404);
        expect(r.json()).toMatchObject({ error: 'workspace not found', code: 'not_found' });
      }
      for (const r of [await patch('not-a-uuid', { budget_limit: 1 }), await call('GET', '/workspaces/not-a-uuid/budget')]) {
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json().error).toMatch(/invalid workspace ID/);
      }
      expect((await call('DELETE', `/workspaces/${other.id}?confirm=true`)).statusCode).toBe(200);
      const removed = await state(other.id);
      for (const r of [await patch(other.id, { budget_limit: 1 }), await call('GET', `/workspaces/${other.id}/budget`)]) {
        expect(r.statusCode, r.body).toBe(410);
        expect(r.json()).toMatchObject({ code: 'gone' });
      }
      expect(await state(other.id)).toEqual(removed);
    });

    it('402 for the workspace limit names the scope, the limit and the spend; the error text stays upstream\'s', async () => {
      const ws = await online('b-own', { budget_limit: 1 });
      ws.agent.always({ kind: 'usage', input: 1000, output: 1000 });
      expect((await a2a(ws.id, 'spend')).statusCode).toBe(200);
      expect((await a2a(ws.id, 'again')).statusCode).toBe(402); // the spend is recorded before the answer returns
      const r = await a2a(ws.id, 'once more');
      expect(r.json()).toEqual({
        error: 'workspace budget limit exceeded',
        code: 'budget_exceeded',
        scope: 'workspace',
        workspace_id: ws.id,
        limit: 1,
        spend: 1,
        period: 'monthly',
        resets_at: periodWindow('monthly', new Date()).end.toISOString(),
      });
      expect(ws.agent.received).toHaveLength(1);
      expect((await budget(ws.id)).blocked_by).toEqual({ scope: 'workspace', workspace_id: ws.id, limit: 1, spend: 1, period: 'monthly', resets_at: expect.any(String) });
      // Raising the limit serves it again at once.
      expect((await patch(ws.id, { budget_limit: 1000 })).json()).toMatchObject({ blocked_by: null });
      expect((await a2a(ws.id, 'raised')).statusCode).toBe(200);
    });

    it('402 team: a member\'s reported usage fills the team limit, then another member is refused with scope team; outside the team is served', async () => {
      const root = await createWs(t, { name: 'b-team-root' });
      expect((await patch(root.id, { team_budget_limit: 3 })).statusCode).toBe(200);
      const spender = await online('b-team-spender', { parent_id: root.id });
      const lead = await createWs(t, { name: 'b-team-lead', parent_id: root.id });
      const member = await online('b-team-member', { parent_id: lead.id });
      const outsider = await online('b-outsider');
      spender.agent.always({ kind: 'usage', input: 1000, output: 1000 });

      // 1.8 cents an answer: the team reaches 3 cents on the second answer.
      expect((await a2a(spender.id, 'one')).statusCode).toBe(200);
      expect((await a2a(member.id, 'still within budget')).statusCode).toBe(200);
      expect((await a2a(spender.id, 'two')).statusCode).toBe(200);
      expect((await budget(root.id)).team_spend).toBe(3);

      const refused = await a2a(member.id, 'over the team budget');
      expect(refused.statusCode, refused.body).toBe(402);
      expect(refused.json()).toEqual({
        error: 'team budget limit exceeded',
        code: 'budget_exceeded',
        scope: 'team',
        workspace_id: root.id,
        limit: 3,
        spend: 3,
        period: 'monthly',
        resets_at: periodWindow('monthly', new Date()).end.toISOString(),
      });
      expect(member.agent.received).toHaveLength(1);
      expect((await a2a(spender.id, 'three')).statusCode).toBe(402);
      expect((await a2a(outsider.id, 'not in that team')).statusCode).toBe(200);

      // GET answers the same block (one check), and each member's figures.
      const block = { scope: 'team', workspace_id: root.id, limit: 3, spend: 3, period: 'monthly', resets_at: expect.any(String) };
      expect(await budget(member.id)).toMatchObject({ budget_limit: null, period_spend: 0, team_budget_limit: null, team_spend: 0, blocked_by: block });
      expect(await budget(root.id)).toMatchObject({ team_budget_limit: 3, team_spend: 3, team_remaining: 0, period_spend: 0, blocked_by: block });
      expect(await budget(lead.id)).toMatchObject({ blocked_by: block });
      expect(await budget(outsider.id)).toMatchObject({ blocked_by: null });

      // A team limit lower in the tree is checked too; the nearest reached one is named.
      expect((await patch(lead.id, { team_budget_limit: 0 })).statusCode).toBe(200);
      expect((await a2a(member.id, 'x')).json()).toMatchObject({ scope: 'team', workspace_id: lead.id, limit: 0, spend: 0 });
      expect((await patch(lead.id, { team_budget_limit: null })).statusCode).toBe(200);

      // Clearing the team limit serves the team again.
      expect((await patch(root.id, { team_budget_limit: null })).statusCode).toBe(200);
      expect((await a2a(member.id, 'cleared')).statusCode).toBe(200);
    });

    it('the period starts over at its reset: daily at UTC midnight, weekly on Monday, monthly on the 1st (one check, driven by its clock)', async () => {
      const root = await createExternal(t, { name: 'b-period-root' });
      const ws = await createExternal(t, { name: 'b-period', parent_id: root.id });
      // Tuesday 2026-03-10, noon UTC: 1.8 cents.
      await recordUsage(t.db, ws.id, USAGE, new Date('2026-03-10T12:00:00Z'));
      await t.db.query('UPDATE workspaces SET budget_limit = 1 WHERE id = $1', [ws.id]);
      const at = (iso: string) => budgetBlock(t.db, ws.id, new Date(iso));
      const setPeriod = (id: string, p: string) => t.db.query('UPDATE workspaces SET budget_period = $2 WHERE id = $1', [id, p]);

      await setPeriod(ws.id, 'daily');
      expect(await at('2026-03-10T00:00:00Z')).toMatchObject({ scope: 'workspace', spend: 1, period: 'daily', resets_at: '2026-03-11T00:00:00.000Z' });
      expect(await at('2026-03-10T23:59:59.999Z')).toMatchObject({ scope: 'workspace' });
      expect(await at('2026-03-11T00:00:00Z')).toBeNull();
      expect(await at('2026-03-09T23:59:59Z')).toBeNull();

      await setPeriod(ws.id, 'weekly');
      expect(await at('2026-03-15T23:59:59Z')).toMatchObject({ scope: 'workspace', resets_at: '2026-03-16T00:00:00.000Z' });
      expect(await at('2026-03-16T00:00:00Z')).toBeNull();

      await setPeriod(ws.id, 'monthly');
      expect(await at('2026-03-31T23:59:59Z')).toMatchObject({ scope: 'workspace', resets_at: '2026-04-01T00:00:00.000Z' });
      expect(await at('2026-04-01T00:00:00Z')).toBeNull();

      // A team limit counts over the team root's period.
      await t.db.query('UPDATE workspaces SET budget_limit = NULL WHERE id = $1', [ws.id]);
      await t.db.query('UPDATE workspaces SET team_budget_limit = 1 WHERE id = $1', [root.id]);
      await setPeriod(root.id, 'daily');
      expect(await at('2026-03-10T18:00:00Z')).toMatchObject({ scope: 'team', workspace_id: root.id, spend: 1, period: 'daily' });
      expect(await at('2026-03-11T00:00:00Z')).toBeNull();
    });

    it('over HTTP, spend of an earlier day is out of a daily period and still in the month', async () => {
      const ws = await online('b-daily', { budget_limit: 1 });
      const now = new Date();
      const yesterday = new Date(now.getTime() - 24 * 3600 * 1000);
      await recordUsage(t.db, ws.id, { input_tokens: 100_000, output_tokens: 0 }, yesterday); // 30 cents
      const r = await patch(ws.id, { budget_period: 'daily' });
      const today = periodWindow('daily', now);
      expect(r.json()).toMatchObject({ budget_period: 'daily', period_start: today.start.toISOString(), period_resets_at: today.end.toISOString(), period_spend: 0, budget_remaining: 1, blocked_by: null });
      expect((await a2a(ws.id, 'a new day')).statusCode).toBe(200);
      const sameMonth = yesterday.getUTCMonth() === now.getUTCMonth();
      expect((await budget(ws.id)).monthly_spend).toBe(sameMonth ? 30 : 0);
    });

    it('POST /workspaces/:id/usage: the agent reports usage with its own token; it counts toward both limits', async () => {
      const root = await createExternal(t, { name: 'b-usage-root' });
      const ws = await createExternal(t, { name: 'b-usage', parent_id: root.id });
      const report = (body: unknown, headers: Record<string, string> = bearer(ws.token), id = ws.id) => call('POST', `/workspaces/${id}/usage`, body, headers);
      const r = await report({ input_tokens: 1000, output_tokens: 1000 });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toMatchObject({ period_spend: 1, monthly_spend: 1, team_spend: 1 });
      expect((await report({ output_tokens: 1000 })).json()).toMatchObject({ period_spend: 3 });
      expect(await budget(root.id)).toMatchObject({ period_spend: 0, team_spend: 3 });

      const before = await budget(ws.id);
      for (const [what, body] of [
        ['negative', { input_tokens: -1 }],
        ['fractional', { input_tokens: 1.5 }],
        ['a string', { output_tokens: '10' }],
        ['too many', { input_tokens: 10_000_001 }],
        ['an unknown key', { tokens: 5 }],
      ] as const) {
        expect((await report(body)).statusCode, what).toBe(400);
      }
      // Only the agent itself: admin and another workspace's token are 403, none is 401.
      expect((await report(USAGE, t.admin)).statusCode).toBe(403);
      expect((await report(USAGE, bearer(root.token))).statusCode).toBe(403);
      expect((await report(USAGE, {})).statusCode).toBe(401);
      expect(await budget(ws.id)).toEqual(before);
    });

    it('the period CHECK holds exactly the contract list (BUDGET_PERIODS), and refuses others', async () => {
      const r = await t.db.query<{ def: string }>(`SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = 'workspaces_budget_period_check'`);
      const values = [...r.rows[0]!.def.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
      expect(values.sort()).toEqual([...BUDGET_PERIODS].sort());
      const ws = await createExternal(t, { name: 'b-check' });
      await expect(t.db.query('UPDATE workspaces SET budget_period = $2 WHERE id = $1', [ws.id, 'hourly'])).rejects.toThrow(/check constraint/);
    });
  });

  describe(`migration 012 on ${kind}`, () => {
    it('keeps monthly spend rows (as the month\'s first day) and rolls back to monthly sums', async () => {
      const t = await freshDb(kind);
      try {
        const all = await loadMigrations();
        await migrateUp(t.db, all.filter((m) => m.version < 12));
        const ws = (await t.db.query<{ id: string }>(`INSERT INTO workspaces (name, runtime, tier, status) VALUES ('m', 'molecule', 2, $1) RETURNING id`, [Status.Online])).rows[0]!.id;
        await t.db.query(`INSERT INTO workspace_spend (workspace_id, month, input_tokens, output_tokens, spend_micros) VALUES ($1, '2026-03-01', 10, 20, 12345)`, [ws]);
        await migrateUp(t.db, all.filter((m) => m.version <= 12));
        expect((await t.db.query(`SELECT day::text AS day, spend_micros::int AS micros FROM workspace_spend WHERE workspace_id = $1`, [ws])).rows).toEqual([{ day: '2026-03-01', micros: 12345 }]);
        expect((await t.db.query(`SELECT budget_period, team_budget_limit FROM workspaces WHERE id = $1`, [ws])).rows[0]).toEqual({ budget_period: 'monthly', team_budget_limit: null });
        await t.db.query(`INSERT INTO workspace_spend (workspace_id, day, input_tokens, output_tokens, spend_micros) VALUES ($1, '2026-03-20', 1, 2, 5)`, [ws]);
        await migrateDown(t.db, 11, all.filter((m) => m.version <= 12));
        expect((await t.db.query(`SELECT month::text AS month, input_tokens::int AS i, spend_micros::int AS micros FROM workspace_spend WHERE workspace_id = $1`, [ws])).rows).toEqual([
          { month: '2026-03-01', i: 11, micros: 12350 },
        ]);
      } finally {
        await t.drop();
      }
    });
  });
}
