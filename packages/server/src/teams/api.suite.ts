import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createExternal, createWs, eventsOf } from '../test-support/api.js';
import { fakeProvisioner, type FakeBackend } from '../test-support/fake-provisioner.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';
import { getWorkspace } from '../workspaces/repo.js';

/** Team expand and collapse, on PGlite (api.test.ts) and on real PostgreSQL (api.int.test.ts). */
export function teamApiSuite(kind: DbKind): void {
  describe(`team expand and collapse on ${kind}`, () => {
    let t: TestApp;
    let fake: FakeBackend;
    beforeAll(async () => {
      fake = fakeProvisioner();
      t = await startTestApp({ kind, config: { provisioner: 'docker' }, tweak: (deps) => void (deps.provisioner = fake.prov) });
    });
    afterAll(async () => t.close());

    const post = (url: string, headers: Record<string, string> = t.admin) => t.app.inject({ method: 'POST', url, headers });
    const children = async (id: string) => (await t.db.query<{ id: string; name: string; status: string }>('SELECT id, name, status FROM workspaces WHERE parent_id = $1 ORDER BY name', [id])).rows;

    it('C111 C199 expand creates the template\'s team through the pipeline with PARENT_ID; a second expand creates nothing', async () => {
      const lead = await createWs(t, { name: 'team-lead', template: 'delegator', tier: 3 });
      const r = await post(`/workspaces/${lead.id}/expand`);
      expect(r.statusCode, r.body).toBe(200);
      const body = r.json() as { children: { id: string; name: string; role: string }[] };
      expect(body).toEqual({ status: 'expanded', children: [{ id: expect.any(String), name: 'worker', role: 'worker' }], existing: [] });
      const workerId = body.children[0]!.id;
      await expect.poll(() => fake.specs.find((s) => s.workspace.id === workerId)?.env.PARENT_ID).toBe(lead.id);
      const spec = fake.specs.find((s) => s.workspace.id === workerId)!;
      expect(spec.templateFiles['config.yaml']).toMatch(/adapter: echo/);
      expect(spec.secretFiles['.auth_token']).toMatch(/^mol_ws_/);
      expect(await getWorkspace(t.db, workerId)).toMatchObject({ parent_id: lead.id, tier: 3, template: 'echo' });
      expect((await eventsOf(t, lead.id)).find((e) => e.event_type === 'WORKSPACE_EXPANDED')!.payload).toEqual({ children: body.children });

      const again = await post(`/workspaces/${lead.id}/expand`);
      expect(again.json()).toEqual({ status: 'expanded', children: [], existing: [{ id: workerId, name: 'worker' }] });
      expect(await children(lead.id)).toHaveLength(1);
    });

    it('C198 collapse removes every child and grandchild through the backend-aware stop, revoking their tokens', async () => {
      const lead = await createWs(t, { name: 'collapse-lead', template: 'delegator' });
      const worker = (await post(`/workspaces/${lead.id}/expand`)).json().children[0].id as string;
      const grandchild = await createExternal(t, { name: 'collapse-grandchild', parent_id: worker });
      await expect.poll(async () => (await getWorkspace(t.db, worker))!.instance_id).not.toBeNull();
      const r = await post(`/workspaces/${lead.id}/collapse`);
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toEqual({ status: 'collapsed', removed: ['worker'] });
      expect((await getWorkspace(t.db, worker))!.status).toBe('removed');
      expect((await getWorkspace(t.db, grandchild.id))!.status).toBe('removed');
      expect((await getWorkspace(t.db, lead.id))!.status).not.toBe('removed');
      // The worker's stop went to the backend that ran it (the fake one here).
      expect(fake.calls.stop).toContain('worker');
      expect((await t.app.inject({ method: 'GET', url: `/workspaces/${grandchild.id}`, headers: bearer(grandchild.token) })).statusCode).toBe(401);
      expect((await eventsOf(t, lead.id)).find((e) => e.event_type === 'WORKSPACE_COLLAPSED')!.payload).toEqual({ removed_children: ['worker'] });
      // Expanding again brings the team back.
      expect((await post(`/workspaces/${lead.id}/expand`)).json().children).toHaveLength(1);
    });

    it('answers each bad expand or collapse with a clear 4xx and changes nothing', async () => {
      const plain = await createWs(t, { name: 'no-template' });
      const echo = await createWs(t, { name: 'echo-only', template: 'echo' });
      const removed = await createWs(t, { name: 'gone-lead', template: 'delegator' });
      await t.app.inject({ method: 'DELETE', url: `/workspaces/${removed.id}`, headers: t.admin });
      const other = await createExternal(t, { name: 'other-agent' });
      const cases: [string, Record<string, string> | undefined, number, string | RegExp][] = [
        [`/workspaces/${plain.id}/expand`, undefined, 400, 'no config found for workspace'],
        [`/workspaces/${echo.id}/expand`, undefined, 400, 'workspace has no sub_workspaces defined in config'],
        [`/workspaces/${removed.id}/expand`, undefined, 410, /removed/],
        [`/workspaces/${removed.id}/collapse`, undefined, 410, /removed/],
        ['/workspaces/00000000-0000-4000-8000-000000000000/expand', undefined, 404, 'workspace not found'],
        ['/workspaces/not-a-uuid/collapse', undefined, 400, /invalid workspace ID/],
        [`/workspaces/${echo.id}/collapse`, bearer(other.token), 403, /.+/],
        [`/workspaces/${echo.id}/expand`, {}, 401, /.+/],
      ];
      const before = (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM workspaces')).rows[0]!.n;
      for (const [url, headers, status, message] of cases) {
        const r = await post(url, headers);
        expect(r.statusCode, url).toBe(status);
        const err = (r.json() as { error: string }).error;
        if (typeof message === 'string') expect(err).toBe(message);
        else expect(err).toMatch(message);
      }
      expect((await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM workspaces')).rows[0]!.n).toBe(before);
      // Collapsing a workspace with no children is a no-op, not an error.
      expect((await post(`/workspaces/${echo.id}/collapse`)).json()).toEqual({ status: 'collapsed', removed: [] });
    });
  });
}
