import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status, type WorkspaceStatus } from '@molecule/contracts';
import { mintWorkspaceToken } from '../auth/repo.js';
import type { Db } from '../db/port.js';
import { createLogger } from '../log.js';
import { bearer, createExternal, createWs, eventsOf, json } from '../test-support/api.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';
import { getWorkspace, setStatus } from '../workspaces/repo.js';
import { EXPIRY_RETRY_MS, handleExpiry, startLivenessExpiry } from './expiry.js';
import { createMemoryLiveness } from './memory.js';

/** Liveness expiry end to end (register/heartbeat -> deadline -> one UPDATE + event), per database. */
export function livenessExpirySuite(kind: DbKind): void {
  describe(`liveness expiry on ${kind}`, () => {
    // A short TTL so deadlines pass within a test; the half-TTL quiet window scales with it.
    const TTL_SECONDS = 0.3;
    let t: TestApp;
    let stop: () => void;
    beforeAll(async () => {
      t = await startTestApp({ kind, config: { livenessTtlSeconds: TTL_SECONDS } });
      stop = await startLivenessExpiry(t.deps);
    });
    afterAll(async () => {
      stop();
      await t.deps.liveness.close();
      await t.close();
    });

    const post = (url: string, token: string, payload: object) =>
      t.app.inject({ method: 'POST', url, headers: { ...json, ...bearer(token) }, payload });
    const register = (w: { id: string; token: string }, url = '') =>
      post('/registry/register', w.token, { id: w.id, url, agent_card: { name: 'x' } });
    const beat = (w: { id: string; token: string }, over: object = {}) =>
      post('/registry/heartbeat', w.token, { workspace_id: w.id, ...over });
    const statusOf = async (id: string) => (await getWorkspace(t.db, id))!.status;
    const until = (id: string, s: WorkspaceStatus) => expect.poll(() => statusOf(id), { timeout: 5000, interval: 20 }).toBe(s);
    const managed = async () => {
      const ws = await createWs(t, { name: 'managed' });
      await setStatus(t.db, ws.id, Status.Provisioning);
      return { id: ws.id, token: (await mintWorkspaceToken(t.db, ws.id)).token };
    };

    it('C178 C274 a quiet (stale) external agent goes back to awaiting_agent with WORKSPACE_AWAITING_AGENT, never offline', async () => {
      const w = await createExternal(t, { name: 'laptop' });
      expect((await register(w)).statusCode).toBe(200);
      expect(await statusOf(w.id)).toBe(Status.Online);
      await until(w.id, Status.AwaitingAgent);
      expect((await eventsOf(t, w.id)).at(-1)).toEqual({
        event_type: 'WORKSPACE_AWAITING_AGENT',
        payload: { name: 'laptop', external: true, reason: 'heartbeat_lost' },
      });
      expect((await eventsOf(t, w.id)).map((e) => e.event_type)).not.toContain('WORKSPACE_OFFLINE');
      // Re-registrable: the agent coming back is online again.
      expect((await register(w)).statusCode).toBe(200);
      expect(await statusOf(w.id)).toBe(Status.Online);
    });

    it('C178 a quiet managed agent goes offline with WORKSPACE_OFFLINE, from online or degraded', async () => {
      const a = await managed();
      const b = await managed();
      await register(a, 'http://127.0.0.1:9500');
      await register(b, 'http://127.0.0.1:9501');
      await beat(b, { error_rate: 0.9 });
      expect(await statusOf(b.id)).toBe(Status.Degraded);
      await until(a.id, Status.Offline);
      await until(b.id, Status.Offline);
      for (const w of [a, b]) expect((await eventsOf(t, w.id)).at(-1)).toEqual({ event_type: 'WORKSPACE_OFFLINE', payload: { reason: 'heartbeat_lost' } });
    });

    it('C024 the next beat after an expiry brings the workspace back online', async () => {
      const w = await createExternal(t);
      await register(w);
      await until(w.id, Status.AwaitingAgent);
      expect((await beat(w)).statusCode).toBe(200);
      expect(await statusOf(w.id)).toBe(Status.Online);
    });

    it('beats keep a workspace online past many TTLs', async () => {
      const w = await createExternal(t);
      await register(w);
      const started = performance.now();
      while (performance.now() - started < TTL_SECONDS * 1000 * 4) {
        expect((await beat(w)).statusCode).toBe(200);
        await new Promise((r) => setTimeout(r, (TTL_SECONDS * 1000) / 4));
      }
      expect(await statusOf(w.id)).toBe(Status.Online);
      expect((await eventsOf(t, w.id)).map((e) => e.event_type)).toEqual(['WORKSPACE_CREATED', 'WORKSPACE_AWAITING_AGENT', 'WORKSPACE_ONLINE']);
    });

    it('an expiry never touches a workspace that is not online or degraded (paused, removed)', async () => {
      const paused = await createExternal(t);
      const removed = await createExternal(t);
      await register(paused);
      await register(removed);
      await setStatus(t.db, paused.id, Status.Paused);
      await t.app.inject({ method: 'DELETE', url: `/workspaces/${removed.id}`, headers: t.admin });
      await expect.poll(() => t.deps.liveness.isAlive(paused.id), { timeout: 5000, interval: 20 }).toBe(false);
      await expect.poll(() => t.deps.liveness.isAlive(removed.id), { timeout: 5000, interval: 20 }).toBe(false);
      // The expiry handler ran for both (their deadlines passed); neither row moved.
      await handleExpiry(t.deps, paused.id);
      await handleExpiry(t.deps, removed.id);
      expect(await statusOf(paused.id)).toBe(Status.Paused);
      expect(await statusOf(removed.id)).toBe(Status.Removed);
    });

    it('a deadline claimed just as a beat lands elsewhere leaves the row alone (the beat is recent)', async () => {
      const w = await createExternal(t, { name: 'raced' });
      const longLived = { ...t.deps, config: { ...t.deps.config, livenessTtlSeconds: 60 } };
      await register(w);
      await handleExpiry(longLived, w.id);
      expect(await statusOf(w.id)).toBe(Status.Online);
    });

    it('boot reconcile: an online workspace nobody tracks (a restarted server) still expires', async () => {
      const w = await createExternal(t);
      await t.db.query('UPDATE workspaces SET status = $2, last_heartbeat_at = now() - interval $$1 hour$$ WHERE id = $1', [w.id, Status.Online]);
      const liveness = createMemoryLiveness();
      const restarted = { ...t.deps, liveness };
      const off = await startLivenessExpiry(restarted);
      try {
        expect(await liveness.isAlive(w.id)).toBe(true);
        await until(w.id, Status.AwaitingAgent);
      } finally {
        off();
        await liveness.close();
      }
    });
  });

  describe(`liveness expiry when the database fails, on ${kind}`, () => {
    it('the expiry is re-armed, not dropped', async () => {
      const liveness = createMemoryLiveness();
      let calls = 0;
      const failing = {
        query: async () => {
          calls++;
          throw new Error('connection terminated');
        },
      } as unknown as Db;
      const deps = {
        db: failing,
        liveness,
        log: createLogger({ level: 'silent', pretty: false }),
        broadcaster: undefined as never,
        config: { livenessTtlSeconds: 90 },
      };
      try {
        await handleExpiry(deps, '11111111-1111-4111-8111-111111111111');
        expect(calls).toBe(1);
        expect(await liveness.isAlive('11111111-1111-4111-8111-111111111111')).toBe(true);
        expect(EXPIRY_RETRY_MS).toBeGreaterThan(0);
      } finally {
        await liveness.close();
      }
    });
  });
}
