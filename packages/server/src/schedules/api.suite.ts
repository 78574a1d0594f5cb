import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SCHEDULE_PROMPT_BYTES, QueueStatus, SCHEDULE_RUN_STATUSES, SCHEDULE_RUN_TRIGGERS, SCHEDULE_SOURCES, Status, type PlatformEvent } from '@molecule/contracts';
import { mintWorkspaceToken } from '../auth/repo.js';
import { bearer, createExternal, createWs, sender } from '../test-support/api.js';
import { startFakeAgent, type FakeAgent } from '../test-support/fake-agent.js';
import { startWithFakeBackend } from '../test-support/fake-provisioner.js';
import type { DbKind, TestApp } from '../test-support/harness.js';
import { setStatus } from '../workspaces/repo.js';
import { getScheduleRow, listRunRows } from './repo.js';
import { fireRun, Scheduler, scheduleMessageId } from './service.js';

type Row = Record<string, unknown>;

/** The schedules API and the scheduler, on PGlite (api.test.ts) and on real PostgreSQL (api.int.test.ts). */
export function schedulesSuite(kind: DbKind): void {
  describe(`schedules on ${kind}`, () => {
    let t: TestApp;
    const agents: FakeAgent[] = [];
    const events: PlatformEvent[] = [];
    beforeAll(async () => {
      ({ t } = await startWithFakeBackend({ kind }));
      t.bus.subscribe((e) => void events.push(e));
    });
    afterAll(async () => t.close());
    afterEach(async () => {
      for (const a of agents.splice(0)) await a.close();
      // Each test fires only its own schedules: an earlier test's every-minute one must not come due in the next.
      await t.db.query('UPDATE workspace_schedules SET enabled = false, next_run_at = NULL');
    });

    const send = sender(() => t);
    const create = async (id: string, body: Row = {}) => {
      const r = await send('POST', `/workspaces/${id}/schedules`, { name: 'report', cron_expr: '0 9 * * *', prompt: 'Write the daily report', ...body });
      expect(r.statusCode, r.body).toBe(201);
      return r.json<Row & { id: string }>();
    };
    const scheduleRows = async () => (await t.db.query<Row>('SELECT * FROM workspace_schedules ORDER BY id')).rows;
    const history = async (id: string, sid: string) => (await send('GET', `/workspaces/${id}/schedules/${sid}/history`)).json<Row[]>();
    const schedule = async (id: string, sid: string) => (await send('GET', `/workspaces/${id}/schedules`)).json<Row[]>().find((s) => s.id === sid)!;
    /** Makes a schedule due `agoMs` ago (as if that cron time had come). */
    const dueAgo = async (sid: string, agoMs: number) => {
      const at = new Date(Date.now() - agoMs);
      await t.db.query('UPDATE workspace_schedules SET next_run_at = $2 WHERE id = $1', [sid, at]);
      return at;
    };
    const scheduler = (native = true) =>
      new Scheduler({ ...t.deps, ...(native ? { providesNativeScheduler: (id: string) => t.deps.runtimeOverrides.providesNativeScheduler(id) } : {}) });
    /** One scheduler pass, and the firings it started, to their end. */
    const pass = async (s = scheduler()) => {
      const r = await s.tick(t.db);
      await s.idle();
      return r.started;
    };
    /** An online workspace whose agent is a fresh fake agent. */
    const online = async (name: string, extra: Row = {}, agentOpts: { slots?: number } = {}) => {
      const agent = await startFakeAgent(agentOpts);
      agents.push(agent);
      const ws = await createWs(t, { name, ...extra });
      await expect.poll(async () => (await t.db.query<{ instance_id: string | null }>('SELECT instance_id FROM workspaces WHERE id = $1', [ws.id])).rows[0]!.instance_id).not.toBeNull();
      await setStatus(t.db, ws.id, Status.Online);
      await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [ws.id, agent.url]);
      t.deps.workspaceCache.invalidate(ws.id);
      return { id: ws.id, agent };
    };
    const textOf = (body: Row) => ((body.params as { message: { parts: { text: string }[] } }).message.parts[0]!.text);
    const messageIdOf = (body: Row) => (body.params as { message: { messageId: string } }).message.messageId;
    /** What the agent took (not refused as busy) of one schedule's firings. */
    const deliveries = (agent: FakeAgent, prompt: string) => agent.received.filter((r) => !r.busy && textOf(r.body) === prompt);

    describe('the API', () => {
      it('creates, lists oldest first, changes, runs history and deletes schedules, with upstream\'s fields', async () => {
        const w = await createExternal(t, { name: 'sch-crud' });
        const a = await create(w.id, { name: 'first', timezone: 'Europe/Paris', prompt: 'one\r\ntwo' });
        expect(a).toEqual({
          id: expect.any(String),
          workspace_id: w.id,
          name: 'first',
          cron_expr: '0 9 * * *',
          timezone: 'Europe/Paris',
          prompt: 'one\ntwo',
          enabled: true,
          last_run_at: null,
          next_run_at: expect.any(String),
          run_count: 0,
          last_status: null,
          last_error: null,
          source: 'runtime',
          created_at: expect.any(String),
          updated_at: expect.any(String),
          status: 'created',
        });
        // 09:00 in Paris is 07:00 or 08:00 UTC, in the future.
        expect(new Date(a.next_run_at as string).getTime()).toBeGreaterThan(Date.now());
        expect(new Date(a.next_run_at as string).getUTCHours()).toBeOneOf([7, 8]);
        const b = await create(w.id, { name: 'second', cron_expr: '*/5 * * * *', enabled: false });
        expect(b).toMatchObject({ timezone: 'UTC', enabled: false, next_run_at: null });

        const list = (await send('GET', `/workspaces/${w.id}/schedules`)).json<Row[]>();
        expect(list.map((s) => s.name)).toEqual(['first', 'second']);
        expect(list[0]).not.toHaveProperty('status');

        // A name-only change keeps the rest, next_run_at included.
        const renamed = (await send('PATCH', `/workspaces/${w.id}/schedules/${a.id}`, { name: 'renamed' })).json<Row>();
        expect(renamed).toMatchObject({ name: 'renamed', cron_expr: '0 9 * * *', timezone: 'Europe/Paris', next_run_at: a.next_run_at, status: 'updated' });
        // A new cron recomputes next_run_at in the kept time zone.
        const moved = (await send('PATCH', `/workspaces/${w.id}/schedules/${a.id}`, { cron_expr: '30 18 * * *' })).json<Row>();
        expect(moved).toMatchObject({ cron_expr: '30 18 * * *', timezone: 'Europe/Paris' });
        expect(new Date(moved.next_run_at as string).getUTCMinutes()).toBe(30);
        // Disabling clears the next run; enabling computes one from now.
        expect((await send('PATCH', `/workspaces/${w.id}/schedules/${a.id}`, { enabled: false })).json()).toMatchObject({ enabled: false, next_run_at: null });
        const back = (await send('PATCH', `/workspaces/${w.id}/schedules/${b.id}`, { enabled: true })).json<Row>();
        expect(new Date(back.next_run_at as string).getTime()).toBeGreaterThan(Date.now());
        expect(new Date(back.next_run_at as string).getTime() - Date.now()).toBeLessThanOrEqual(5 * 60_000);

        expect(await history(w.id, a.id)).toEqual([]);
        expect((await send('DELETE', `/workspaces/${w.id}/schedules/${a.id}`)).json()).toEqual({ status: 'deleted' });
        expect((await send('DELETE', `/workspaces/${w.id}/schedules/${a.id}`)).statusCode).toBe(404);
        expect((await send('GET', `/workspaces/${w.id}/schedules`)).json<Row[]>().map((s) => s.name)).toEqual(['second']);
      });

      it('the workspace\'s own token may manage its schedules; another workspace\'s may not', async () => {
        const w = await createExternal(t, { name: 'sch-own' });
        const other = await createExternal(t, { name: 'sch-other' });
        const r = await send('POST', `/workspaces/${w.id}/schedules`, { name: 'mine', cron_expr: '@hourly', prompt: 'p' }, bearer(w.token));
        expect(r.statusCode, r.body).toBe(201);
        expect((await send('GET', `/workspaces/${w.id}/schedules`, undefined, bearer(other.token))).statusCode).toBe(403);
        expect((await send('GET', `/workspaces/${w.id}/schedules`, undefined, {})).statusCode).toBe(401);
      });

      it('bad input is a 400 naming the problem (at its field for cron and time zone), and changes nothing', async () => {
        const w = await createExternal(t, { name: 'sch-bad' });
        const kept = await create(w.id, { name: 'kept' });
        const before = await scheduleRows();
        const ok = { name: 'n', cron_expr: '0 9 * * *', prompt: 'p' };
        const bad: [unknown, RegExp, string?][] = [
          [{ ...ok, cron_expr: '61 * * * *' }, /invalid cron expression/, '/cron_expr'],
          [{ ...ok, cron_expr: 'every morning' }, /invalid cron expression/, '/cron_expr'],
          [{ ...ok, cron_expr: '* * * * * *' }, /invalid cron expression/, '/cron_expr'],
          [{ ...ok, cron_expr: '0 0 30 2 *' }, /never fires/, '/cron_expr'],
          [{ ...ok, timezone: 'Mars/Olympus_Mons' }, /invalid timezone: Mars\/Olympus_Mons/, '/timezone'],
          [{ ...ok, name: '   ' }, /name must not be empty/, '/name'],
          [{ ...ok, prompt: '' }, /prompt must not be empty/, '/prompt'],
          [{ ...ok, prompt: 'x'.repeat(MAX_SCHEDULE_PROMPT_BYTES + 1) }, /prompt must be at most 32768 bytes/, '/prompt'],
          [{ ...ok, every: 'morning' }, /every/],
          [{ ...ok, enabled: 'yes' }, /enabled must be true or false/],
          [{ name: 'n', prompt: 'p' }, /cron_expr/],
          ['{"name": "n", ', /malformed JSON/],
          ['[]', /invalid request/],
        ];
        for (const [payload, message, field] of bad) {
          const r = await send('POST', `/workspaces/${w.id}/schedules`, payload);
          const what = typeof payload === 'string' ? payload : JSON.stringify(payload).slice(0, 80);
          expect(r.statusCode, what).toBe(400);
          expect(r.json<{ error: string }>().error, what).toMatch(message);
          if (field) expect(r.json<{ details: { path: string }[] }>().details.map((d) => d.path), what).toContain(field);
        }
        // A change is checked the same way, the cron and the time zone together.
        for (const [payload, message] of [
          [{ timezone: 'Not/AZone' }, /invalid timezone/],
          [{ cron_expr: '* * *' }, /invalid cron expression/],
          [{ prompt: ' ' }, /prompt must not be empty/],
          [{}, /at least one/],
          [{ colour: 'red' }, /colour/],
        ] as const) {
          const r = await send('PATCH', `/workspaces/${w.id}/schedules/${kept.id}`, payload);
          expect(r.statusCode, JSON.stringify(payload)).toBe(400);
          expect(r.json<{ error: string }>().error).toMatch(message);
        }
        expect(await scheduleRows()).toEqual(before);
      });

      it('malformed ids are 400, unknown ones 404, and a schedule of another workspace is not found (404) and untouched', async () => {
        const w = await createExternal(t, { name: 'sch-ids' });
        const other = await createExternal(t, { name: 'sch-ids-other' });
        const theirs = await create(other.id, { name: 'theirs' });
        const before = await scheduleRows();
        const missing = '00000000-0000-4000-8000-000000000000';
        for (const [method, suffix, body] of [
          ['PATCH', '', { name: 'stolen' }],
          ['DELETE', '', undefined],
          ['POST', '/run', undefined],
          ['GET', '/history', undefined],
        ] as const) {
          expect((await send(method, `/workspaces/${w.id}/schedules/${theirs.id}${suffix}`, body)).statusCode, `${method} ${suffix}`).toBe(404);
          expect((await send(method, `/workspaces/${w.id}/schedules/${missing}${suffix}`, body)).statusCode).toBe(404);
          expect((await send(method, `/workspaces/${w.id}/schedules/not-a-uuid${suffix}`, body)).json()).toMatchObject({ code: 'invalid_request' });
          expect((await send(method, `/workspaces/not-a-uuid/schedules/${theirs.id}${suffix}`, body)).statusCode).toBe(400);
        }
        expect((await send('GET', `/workspaces/${missing}/schedules`)).statusCode).toBe(404);
        expect(await scheduleRows()).toEqual(before);
        expect(await history(other.id, theirs.id)).toEqual([]);
      });

      it('a removed workspace answers 410 on every schedule route, and the scheduler never fires its schedules', async () => {
        const { id, agent } = await online('sch-removed');
        const s = await create(id, { prompt: 'never after removal' });
        await dueAgo(s.id, 1000);
        expect((await send('DELETE', `/workspaces/${id}?confirm=true`)).statusCode).toBe(200);
        for (const [method, suffix, body] of [
          ['GET', '', undefined],
          ['POST', '', { name: 'n', cron_expr: '@daily', prompt: 'p' }],
          ['PATCH', `/${s.id}`, { name: 'x' }],
          ['DELETE', `/${s.id}`, undefined],
          ['POST', `/${s.id}/run`, undefined],
          ['GET', `/${s.id}/history`, undefined],
        ] as const) {
          const r = await send(method, `/workspaces/${id}/schedules${suffix}`, body);
          expect(r.statusCode, `${method} ${suffix}`).toBe(410);
          expect(r.json()).toMatchObject({ code: 'gone', id });
        }
        await pass();
        expect(deliveries(agent, 'never after removal')).toEqual([]);
        expect((await t.db.query('SELECT count(*)::int AS n FROM schedule_runs WHERE schedule_id = $1', [s.id])).rows[0]).toEqual({ n: 0 });
      });

      it('the status and source lists match the CHECK constraints of the database', async () => {
        const checks = (await t.db.query<{ def: string }>(
          `SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
            WHERE c.contype = 'c' AND c.conrelid IN ('schedule_runs'::regclass, 'workspace_schedules'::regclass)`,
        )).rows.map((r) => r.def);
        const valuesOf = (column: string) => {
          const def = checks.find((d) => d.includes(`(${column} = ANY`) || d.includes(`((${column} = ANY`));
          expect(def, column).toBeDefined();
          return [...def!.matchAll(/'([a-z_]+)'::text/g)].map((m) => m[1]).sort();
        };
        expect(valuesOf('status')).toEqual([...SCHEDULE_RUN_STATUSES].sort());
        expect(valuesOf('last_status')).toEqual([...SCHEDULE_RUN_STATUSES].sort());
        expect(valuesOf('trigger')).toEqual([...SCHEDULE_RUN_TRIGGERS].sort());
        expect(valuesOf('source')).toEqual([...SCHEDULE_SOURCES].sort());
      });
    });

    describe('the scheduler', () => {
      it('fires a due schedule once through the A2A proxy: the prompt reaches the agent with a messageId of (schedule, cron time), and history, counters, activity and CRON_EXECUTED say so', async () => {
        const { id, agent } = await online('sch-fire');
        const s = await create(id, { name: 'standup', cron_expr: '*/10 * * * *', prompt: 'Post the standup' });
        const due = await dueAgo(s.id, 1500);
        expect(await pass()).toBe(1);
        const got = deliveries(agent, 'Post the standup');
        expect(got).toHaveLength(1);
        expect(messageIdOf(got[0]!.body)).toBe(scheduleMessageId(s.id, due));
        expect(messageIdOf(got[0]!.body)).toBe(`schedule:${s.id}:${due.toISOString()}`);

        const [run] = await history(id, s.id);
        expect(run).toMatchObject({ trigger: 'cron', status: 'delivered', due_at: due.toISOString(), reply_summary: 'echo: Post the standup', error: null, message_id: scheduleMessageId(s.id, due) });
        expect(run!.duration_ms).toEqual(expect.any(Number));
        const after = await schedule(id, s.id);
        expect(after).toMatchObject({ run_count: 1, last_status: 'delivered', last_error: null, last_run_at: expect.any(String) });
        expect(new Date(after.next_run_at as string).getTime()).toBeGreaterThan(Date.now());
        await expect
          .poll(async () => (await t.db.query<Row>("SELECT status, request_body FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'cron_run'", [id])).rows)
          .toEqual([{ status: 'delivered', request_body: expect.objectContaining({ schedule_id: s.id, trigger: 'cron' }) }]);
        await expect.poll(() => events.filter((e) => e.type === 'CRON_EXECUTED' && e.workspace_id === id).map((e) => e.payload)).toEqual([expect.objectContaining({ schedule_id: s.id, status: 'delivered' })]);

        // Not due any more: the next pass sends nothing.
        expect(await pass()).toBe(0);
        expect(deliveries(agent, 'Post the standup')).toHaveLength(1);
      });

      it('catch-up: a schedule whose times passed while the platform was down fires once, not once per missed time, and then waits for its next time', async () => {
        const { id, agent } = await online('sch-catchup');
        const s = await create(id, { cron_expr: '*/30 * * * *', prompt: 'every half hour' });
        // Down for 5 hours: ten times were missed.
        await dueAgo(s.id, 5 * 3600_000);
        expect(await pass()).toBe(1);
        expect(await pass()).toBe(0);
        expect(deliveries(agent, 'every half hour')).toHaveLength(1);
        const next = new Date((await schedule(id, s.id)).next_run_at as string).getTime();
        expect(next).toBeGreaterThan(Date.now());
        expect(next - Date.now()).toBeLessThanOrEqual(30 * 60_000);
        expect(await history(id, s.id)).toHaveLength(1);
      });

      it('two schedulers (two replicas) passing at once fire a due cron time once', async () => {
        const { id, agent } = await online('sch-replicas');
        const s = await create(id, { prompt: 'only once' });
        await dueAgo(s.id, 500);
        const [a, b] = [scheduler(), scheduler()];
        const started = await Promise.all([a.tick(t.db), b.tick(t.db)]);
        await Promise.all([a.idle(), b.idle()]);
        expect(started.map((x) => x.started).reduce((x, y) => x + y)).toBe(1);
        expect(deliveries(agent, 'only once')).toHaveLength(1);
      });

      it('C044 C058 a busy agent gets the firing queued, not skipped; a retried firing is the same queue item; it is delivered exactly once when the agent frees up; history follows', async () => {
        const { id, agent } = await online('sch-busy', {}, { slots: 1 });
        agent.next({ kind: 'hold' });
        const user = send('POST', `/workspaces/${id}/a2a`, { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', messageId: 'user-1', parts: [{ kind: 'text', text: 'long user task' }] } } });
        await expect.poll(() => agent.held).toBe(1);
        const s = await create(id, { prompt: 'while busy' });
        await dueAgo(s.id, 500);
        expect(await pass()).toBe(1);
        const [queued] = await history(id, s.id);
        expect(queued).toMatchObject({ status: 'queued', queue_id: expect.any(String) });
        expect(deliveries(agent, 'while busy')).toEqual([]);
        // The same firing again (a retry after a crash, a second claimer): the same queue item, no second message.
        const [runRow] = await listRunRows(t.db, s.id, 1);
        const again = await fireRun(t.deps, (await getScheduleRow(t.db, id, s.id))!, runRow!);
        expect(again).toMatchObject({ status: 'queued', queue_id: queued!.queue_id });
        expect((await t.db.query('SELECT count(*)::int AS n FROM a2a_queue WHERE workspace_id = $1 AND message_id = $2', [id, queued!.message_id])).rows[0]).toEqual({ n: 1 });

        agent.release();
        expect((await user).statusCode).toBe(200);
        // The agent's heartbeat with a free slot drains its queue (C060).
        await expect.poll(async () => (t.deps.a2a.freed(id), (await history(id, s.id))[0])).toMatchObject({ status: 'delivered', reply_summary: 'echo: while busy' });
        expect(deliveries(agent, 'while busy')).toHaveLength(1);
        expect((await t.db.query<Row>('SELECT status FROM a2a_queue WHERE id = $1', [queued!.queue_id])).rows[0]).toEqual({ status: QueueStatus.Completed });
        expect(await schedule(id, s.id)).toMatchObject({ last_status: 'delivered', run_count: 1 });
      });

      it('C267 a workspace already running max_concurrent_tasks tasks gets the firing queued by the proxy path, never run beside them; it runs once a slot frees', async () => {
        const { id, agent } = await online('sch-slots', { max_concurrent_tasks: 1 }, { slots: 1 });
        let most = 0;
        const watch = setInterval(() => (most = Math.max(most, agent.active)), 1);
        try {
          agent.next({ kind: 'hold' });
          const user = send('POST', `/workspaces/${id}/a2a`, { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', messageId: 'user-2', parts: [{ kind: 'text', text: 'occupying the slot' }] } } });
          await expect.poll(() => agent.held).toBe(1);
          // The agent's heartbeat says so too: 1 active task of 1.
          await t.db.query('UPDATE workspaces SET active_tasks = 1 WHERE id = $1', [id]);
          t.deps.workspaceCache.invalidate(id);
          const s = await create(id, { prompt: 'cron work' });
          await dueAgo(s.id, 500);
          expect(await pass()).toBe(1);
          expect((await history(id, s.id))[0]).toMatchObject({ status: 'queued' });
          expect(deliveries(agent, 'cron work')).toEqual([]);
          expect(agent.active).toBe(1);

          await t.db.query('UPDATE workspaces SET active_tasks = 0 WHERE id = $1', [id]);
          agent.release();
          expect((await user).statusCode).toBe(200);
          await expect.poll(async () => (t.deps.a2a.freed(id), (await history(id, s.id))[0]!.status)).toBe('delivered');
          expect(deliveries(agent, 'cron work')).toHaveLength(1);
          expect(most).toBeLessThanOrEqual(1);
        } finally {
          clearInterval(watch);
        }
      });

      it('C265 a workspace whose runtime declared its own scheduler: the pass does not fire its schedules, still moves next_run_at on, and keeps the rows', async () => {
        const { id, agent } = await online('sch-native');
        t.deps.runtimeOverrides.setCapabilities(id, { scheduler: true });
        const s = await create(id, { cron_expr: '*/15 * * * *', prompt: 'native runs this' });
        const due = await dueAgo(s.id, 500);
        expect(await pass()).toBe(1);
        expect(deliveries(agent, 'native runs this')).toEqual([]);
        const after = await schedule(id, s.id);
        expect(new Date(after.next_run_at as string).getTime()).toBeGreaterThan(Date.now());
        expect(after).toMatchObject({ enabled: true, run_count: 0, last_status: 'skipped' });
        expect((await history(id, s.id))[0]).toMatchObject({ status: 'skipped', due_at: due.toISOString(), error: "the workspace's runtime runs its own scheduler" });
        await expect.poll(() => events.filter((e) => e.type === 'CRON_SKIPPED' && e.workspace_id === id)).toHaveLength(1);
        // Not re-selected in a tight loop.
        expect(await pass()).toBe(0);
        expect((await send('GET', `/workspaces/${id}/schedules`)).json<Row[]>()).toHaveLength(1);
        t.deps.runtimeOverrides.setCapabilities(id, undefined);
      });

      it('C266 the native-scheduler check is injected: a scheduler built without it fires every due schedule', async () => {
        const { id, agent } = await online('sch-unwired');
        t.deps.runtimeOverrides.setCapabilities(id, { scheduler: true });
        const s = await create(id, { prompt: 'fired anyway' });
        await dueAgo(s.id, 500);
        expect(await pass(scheduler(false))).toBe(1);
        expect(deliveries(agent, 'fired anyway')).toHaveLength(1);
        t.deps.runtimeOverrides.setCapabilities(id, undefined);
      });

      it('a paused workspace: the run is skipped with a clear history status and next_run_at moves on; a disabled schedule never fires', async () => {
        const { id, agent } = await online('sch-paused');
        const s = await create(id, { prompt: 'paused one' });
        const off = await create(id, { prompt: 'disabled one', enabled: false });
        await dueAgo(s.id, 500);
        await dueAgo(off.id, 500);
        await setStatus(t.db, id, Status.Paused);
        t.deps.workspaceCache.invalidate(id);
        expect(await pass()).toBe(1);
        expect((await history(id, s.id))[0]).toMatchObject({ status: 'skipped', error: 'workspace is paused; the run was skipped' });
        expect(new Date((await schedule(id, s.id)).next_run_at as string).getTime()).toBeGreaterThan(Date.now());
        expect(await pass()).toBe(0);
        expect(await history(id, off.id)).toEqual([]);
        expect(agent.received).toEqual([]);
      });

      it('a hibernated workspace is woken and the firing waits in the queue for it', async () => {
        const { id } = await online('sch-hibernated');
        const s = await create(id, { prompt: 'wake up' });
        await dueAgo(s.id, 500);
        await setStatus(t.db, id, Status.Hibernated);
        await t.db.query("UPDATE workspaces SET url = '' WHERE id = $1", [id]);
        t.deps.workspaceCache.invalidate(id);
        expect(await pass()).toBe(1);
        const [run] = await history(id, s.id);
        expect(run).toMatchObject({ status: 'queued', queue_id: expect.any(String) });
        const item = (await t.db.query<{ message_id: string; expires_at: Date | null }>('SELECT message_id, expires_at FROM a2a_queue WHERE id = $1', [run!.queue_id])).rows[0]!;
        expect(item.message_id).toBe(run!.message_id);
        // It waits at most until the schedule's next time: queued copies never pile up.
        expect(item.expires_at).not.toBeNull();
        // Woken: the lifecycle took it out of hibernation.
        await expect.poll(async () => (await t.db.query<{ status: string }>('SELECT status::text AS status FROM workspaces WHERE id = $1', [id])).rows[0]!.status).not.toBe(Status.Hibernated);
      });

      it('run now fires at once outside the cron (next_run_at kept) and the history lists runs newest first', async () => {
        const { id, agent } = await online('sch-run-now');
        const s = await create(id, { prompt: 'right now', enabled: false });
        const r = await send('POST', `/workspaces/${id}/schedules/${s.id}/run`);
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json()).toMatchObject({ status: 'fired', workspace_id: id, prompt: 'right now', run: { trigger: 'manual', status: 'running' } });
        await expect.poll(async () => (await history(id, s.id))[0]?.status).toBe('delivered');
        const again = await send('POST', `/workspaces/${id}/schedules/${s.id}/run`);
        expect(again.statusCode).toBe(200);
        await expect.poll(async () => (await history(id, s.id)).map((h) => h.status)).toEqual(['delivered', 'delivered']);
        const runs = await history(id, s.id);
        expect(runs[0]!.id).toBe(again.json<{ run: { id: string } }>().run.id);
        expect((await send('GET', `/workspaces/${id}/schedules/${s.id}/history?limit=1`)).json<Row[]>()).toHaveLength(1);
        expect(deliveries(agent, 'right now')).toHaveLength(2);
        expect(await schedule(id, s.id)).toMatchObject({ enabled: false, next_run_at: null, run_count: 2 });
      });

      it('an agent error is a failed run with a safe sentence; the schedule keeps firing', async () => {
        const { id, agent } = await online('sch-error');
        agent.next({ kind: 'status', status: 500, body: '<html>Traceback (most recent call last): secret internals</html>', contentType: 'text/html' });
        const s = await create(id, { prompt: 'will fail' });
        await dueAgo(s.id, 500);
        await pass();
        const [run] = await history(id, s.id);
        expect(run).toMatchObject({ status: 'failed', error: expect.any(String) });
        expect(run!.error).not.toMatch(/Traceback|internals|html/);
        expect(await schedule(id, s.id)).toMatchObject({ last_status: 'failed', run_count: 1 });
      });

      it('the org importer can create template schedules directly (createSchedule), refused with a 400 for a bad cron', async () => {
        const { createSchedule, validateCron } = await import('./service.js');
        const w = await createExternal(t, { name: 'sch-template' });
        const s = await createSchedule(t.deps, w.id, { name: 'nightly', cron_expr: '0 2 * * *', timezone: 'Asia/Tokyo', prompt: 'Summarise', source: 'template' });
        expect(s).toMatchObject({ source: 'template', timezone: 'Asia/Tokyo', enabled: true });
        await expect(createSchedule(t.deps, w.id, { name: 'bad', cron_expr: 'nope', prompt: 'p' })).rejects.toMatchObject({ code: 'invalid_request' });
        expect(validateCron('0 2 * * *', 'Asia/Tokyo')).toBeNull();
        expect(validateCron('0 2 * * *', 'Asia/Atlantis')).toMatch(/invalid timezone/);
        const token = await mintWorkspaceToken(t.db, w.id);
        expect((await send('GET', `/workspaces/${w.id}/schedules`, undefined, bearer(token.token))).json<Row[]>()).toHaveLength(1);
      });
    });
  });
}
