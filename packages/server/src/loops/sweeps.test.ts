import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { mintWorkspaceToken, validateWorkspaceToken } from '../auth/repo.js';
import { createLogger } from '../log.js';
import { createExternal, eventsOf } from '../test-support/api.js';
import { onlineWorkspace, startWithFakeBackend, type FakeBackend } from '../test-support/fake-provisioner.js';
import { type TestApp } from '../test-support/harness.js';
import { getWorkspace, setStatus } from '../workspaces/repo.js';
import { platformLoops } from './index.js';
import { Supervisor } from './supervisor.js';
import { provisionTimeoutFor } from '../provisioning/timeout.js';
import { healthSweep, isLikelyWorkspaceId, orphanSweep, provisionTimeoutSweep, RestartBackoff } from './sweeps.js';

describe('background sweeps', () => {
  let t: TestApp;
  let fake: FakeBackend;
  beforeAll(async () => {
    ({ t, fake } = await startWithFakeBackend());
  });
  afterAll(async () => t.close());

  const running = (name: string, extra: Record<string, unknown> = {}) => onlineWorkspace(t, name, extra);
  const age = (id: string, minutes: number) =>
    t.db.query(`UPDATE workspaces SET updated_at = now() - make_interval(mins => $2) WHERE id = $1`, [id, minutes]);

  describe('provision timeout', () => {
    it('C165 C166 hermes gets 30 min, everything else 10 min, and PROVISION_TIMEOUT_SECONDS overrides both', () => {
      const none = { byName: new Map(), maxTimeoutByRuntime: new Map() };
      const of = (provisionTimeoutSeconds: number | undefined, runtime: string) => provisionTimeoutFor({ provisionTimeoutSeconds }, none, { runtime, template: null }).seconds;
      expect(of(undefined, 'hermes')).toBe(1800);
      expect(of(undefined, 'molecule')).toBe(600);
      expect(of(90, 'hermes')).toBe(90);
    });

    it('C166 C168 a stuck workspace fails with the runtime and timeout in the event; a young or hermes one is spared', async () => {
      const stuck = await running('s-stuck');
      const young = await running('s-young');
      const hermes = await running('s-hermes', { runtime: 'hermes' });
      for (const w of [stuck, young, hermes]) await setStatus(t.db, w.id, Status.Provisioning);
      await age(stuck.id, 11);
      await age(young.id, 9);
      await age(hermes.id, 11);
      expect(await provisionTimeoutSweep(t.deps, t.db)).toBe(1);
      const row = (await getWorkspace(t.db, stuck.id))!;
      expect(row.status).toBe(Status.Failed);
      expect(row.last_sample_error).toMatch(/never registered within 600 s/);
      expect((await eventsOf(t, stuck.id)).at(-1)).toEqual({
        event_type: 'WORKSPACE_PROVISION_FAILED',
        payload: { error: row.last_sample_error, timeout_secs: 600, runtime: 'molecule', source: 'provision_timeout_sweep' },
      });
      expect((await getWorkspace(t.db, young.id))!.status).toBe(Status.Provisioning);
      expect((await getWorkspace(t.db, hermes.id))!.status).toBe(Status.Provisioning);
      await age(hermes.id, 31);
      expect(await provisionTimeoutSweep(t.deps, t.db)).toBe(1);
      expect((await getWorkspace(t.db, hermes.id))!.status).toBe(Status.Failed);
      // Running it again changes nothing (level-triggered, idempotent).
      expect(await provisionTimeoutSweep(t.deps, t.db)).toBe(0);
    });
  });

  describe('health', () => {
    it('C177 a dead instance goes offline with an event and is restarted; backoff stops a second restart at once', async () => {
      const ws = await running('s-dead');
      await setStatus(t.db, ws.id, Status.Online);
      fake.states.set('s-dead', { state: 'stopped' });
      const backoff = new RestartBackoff();
      const startsBefore = fake.calls.start.filter((n) => n === 's-dead').length;
      expect(await healthSweep(t.deps, t.db, backoff)).toMatchObject({ offline: 1, restarted: 1 });
      const types = (await eventsOf(t, ws.id)).map((e) => e.event_type);
      expect(types.slice(-2)).toEqual(['WORKSPACE_OFFLINE', 'WORKSPACE_PROVISIONING']);
      await expect.poll(() => fake.calls.start.filter((n) => n === 's-dead').length).toBe(startsBefore + 1);
      // Still dead and offline: the backoff holds the next restart back.
      await setStatus(t.db, ws.id, Status.Offline);
      expect(await healthSweep(t.deps, t.db, backoff)).toMatchObject({ offline: 0, restarted: 0 });
      fake.states.delete('s-dead');
    });

    it('C099 an unknown answer from the backend leaves the workspace as it is', async () => {
      const ws = await running('s-unknown');
      await setStatus(t.db, ws.id, Status.Online);
      fake.states.set('s-unknown', { state: 'unknown', error: new Error('daemon timeout') });
      await healthSweep(t.deps, t.db, new RestartBackoff());
      expect((await getWorkspace(t.db, ws.id))!.status).toBe(Status.Online);
      fake.states.delete('s-unknown');
    });

    it('C275 external workspaces are never touched by the health sweep (no container is not a failure)', async () => {
      const ext = await createExternal(t, { name: 's-ext' });
      await setStatus(t.db, ext.id, Status.Online);
      await t.db.query(`UPDATE workspaces SET instance_id = 'x' WHERE id = $1`, [ext.id]);
      fake.states.set('s-ext', { state: 'stopped' });
      await healthSweep(t.deps, t.db, new RestartBackoff());
      expect((await getWorkspace(t.db, ext.id))!.status).toBe(Status.Online);
    });
  });

  describe('orphans', () => {
    it('C171 C172 C175 reaps instances of removed or unknown workspaces and ignores junk names', async () => {
      const live = await running('s-live');
      const gone = await running('s-gone');
      await t.app.inject({ method: 'DELETE', url: `/workspaces/${gone.id}`, headers: t.admin });
      const ghost = '0f0f0f0f-0000-4000-8000-000000000001';
      fake.managed.push(live.id, gone.id, ghost, 'my-ws-tool', 'abc%', '_');
      const { reaped } = await orphanSweep(t.deps, t.db);
      expect(reaped.sort()).toEqual([gone.id, ghost].sort());
      expect(fake.calls.removeVolumes).toContain(ghost);
      fake.managed.length = 0;
    });

    it('C174 a failed stop keeps the volume for the next pass', async () => {
      const ws = await running('s-stuck-stop');
      await t.app.inject({ method: 'DELETE', url: `/workspaces/${ws.id}`, headers: t.admin });
      fake.failStop.add('s-stuck-stop');
      fake.managed.push(ws.id);
      const removedBefore = fake.calls.removeVolumes.filter((n) => n === 's-stuck-stop').length;
      expect((await orphanSweep(t.deps, t.db)).reaped).toEqual([]);
      expect(fake.calls.removeVolumes.filter((n) => n === 's-stuck-stop').length).toBe(removedBefore);
      fake.failStop.delete('s-stuck-stop');
      expect((await orphanSweep(t.deps, t.db)).reaped).toEqual([ws.id]);
      fake.managed.length = 0;
    });

    it('C175 only uuid-shaped names are workspace ids', () => {
      expect(isLikelyWorkspaceId('0f0f0f0f-0000-4000-8000-000000000001')).toBe(true);
      for (const bad of ['my-ws-tool', 'ws-0f0f0f0f', '%', '0f0f0f0f-0000-4000-8000-00000000000_', '']) expect(isLikelyWorkspaceId(bad)).toBe(false);
    });
  });

  describe('stale tokens', () => {
    const liveTokens = async (id: string) =>
      (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM workspace_auth_tokens WHERE workspace_id = $1 AND revoked_at IS NULL', [id])).rows[0]!.n;
    const ageTokens = (id: string, minutes: number) =>
      t.db.query(`UPDATE workspace_auth_tokens SET created_at = now() - make_interval(mins => $2) WHERE workspace_id = $1`, [id, minutes]);
    const sweepLogged = async () => {
      const lines: Record<string, unknown>[] = [];
      const log = pino({ level: 'info' }, new Writable({ write: (chunk, _e, cb) => (lines.push(JSON.parse(String(chunk))), cb()) }));
      const out = await orphanSweep({ ...t.deps, log }, t.db);
      return { ...out, lines };
    };

    it('C176 revokes the tokens of a workspace with no live instance after the 5-minute grace, logging only its id', async () => {
      const ws = await running('t-gone');
      await setStatus(t.db, ws.id, Status.Online);
      fake.states.set('t-gone', { state: 'stopped' });
      const token = fake.specs.filter((x) => x.workspace.name === 't-gone').at(-1)!.secretFiles['.auth_token']!;
      await ageTokens(ws.id, 6);
      const young = await mintWorkspaceToken(t.db, ws.id);
      const { tokensRevoked, lines } = await sweepLogged();
      expect(tokensRevoked).toEqual([ws.id]);
      expect(await validateWorkspaceToken(t.db, token)).toBeNull();
      // Minted within the grace: spared.
      expect(await validateWorkspaceToken(t.db, young.token)).toMatchObject({ workspaceId: ws.id });
      const line = lines.find((l) => l.workspace_id === ws.id)!;
      expect(line.msg).toBe(`Orphan sweeper: revoking stale tokens for workspace ${ws.id} (no live container; volume likely wiped)`);
      expect(JSON.stringify(lines)).not.toContain(token);
      expect(JSON.stringify(lines)).not.toContain(young.token);
      // Recorded and announced, so every replica drops what it knows of the revoked token.
      const revokedEvents = await t.db.query<{ payload: unknown }>(`SELECT payload FROM structure_events WHERE workspace_id = $1 AND event_type = 'TOKEN_REVOKED'`, [ws.id]);
      expect(revokedEvents.rows.map((r) => r.payload)).toEqual([{ reason: 'stale', tokens_revoked: 1 }]);
      // Level-triggered: the next pass finds nothing more to do.
      expect((await orphanSweep(t.deps, t.db)).tokensRevoked).toEqual([]);
      fake.states.delete('t-gone');
    });

    it('C173 the passes are independent: a listing error skips the reap pass only; stale tokens are still revoked', async () => {
      const ws = await running('t-independent');
      fake.states.set('t-independent', { state: 'stopped' });
      await ageTokens(ws.id, 6);
      const listManaged = fake.prov.listManaged!.bind(fake.prov);
      fake.prov.listManaged = async () => {
        throw new Error('Cannot connect to the Docker daemon at unix:///var/run/docker.sock');
      };
      try {
        const { reaped, tokensRevoked, lines } = await sweepLogged();
        expect(reaped).toEqual([]);
        expect(tokensRevoked).toContain(ws.id);
        expect(lines.some((l) => l.pass === 'reap' && l.level === 50)).toBe(true);
      } finally {
        fake.prov.listManaged = listManaged;
        fake.states.delete('t-independent');
      }
    });

    it('C176 a token younger than 5 minutes is spared even when the instance is gone', async () => {
      const ws = await running('t-young');
      fake.states.set('t-young', { state: 'stopped' });
      await ageTokens(ws.id, 4);
      expect((await orphanSweep(t.deps, t.db)).tokensRevoked).not.toContain(ws.id);
      expect(await liveTokens(ws.id)).toBe(1);
      fake.states.delete('t-young');
    });

    it('C176 C275 external workspaces are never swept and their tokens never treated as orphans: they have no instance by design', async () => {
      const ext = await createExternal(t, { name: 't-ext' });
      await setStatus(t.db, ext.id, Status.Online);
      fake.states.set('t-ext', { state: 'stopped' });
      await ageTokens(ext.id, 60);
      expect((await orphanSweep(t.deps, t.db)).tokensRevoked).not.toContain(ext.id);
      expect(await validateWorkspaceToken(t.db, ext.token)).toMatchObject({ workspaceId: ext.id });
      fake.states.delete('t-ext');
    });

    it('C176 C099 an unknown or running answer never revokes', async () => {
      const unknown = await running('t-unknown');
      const alive = await running('t-alive');
      fake.states.set('t-unknown', { state: 'unknown', error: new Error('daemon timeout') });
      for (const w of [unknown, alive]) await ageTokens(w.id, 60);
      const { tokensRevoked } = await orphanSweep(t.deps, t.db);
      expect(tokensRevoked).not.toContain(unknown.id);
      expect(tokensRevoked).not.toContain(alive.id);
      expect(await liveTokens(unknown.id)).toBe(1);
      expect(await liveTokens(alive.id)).toBe(1);
      fake.states.delete('t-unknown');
    });

    it.each([
      [Status.Offline, true],
      [Status.Failed, true],
      [Status.Degraded, true],
      [Status.Provisioning, false],
      [Status.Paused, false],
      [Status.Hibernated, false],
    ])('C176 a %s workspace with no instance: tokens revoked = %s', async (status, revoked) => {
      const name = `t-status-${status}`;
      const ws = await running(name);
      await setStatus(t.db, ws.id, status);
      fake.states.set(name, { state: 'stopped' });
      await ageTokens(ws.id, 60);
      expect((await orphanSweep(t.deps, t.db)).tokensRevoked.includes(ws.id)).toBe(revoked);
      expect(await liveTokens(ws.id)).toBe(revoked ? 0 : 1);
      fake.states.delete(name);
    });
  });

  describe('supervisor', () => {
    it('C179 a pass that throws is logged and the loop keeps running', async () => {
      const sup = new Supervisor(t.db, createLogger({ level: 'silent', pretty: false }));
      let n = 0;
      const loop = {
        name: 'flaky',
        intervalMs: 60_000,
        tick: async () => {
          n++;
          if (n === 1) throw new Error('boom');
        },
      };
      await sup.runOnce(loop);
      await sup.runOnce(loop);
      expect(sup.status.get('flaky')).toMatchObject({ runs: 1, errors: 1 });
      expect(n).toBe(2);
      await sup.stop();
    });

    it('C170 the orphan sweeper runs once at boot, then every 60 s', async () => {
      const loops = platformLoops(t.deps);
      const orphan = loops.find((l) => l.name === 'orphan-sweeper')!;
      expect(orphan.intervalMs).toBe(60_000);
      const sup = new Supervisor(t.db, createLogger({ level: 'silent', pretty: false }));
      let ran = 0;
      sup.start([{ ...orphan, tick: async () => void ran++ }]);
      await expect.poll(() => ran).toBe(1);
      await sup.stop();
    });
  });
});
