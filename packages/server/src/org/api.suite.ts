import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, deferred, json, sender } from '../test-support/api.js';
import { fakeProvisioner, type FakeBackend } from '../test-support/fake-provisioner.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';

/** The org templates and import API, on PGlite (api.test.ts) and on real PostgreSQL (api.int.test.ts). */
export function orgApiSuite(kind: DbKind): void {
  describe(`org import API on ${kind}`, () => {
    let t: TestApp;
    let fake: FakeBackend;
    beforeAll(async () => {
      fake = fakeProvisioner();
      t = await startTestApp({ kind, config: { provisioner: 'docker' }, tweak: (deps) => void (deps.provisioner = fake.prov) });
    });
    afterAll(async () => t.close());

    const send = sender(() => t);
    const importOrg = (body: unknown) => send('POST', '/org/import', body);
    const byName = async () => {
      const list = (await send('GET', '/workspaces')).json() as { id: string; name: string; parent_id: string | null; max_concurrent_tasks: number; template: string | null }[];
      return new Map(list.map((w) => [w.name, w]));
    };

    it('lists the shipped org templates with their size, their keys and what the global secrets lack', async () => {
      const r = await send('GET', '/org/templates');
      expect(r.statusCode).toBe(200);
      const list = r.json() as { dir: string }[];
      expect(list.find((o) => o.dir === 'demo-team')).toEqual({
        dir: 'demo-team',
        name: 'Demo team',
        description: expect.stringContaining('no LLM key'),
        workspaces: 4,
        required_env: [],
        recommended_env: [],
        missing_env: [],
      });
      expect(list.find((o) => o.dir === 'llm-team')).toMatchObject({ workspaces: 3, required_env: [{ any_of: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY'] }], missing_env: [{ any_of: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY'] }] });
      expect((await send('GET', '/org/templates', undefined, {})).statusCode).toBe(401);
    });

    it('C111 C200 imports a whole org: one create for the tree, each workspace provisioned through the pipeline with PARENT_ID, schedules made, an ORG_IMPORT_STARTED event', async () => {
      const r = await importOrg({ dir: 'demo-team' });
      expect(r.statusCode, r.body).toBe(201);
      const body = r.json() as { org: string; import_id: string; count: number; workspaces: { id: string; name: string; parent_id: string | null; schedules: number }[] };
      expect(body).toMatchObject({ org: 'Demo team', count: 4 });
      const ids = new Map(body.workspaces.map((w) => [w.name, w.id]));
      expect(body.workspaces.map((w) => [w.name, w.parent_id])).toEqual([
        ['Lead', null],
        ['worker', ids.get('Lead')],
        ['Reviewer', ids.get('Lead')],
        ['Slow worker', null],
      ]);
      await expect.poll(() => fake.specs.filter((s) => [...ids.values()].includes(s.workspace.id)).length).toBe(4);
      const worker = fake.specs.find((s) => s.workspace.id === ids.get('worker'))!;
      expect(worker.env).toMatchObject({ PARENT_ID: ids.get('Lead'), WORKSPACE_ID: ids.get('worker') });
      expect(worker.templateFiles['config.yaml']).toMatch(/adapter: echo/);
      expect(body.workspaces.find((w) => w.name === 'worker')!.schedules).toBe(1);
      const schedules = (await send('GET', `/workspaces/${ids.get('worker')}/schedules`)).json() as { name: string; cron_expr: string; source: string }[];
      expect(schedules).toEqual([expect.objectContaining({ name: 'Morning check-in', cron_expr: '0 9 * * 1-5', source: 'template' })]);
      const started = await t.db.query<{ payload: Record<string, unknown> }>("SELECT payload FROM structure_events WHERE event_type = 'ORG_IMPORT_STARTED' ORDER BY id DESC LIMIT 1");
      expect(started.rows[0]!.payload).toEqual({ import_id: body.import_id, org: 'Demo team', template: 'demo-team', total: 4, workspace_ids: [...ids.values()] });
    });

    it('C200 starts at most MOLECULE_PROVISION_CONCURRENCY workspaces at a time', async () => {
      const gate = deferred();
      let inFlight = 0;
      let most = 0;
      const capped = await startTestApp({
        kind,
        config: { provisioner: 'docker', provisionConcurrency: 2 },
        tweak: (deps) => {
          deps.provisioner = {
            ...fake.prov,
            async start(spec) {
              inFlight++;
              most = Math.max(most, inFlight);
              await gate.promise;
              inFlight--;
              return { instanceId: `inst-${spec.workspace.id}` };
            },
          };
        },
      });
      try {
        const workspaces = Array.from({ length: 6 }, (_, i) => ({ name: `c${i}` }));
        const r = await capped.app.inject({ method: 'POST', url: '/org/import', headers: { ...capped.admin, ...json }, payload: { template: { name: 'capped', workspaces } } });
        expect(r.statusCode, r.body).toBe(201);
        await expect.poll(() => inFlight).toBe(2);
        gate.resolve();
        await expect.poll(async () => (await capped.db.query<{ n: number }>('SELECT count(*)::int AS n FROM workspaces WHERE instance_id IS NOT NULL')).rows[0]!.n).toBe(6);
        expect(most).toBe(2);
      } finally {
        gate.resolve();
        await capped.close();
      }
    });

    it('C201 an LLM provider key the server itself has counts as org-wide when the backend hands it to its agents (process, Docker), not otherwise', async () => {
      const saved = process.env.ANTHROPIC_API_KEY;
      process.env.ANTHROPIC_API_KEY = 'sk-ant-from-server-env';
      const llmTeam = async () => ((await send('GET', '/org/templates')).json() as { dir: string; missing_env: unknown[] }[]).find((o) => o.dir === 'llm-team')!.missing_env;
      try {
        expect(await llmTeam()).toEqual([{ any_of: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY'] }]);
        expect((await importOrg({ dir: 'llm-team' })).statusCode).toBe(412);
        Object.assign(fake.prov, { passesProviderEnv: true });
        expect(await llmTeam()).toEqual([]);
      } finally {
        Object.assign(fake.prov, { passesProviderEnv: undefined });
        if (saved === undefined) delete process.env.ANTHROPIC_API_KEY;
        else process.env.ANTHROPIC_API_KEY = saved;
      }
    });

    it('C201 C202 refuses with 412 naming the missing keys while the global secrets lack them, whatever force says, and creates nothing', async () => {
      const before = await countRows(t, 'workspaces');
      for (const body of [{ dir: 'llm-team' }, { dir: 'llm-team', force: true }]) {
        const r = await importOrg(body);
        expect(r.statusCode).toBe(412);
        expect(r.json()).toEqual({
          error: 'missing required environment variables',
          code: 'precondition_failed',
          missing_env: [{ any_of: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY'] }],
          required_env: [{ any_of: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY'] }],
          template: 'llm-team',
          suggestion: expect.stringMatching(/secret/),
        });
        expect(r.body).not.toMatch(/force/);
      }
      expect(await countRows(t, 'workspaces')).toBe(before);
      // A key in a workspace's own secrets does not count: the org needs it org-wide.
      expect((await send('PUT', '/settings/secrets', { key: 'OPENAI_API_KEY', value: 'sk-test' })).statusCode).toBe(200);
      expect((await send('GET', '/org/templates')).json()).toEqual(expect.arrayContaining([expect.objectContaining({ dir: 'llm-team', missing_env: [] })]));
      const ok = await importOrg({ dir: 'llm-team' });
      expect(ok.statusCode, ok.body).toBe(201);
      const ws = await byName();
      expect(ws.get('Researcher')).toMatchObject({ parent_id: ws.get('Team lead')!.id, template: 'assistant' });
      const budget = (await send('GET', `/workspaces/${ws.get('Team lead')!.id}/budget`)).json() as { team_budget_limit: number; budget_period: string };
      expect(budget).toMatchObject({ team_budget_limit: 5000, budget_period: 'monthly' });
    });

    it('C203 writes max_concurrent_tasks from the template entry (0 or omitted: the template folder\'s, else 1)', async () => {
      const r = await importOrg({
        template: {
          name: 'slots',
          workspaces: [{ name: 'slots-3', max_concurrent_tasks: 3 }, { name: 'slots-0', max_concurrent_tasks: 0 }, { name: 'slots-none' }, { name: 'slots-tpl', template: 'echo' }],
        },
      });
      expect(r.statusCode, r.body).toBe(201);
      const ws = await byName();
      expect(['slots-3', 'slots-0', 'slots-none', 'slots-tpl'].map((n) => ws.get(n)!.max_concurrent_tasks)).toEqual([3, 1, 1, 4]);
    });

    it('answers each bad import with a clear 4xx and creates nothing', async () => {
      const before = await countRows(t, 'workspaces');
      const cases: [unknown, number, string | RegExp][] = [
        [{}, 400, "provide 'dir' or 'template'"],
        [{ dir: 'demo-team', template: { name: 'x', workspaces: [{ name: 'a' }] } }, 400, "provide 'dir' or 'template'"],
        [{ dir: '../etc' }, 400, 'invalid org directory'],
        [{ dir: '/etc' }, 400, 'invalid org directory'],
        [{ dir: 'no-such-org' }, 404, 'org template not found: no-such-org'],
        [{ template: 'name: x' }, 400, /must be a YAML mapping/],
        [{ template: [1, 2] }, 400, /must be a YAML mapping/],
        [{ template: { name: 'x', workspaces: [{ name: 'a', runtime: 'cobol' }] } }, 400, /invalid org template/],
        [{ template: { name: 'x', workspaces: [{ name: 'a' }, { name: 'a' }] } }, 400, /used twice/],
        [{ template: { name: 'x', workspaces: [{ name: 'a', reports_to: 'b' }, { name: 'b', reports_to: 'a' }] } }, 400, /cycle/],
        [{ template: { name: 'x', workspaces: [{ name: 'a', template: 'no-such-template' }] } }, 400, 'invalid org template: unknown template "no-such-template" (at /workspaces/0/template)'],
        [{ template: { name: 'x', workspaces: [{ name: 'a', schedules: [{ name: 's', cron_expr: 'every day', prompt: 'p' }] }] } }, 400, /invalid org template/],
        [{ template: { name: 'x', workspaces: [{ name: 'a', schedules: [{ name: 's', cron_expr: '0 9 * * *', timezone: 'Mars/Olympus', prompt: 'p' }] }] } }, 400, /invalid org template/],
        [{ template: { name: 'x', workspaces: [{ name: 'a', budget_limit: -5 }] } }, 400, /invalid org template/],
        [{ template: { name: 'x', workspaces: [{ name: 'a' }] }, extra: 1 }, 400, /extra|unrecognized|additional/i],
      ];
      for (const [body, status, message] of cases) {
        const r = await importOrg(body);
        expect(r.statusCode, JSON.stringify(body)).toBe(status);
        const err = (r.json() as { error: string }).error;
        if (typeof message === 'string') expect(err).toBe(message);
        else expect(err).toMatch(message);
      }
      const details = (await importOrg({ template: { name: 'x', workspaces: [{ name: 'a', reports_to: 'z' }, { name: 'a' }] } })).json() as { details: { path: string }[] };
      expect(details.details.map((d) => d.path)).toEqual(['/workspaces/1/name', '/workspaces/0/reports_to']);
      expect((await send('POST', '/org/import', { dir: 'demo-team' }, {})).statusCode).toBe(401);
      expect(await countRows(t, 'workspaces')).toBe(before);
    });
  });
}
