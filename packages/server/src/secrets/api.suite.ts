import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { bearer, createExternal, createWs, sender } from '../test-support/api.js';
import { fakeProvisioner, type FakeBackend } from '../test-support/fake-provisioner.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';
import { getWorkspace, setStatus } from '../workspaces/repo.js';

/** The secrets API suite, on PGlite (api.test.ts) and on real PostgreSQL (api.int.test.ts). */
export function secretsApiSuite(kind: DbKind): void {
  describe(`secrets API on ${kind}`, () => {
    let t: TestApp;
    let fake: FakeBackend;
    beforeAll(async () => {
      fake = fakeProvisioner();
      t = await startTestApp({ kind, config: { provisioner: 'docker', runtimeImages: { hermes: 'nous/hermes:1' } }, tweak: (deps) => void (deps.provisioner = fake.prov) });
    });
    afterAll(async () => t.close());

    const send = sender(() => t);
    const setGlobal = (key: string, value: string, query = '') => send('PUT', `/settings/secrets${query}`, { key, value });
    const setOwn = (id: string, key: string, value: string, query = '', headers = t.admin) => send('POST', `/workspaces/${id}/secrets${query}`, { key, value }, headers);
    /** A workspace the fake backend started (so it counts for restarts), online. */
    const running = async (name: string, parent?: string) => {
      const ws = await createWs(t, { name, ...(parent ? { parent_id: parent } : {}) });
      await expect.poll(async () => (await getWorkspace(t.db, ws.id as string))!.instance_id).not.toBeNull();
      await setStatus(t.db, ws.id as string, Status.Online);
      return ws.id as string;
    };
    const lastEnv = (id: string) => fake.specs.filter((s) => s.workspace.id === id).at(-1)!.env;
    const storedValues = async () => (await t.db.query<{ value: string }>('SELECT value FROM global_secrets UNION ALL SELECT value FROM workspace_secrets')).rows.map((r) => r.value);

    it('C208 C209 secrets inherit down the org (global -> ancestors -> the workspace, nearest wins), say where each comes from, and reach the agent at its next start', async () => {
      const lead = await running('sec-lead');
      const member = await running('sec-member', lead);
      const loner = await running('sec-loner');
      expect((await setGlobal('OPENAI_API_KEY', 'sk-org')).json()).toMatchObject({ status: 'saved', key: 'OPENAI_API_KEY', scope: 'global' });
      expect((await setGlobal('REGION', 'eu')).statusCode).toBe(200);
      expect((await setOwn(lead, 'OPENAI_API_KEY', 'sk-team')).json()).toMatchObject({ scope: 'workspace', restart_required: expect.arrayContaining([lead, member]) });
      expect((await setOwn(member, 'TOOL_TOKEN', 'tt-1')).statusCode).toBe(200);

      const list = (await send('GET', `/workspaces/${member}/secrets`)).json() as Record<string, unknown>[];
      expect(list).toEqual([
        { key: 'OPENAI_API_KEY', has_value: true, scope: 'ancestor', workspace_id: lead, workspace_name: 'sec-lead', overrides: ['global'], created_at: expect.any(String), updated_at: expect.any(String) },
        { key: 'REGION', has_value: true, scope: 'global', created_at: expect.any(String), updated_at: expect.any(String) },
        { key: 'TOOL_TOKEN', has_value: true, scope: 'workspace', workspace_id: member, workspace_name: 'sec-member', created_at: expect.any(String), updated_at: expect.any(String) },
      ]);
      expect(JSON.stringify(list)).not.toMatch(/sk-|tt-1|eu"/);
      expect(((await send('GET', `/workspaces/${loner}/secrets`)).json() as { key: string; scope: string }[]).map((s) => [s.key, s.scope])).toEqual([
        ['OPENAI_API_KEY', 'global'],
        ['REGION', 'global'],
      ]);

      // Values are stored sealed, never as given.
      for (const v of await storedValues()) expect(v).toMatch(/^v1\./);

      // The next start hands the agent the resolved values; the platform's own variables are untouched.
      await send('POST', `/workspaces/${member}/restart`);
      await expect.poll(() => fake.specs.filter((s) => s.workspace.id === member).length).toBe(2);
      expect(lastEnv(member)).toMatchObject({ OPENAI_API_KEY: 'sk-team', REGION: 'eu', TOOL_TOKEN: 'tt-1', WORKSPACE_ID: member, PARENT_ID: lead });
    });

    it('a change marks who runs with an old value (restart_pending), restarts them when asked, and never touches external workspaces', async () => {
      const lead = await running('chg-lead');
      const member = await running('chg-member', lead);
      const shadowed = await running('chg-shadowed', lead);
      await setOwn(shadowed, 'API_BASE', 'http://own');
      // (Its own change marked it; as if it had restarted since.)
      await t.db.query('UPDATE workspaces SET restart_pending = false WHERE id = $1', [shadowed]);
      const ext = await createExternal(t, { name: 'chg-ext', parent_id: lead });
      const r = (await setOwn(lead, 'API_BASE', 'http://team')).json();
      expect(new Set(r.restart_required)).toEqual(new Set([lead, member]));
      expect(r.restarted).toEqual([]);
      expect((await getWorkspace(t.db, member))!.restart_pending).toBe(true);
      expect((await getWorkspace(t.db, shadowed))!.restart_pending).toBe(false);
      expect((await getWorkspace(t.db, ext.id))!.restart_pending).toBe(false);
      expect((await send('GET', `/workspaces/${member}`)).json().restart_pending).toBe(true);

      // ?restart=true restarts them; the new start clears the mark and carries the new value.
      const starts = fake.specs.filter((s) => s.workspace.id === member).length;
      const again = (await setOwn(lead, 'API_BASE', 'http://team-2', '?restart=true')).json();
      expect(new Set(again.restarted)).toEqual(new Set([lead, member]));
      await expect.poll(() => fake.specs.filter((s) => s.workspace.id === member).length).toBe(starts + 1);
      expect(lastEnv(member).API_BASE).toBe('http://team-2');
      await expect.poll(async () => (await getWorkspace(t.db, member))!.restart_pending).toBe(false);

      // Deleting the lead's value lets the global one (if any) show through: the same workspaces are affected.
      const del = (await send('DELETE', `/workspaces/${lead}/secrets/API_BASE`)).json();
      expect(del).toMatchObject({ status: 'deleted', key: 'API_BASE', scope: 'workspace' });
      expect(new Set(del.restart_required)).toEqual(new Set([lead, member]));
      expect((await send('DELETE', `/workspaces/${lead}/secrets/API_BASE`)).statusCode).toBe(404);
    });

    it('a global change reaches every workspace without a nearer value; deleting it is 404 the second time', async () => {
      const a = await running('glob-a');
      const b = await running('glob-b');
      await setOwn(b, 'GLOBAL_ONLY', 'mine');
      const r = (await setGlobal('GLOBAL_ONLY', 'org')).json();
      expect(r.restart_required).toContain(a);
      expect(r.restart_required).not.toContain(b);
      expect((await send('GET', '/settings/secrets')).json()).toContainEqual({ key: 'GLOBAL_ONLY', has_value: true, scope: 'global', created_at: expect.any(String), updated_at: expect.any(String) });
      expect((await send('DELETE', '/settings/secrets/GLOBAL_ONLY')).json()).toMatchObject({ status: 'deleted', scope: 'global' });
      expect((await send('DELETE', '/settings/secrets/GLOBAL_ONLY')).statusCode).toBe(404);
    });

    it('only the workspace itself reads its values (the admin and other workspaces get 403); the set is resolved like the env', async () => {
      const lead = await createExternal(t, { name: 'val-lead' });
      const w = await createExternal(t, { name: 'val-member', parent_id: lead.id });
      await setGlobal('VAL_SHARED', 'org');
      await setOwn(lead.id, 'VAL_SHARED', 'team');
      await setOwn(w.id, 'VAL_OWN', 'own', '', bearer(w.token));
      const mine = await send('GET', `/workspaces/${w.id}/secrets/values`, undefined, bearer(w.token));
      expect(mine.statusCode).toBe(200);
      expect(mine.json()).toMatchObject({ VAL_SHARED: 'team', VAL_OWN: 'own' });
      expect((await send('GET', `/workspaces/${w.id}/secrets/values`)).statusCode).toBe(403);
      expect((await send('GET', `/workspaces/${w.id}/secrets/values`, undefined, bearer(lead.token))).statusCode).toBe(403);
      expect((await send('GET', `/workspaces/${w.id}/secrets/values`, undefined, {})).statusCode).toBe(401);
      // Another workspace may not list or set this one's secrets either.
      expect((await send('GET', `/workspaces/${w.id}/secrets`, undefined, bearer(lead.token))).statusCode).toBe(403);
      expect((await setOwn(w.id, 'X', 'y', '', bearer(lead.token))).statusCode).toBe(403);
      // Global secrets are the admin's.
      expect((await send('PUT', '/settings/secrets', { key: 'X', value: 'y' }, bearer(w.token))).statusCode).toBe(403);
      expect((await send('GET', '/settings/secrets', undefined, bearer(w.token))).statusCode).toBe(403);
    });

    it('a value sealed with another key is never handed out: values 500 naming the key (not the value); a start fails with a canned message', async () => {
      const w = await createExternal(t, { name: 'val-broken' });
      await setOwn(w.id, 'BROKEN', 'original');
      await t.db.query(`UPDATE workspace_secrets SET value = 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA' WHERE workspace_id = $1`, [w.id]);
      const r = await send('GET', `/workspaces/${w.id}/secrets/values`, undefined, bearer(w.token));
      expect(r.statusCode).toBe(500);
      expect(r.json()).toMatchObject({ error: expect.stringMatching(/could not be decrypted/), failed_keys: ['workspace:BROKEN'] });
      expect(r.body).not.toContain('original');

      const started = await running('start-broken');
      await setOwn(started, 'BROKEN', 'x');
      await t.db.query(`UPDATE workspace_secrets SET value = 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA' WHERE workspace_id = $1`, [started]);
      await send('POST', `/workspaces/${started}/restart`);
      await expect.poll(async () => (await getWorkspace(t.db, started))!.status).toBe(Status.Failed);
      expect((await getWorkspace(t.db, started))!.last_sample_error).toMatch(/secret could not be decrypted/);
    });

    it('refuses keys that are not environment variable names, reserved names, empty and oversize values, extra fields; nothing is stored', async () => {
      const w = await createExternal(t, { name: 'bad-input' });
      const before = (await t.db.query('SELECT count(*)::int AS n FROM workspace_secrets')).rows[0];
      const bad: [unknown, RegExp][] = [
        [{ key: '1ABC', value: 'v' }, /environment variable name/],
        [{ key: 'has-dash', value: 'v' }, /environment variable name/],
        [{ key: 'WITH SPACE', value: 'v' }, /environment variable name/],
        [{ key: '', value: 'v' }, /key is required/],
        [{ key: 'K'.repeat(129), value: 'v' }, /at most 128/],
        [{ key: 'WORKSPACE_ID', value: 'v' }, /set by the platform/],
        [{ key: 'MOLECULE_ANYTHING', value: 'v' }, /set by the platform/],
        [{ key: 'OK_KEY', value: '' }, /must not be empty/],
        [{ key: 'OK_KEY', value: 'x'.repeat(64 * 1024 + 1) }, /at most 65536 bytes/],
        [{ key: 'OK_KEY', value: 'é'.repeat(32 * 1024 + 1) }, /at most 65536 bytes/],
        [{ key: 'OK_KEY' }, /value is required/],
        [{ key: 'OK_KEY', value: 'v', scope: 'global' }, /./],
        [{ key: 'OK_KEY', value: 7 }, /./],
      ];
      for (const [payload, message] of bad) {
        for (const url of [`/workspaces/${w.id}/secrets`, '/settings/secrets']) {
          const r = await send('PUT', url, payload);
          expect(r.statusCode, `${url} ${JSON.stringify(payload).slice(0, 80)}`).toBe(400);
          expect(r.json().error).toMatch(message);
        }
      }
      expect((await send('DELETE', `/workspaces/${w.id}/secrets/not-a-key`)).statusCode).toBe(400);
      expect((await send('GET', '/workspaces/not-a-uuid/secrets')).statusCode).toBe(400);
      expect((await send('GET', '/workspaces/00000000-0000-4000-8000-000000000000/secrets')).statusCode).toBe(404);
      expect((await t.db.query('SELECT count(*)::int AS n FROM workspace_secrets')).rows[0]).toEqual(before);
      expect((await send('GET', '/settings/secrets')).json()).not.toContainEqual(expect.objectContaining({ key: 'OK_KEY' }));
    });

    it('a removed workspace answers 410 and keeps nothing', async () => {
      const w = await createExternal(t, { name: 'sec-removed' });
      await setOwn(w.id, 'GONE_SOON', 'v');
      await send('DELETE', `/workspaces/${w.id}`);
      expect((await send('GET', `/workspaces/${w.id}/secrets`)).statusCode).toBe(410);
      expect((await setOwn(w.id, 'AFTER', 'v')).statusCode).toBe(410);
    });

    describe('model and provider', () => {
      const get = (id: string, what: 'model' | 'provider') => send('GET', `/workspaces/${id}/${what}`);
      const put = (id: string, what: 'model' | 'provider', value: unknown) => send('PUT', `/workspaces/${id}/${what}`, { [what]: value });

      it('C126 C125 a model chosen at create is kept as MODEL_PROVIDER with the provider its slug names as LLM_PROVIDER, and every start runs with it', async () => {
        const ws = await createWs(t, { name: 'model-at-create', model: 'anthropic/claude-sonnet-4-5' });
        const id = ws.id as string;
        expect((await get(id, 'model')).json()).toEqual({ model: 'anthropic/claude-sonnet-4-5', source: 'workspace_secrets' });
        expect((await get(id, 'provider')).json()).toEqual({ provider: 'anthropic', source: 'workspace_secrets' });
        await expect.poll(() => fake.specs.filter((s) => s.workspace.id === id).length).toBe(1);
        expect(lastEnv(id)).toMatchObject({ MODEL: 'anthropic/claude-sonnet-4-5', MODEL_PROVIDER: 'anthropic/claude-sonnet-4-5', LLM_PROVIDER: 'anthropic' });
        // A lead's model is not its members': the choice does not inherit.
        const member = (await createWs(t, { name: 'model-member', parent_id: id })).id as string;
        await expect.poll(() => fake.specs.filter((s) => s.workspace.id === member).length).toBe(1);
        expect(lastEnv(member)).not.toHaveProperty('MODEL');
        expect(lastEnv(member)).not.toHaveProperty('MODEL_PROVIDER');
        expect(((await send('GET', `/workspaces/${member}/secrets`)).json() as { key: string }[]).map((x) => x.key)).not.toContain('MODEL_PROVIDER');
        // No model: nothing is kept, the answers say "default".
        const plain = (await createWs(t, { name: 'model-none' })).id as string;
        expect((await get(plain, 'model')).json()).toEqual({ model: '', source: 'default' });
        expect((await get(plain, 'provider')).json()).toEqual({ provider: '', source: 'default' });
      });

      it('C125 without a model on the row, MODEL comes from the kept MODEL_PROVIDER; a hermes agent also gets HERMES_DEFAULT_MODEL', async () => {
        const id = await running('model-fallback');
        await setOwn(id, 'MODEL_PROVIDER', 'openrouter/some-model');
        await send('POST', `/workspaces/${id}/restart`);
        await expect.poll(() => fake.specs.filter((s) => s.workspace.id === id).length).toBe(2);
        expect(lastEnv(id).MODEL).toBe('openrouter/some-model');
        expect(lastEnv(id)).not.toHaveProperty('HERMES_DEFAULT_MODEL');
        const hermes = (await createWs(t, { name: 'model-hermes', runtime: 'hermes', model: 'nousresearch/hermes-4' })).id as string;
        await expect.poll(() => fake.specs.filter((s) => s.workspace.id === hermes).length).toBe(1);
        expect(lastEnv(hermes)).toMatchObject({ MODEL: 'nousresearch/hermes-4', HERMES_DEFAULT_MODEL: 'nousresearch/hermes-4', LLM_PROVIDER: 'openrouter' });
      });

      it('C207 PUT model and provider keep the choice, restart the agent to apply it, and "" clears it', async () => {
        const id = await running('model-put');
        const starts = () => fake.specs.filter((s) => s.workspace.id === id).length;
        const before = starts();
        expect((await put(id, 'model', 'deepseek/deepseek-chat')).json()).toEqual({ status: 'saved', model: 'deepseek/deepseek-chat', restarted: true });
        await expect.poll(starts).toBe(before + 1);
        expect(lastEnv(id)).toMatchObject({ MODEL: 'deepseek/deepseek-chat', LLM_PROVIDER: 'deepseek' });
        expect((await send('GET', `/workspaces/${id}`)).json().model).toBe('deepseek/deepseek-chat');
        await expect.poll(async () => (await getWorkspace(t.db, id))!.status).toBe(Status.Provisioning);
        await setStatus(t.db, id, Status.Online);

        expect((await put(id, 'provider', 'openrouter')).json()).toEqual({ status: 'saved', provider: 'openrouter', restarted: true });
        expect((await get(id, 'provider')).json()).toEqual({ provider: 'openrouter', source: 'workspace_secrets' });
        await expect.poll(starts).toBe(before + 2);
        expect(lastEnv(id).LLM_PROVIDER).toBe('openrouter');
        await setStatus(t.db, id, Status.Online);

        expect((await put(id, 'provider', '')).json()).toEqual({ status: 'cleared', restarted: true });
        expect((await get(id, 'provider')).json()).toEqual({ provider: '', source: 'default' });
        await setStatus(t.db, id, Status.Online);
        expect((await put(id, 'model', '')).json()).toEqual({ status: 'cleared', restarted: true });
        expect((await get(id, 'model')).json()).toEqual({ model: '', source: 'default' });
        expect((await getWorkspace(t.db, id))!.model).toBeNull();

        // An external workspace keeps the choice but is not restarted (its agent runs elsewhere).
        const ext = await createExternal(t, { name: 'model-ext' });
        expect((await put(ext.id, 'model', 'anthropic/claude-haiku')).json()).toEqual({ status: 'saved', model: 'anthropic/claude-haiku', restarted: false });
      });

      it('refuses a bad model or provider, a bad id, and another workspace; nothing changes', async () => {
        const a = await createExternal(t, { name: 'model-bad' });
        const b = await createExternal(t, { name: 'model-other' });
        for (const [what, value] of [
          ['model', 'x'.repeat(101)],
          ['model', 'two\nlines'],
          ['model', 5],
          ['provider', 'Not A Slug'],
          ['provider', 'x'.repeat(65)],
          ['provider', null],
        ] as const) {
          const r = await put(a.id, what, value);
          expect(r.statusCode, `${what} ${String(value).slice(0, 20)}`).toBe(400);
          expect(r.json().error).toEqual(expect.any(String));
        }
        expect((await send('PUT', `/workspaces/${a.id}/model`, {})).statusCode).toBe(400);
        expect((await send('GET', '/workspaces/not-a-uuid/model')).statusCode).toBe(400);
        expect((await send('PUT', `/workspaces/${a.id}/model`, { model: 'm' }, bearer(b.token))).statusCode).toBe(403);
        expect((await get(a.id, 'model')).json()).toEqual({ model: '', source: 'default' });
        expect((await get(a.id, 'provider')).json()).toEqual({ provider: '', source: 'default' });
      });
    });
  });
}
