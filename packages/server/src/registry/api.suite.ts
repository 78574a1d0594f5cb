import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeartbeatBody, Status, type PlatformEvent, type WorkspaceStatus } from '@molecule/contracts';
import { mintWorkspaceToken } from '../auth/repo.js';
import type { HostResolver } from '../ssrf/agent-url.js';
import { bearer, countRows, createExternal, createWs, eventsOf, json } from '../test-support/api.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';
import { getWorkspace, setStatus } from '../workspaces/repo.js';
import { heartbeat, register } from './service.js';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const CARD = { name: 'echo', version: '1.0.0', skills: [{ id: 'echo', name: 'Echo' }] };

/** DNS for the tests: names that resolve where an attacker would point them. */
export const testResolver: HostResolver = async (host) => {
  const table: Record<string, string[]> = {
    'agent.example.com': ['93.184.216.34'],
    'metadata.attacker.test': ['169.254.169.254'],
    'cgnat.attacker.test': ['100.64.0.1'],
    'testnet.attacker.test': ['192.0.2.1'],
    localhost: ['127.0.0.1', '::1'],
  };
  const hit = table[host];
  if (!hit) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
  return hit;
};

/** Everything published on an app's bus, broadcast-only events included. */
export function busRecorder(t: TestApp) {
  const seen: PlatformEvent[] = [];
  t.bus.subscribe((e) => void seen.push(e));
  return {
    of: (id: string, type?: string) => seen.filter((e) => e.workspace_id === id && (type === undefined || e.type === type)),
  };
}

/** The registry suite, on PGlite (api.test.ts) and on real PostgreSQL (api.int.test.ts). */
export function registryApiSuite(kind: DbKind): void {
  describe(`registry API on ${kind}`, () => {
    let t: TestApp;
    let bus: ReturnType<typeof busRecorder>;
    beforeAll(async () => {
      t = await startTestApp({
        kind,
        tweak: (deps) => {
          deps.agentUrlPolicy = { ...deps.agentUrlPolicy, resolve: testResolver };
        },
      });
      bus = busRecorder(t);
    });
    afterAll(async () => t.close());

    const post = (url: string, token: string | undefined, payload: unknown) =>
      t.app.inject({ method: 'POST', url, headers: { ...json, ...(token ? bearer(token) : {}) }, payload: payload as object });
    const reg = (token: string | undefined, payload: Record<string, unknown>) => post('/registry/register', token, payload);
    const beat = (token: string | undefined, payload: Record<string, unknown>) => post('/registry/heartbeat', token, payload);
    const row = async (id: string) => (await getWorkspace(t.db, id))!;
    const status = async (id: string) => (await row(id)).status;

    /** An external agent that has registered (poll, no URL): online. */
    const onlineExternal = async (body: Record<string, unknown> = {}) => {
      const w = await createExternal(t, body);
      const r = await reg(w.token, { id: w.id, agent_card: CARD });
      expect(r.statusCode, r.body).toBe(200);
      return w;
    };
    /** A managed (non-external) workspace in `status`, with a token as its provisioner would inject. */
    const managed = async (s: WorkspaceStatus, body: Record<string, unknown> = {}) => {
      const ws = await createWs(t, { name: `managed-${randomUUID().slice(0, 6)}`, ...body });
      await setStatus(t.db, ws.id, s);
      return { id: ws.id, token: (await mintWorkspaceToken(t.db, ws.id)).token };
    };
    /** The row and its events, to show that a refused call changed nothing. */
    const snapshot = async (id: string) => ({ row: await row(id), events: await eventsOf(t, id), beats: bus.of(id).length });

    describe('POST /registry/register', () => {
      it('C011 C024 an awaiting_agent workspace registers (poll, no URL), goes online and announces WORKSPACE_ONLINE', async () => {
        const w = await createExternal(t);
        expect(await status(w.id)).toBe(Status.AwaitingAgent);
        const r = await reg(w.token, { id: w.id, agent_card: CARD });
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json()).toEqual({ status: 'registered', delivery_mode: 'poll', platform_inbound_secret: expect.stringMatching(/^mol_in_/) });
        expect(r.json()).not.toHaveProperty('auth_token');
        const stored = await row(w.id);
        expect(stored).toMatchObject({ status: Status.Online, agent_card: CARD, delivery_mode: 'poll', url: '' });
        expect(stored.last_heartbeat_at).not.toBeNull();
        const events = await eventsOf(t, w.id);
        expect(events.at(-1)).toEqual({
          event_type: 'WORKSPACE_ONLINE',
          payload: { url: '', agent_card: CARD, recovered_from: Status.AwaitingAgent },
        });
      });

      it('C011 register is an idempotent upsert: a second call changes nothing but the card, same secret, no new rows', async () => {
        const w = await onlineExternal();
        const first = (await reg(w.token, { id: w.id, agent_card: CARD })).json();
        const before = await countRows(t, 'workspaces');
        const card2 = { ...CARD, version: '2.0.0' };
        const second = await reg(w.token, { id: w.id, agent_card: card2 });
        expect(second.statusCode).toBe(200);
        expect(second.json().platform_inbound_secret).toBe(first.platform_inbound_secret);
        expect(await countRows(t, 'workspaces')).toBe(before);
        expect(await row(w.id)).toMatchObject({ status: Status.Online, agent_card: card2 });
        expect((await eventsOf(t, w.id)).at(-1)).toEqual({ event_type: 'WORKSPACE_ONLINE', payload: { url: '', agent_card: card2 } });
      });

      it('C007 the inbound secret is minted once when missing, answered on every call, and never shown elsewhere', async () => {
        const w = await createExternal(t);
        expect((await row(w.id)).platform_inbound_secret).toBeNull();
        const a = (await reg(w.token, { id: w.id, agent_card: CARD })).json();
        const secret = a.platform_inbound_secret as string;
        expect((await row(w.id)).platform_inbound_secret).toBe(secret);
        expect((await reg(w.token, { id: w.id, agent_card: CARD })).json().platform_inbound_secret).toBe(secret);
        // An existing secret (the provisioner's) is answered as is.
        await t.db.query('UPDATE workspaces SET platform_inbound_secret = $2 WHERE id = $1', [w.id, 'mol_in_from_provisioner']);
        expect((await reg(w.token, { id: w.id, agent_card: CARD })).json().platform_inbound_secret).toBe('mol_in_from_provisioner');
        const views = [
          (await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: t.admin })).body,
          (await t.app.inject({ method: 'GET', url: '/workspaces', headers: t.admin })).body,
          JSON.stringify(await eventsOf(t, w.id)),
          JSON.stringify(bus.of(w.id)),
        ];
        for (const v of views) {
          expect(v).not.toContain(secret);
          expect(v).not.toContain('mol_in_from_provisioner');
        }
      });

      it('C008 C009 the payload mode wins, is persisted and answered; poll keeps an existing URL when none is sent', async () => {
        const w = await createExternal(t, { delivery_mode: 'push' });
        const push = await reg(w.token, { id: w.id, url: 'https://agent.example.com/a2a', agent_card: CARD });
        expect(push.json().delivery_mode).toBe('push');
        expect(await row(w.id)).toMatchObject({ delivery_mode: 'push', url: 'https://agent.example.com/a2a' });
        const poll = await reg(w.token, { id: w.id, agent_card: CARD, delivery_mode: 'poll' });
        expect(poll.statusCode).toBe(200);
        expect(poll.json().delivery_mode).toBe('poll');
        expect(await row(w.id)).toMatchObject({ delivery_mode: 'poll', url: 'https://agent.example.com/a2a' });
        // Without a payload value, the stored mode stays (C009 "preserves an existing stored delivery_mode").
        expect((await reg(w.token, { id: w.id, agent_card: CARD })).json().delivery_mode).toBe('poll');
      });

      it('C008 without a payload value the stored mode decides: a push workspace needs a URL', async () => {
        const w = await createExternal(t, { delivery_mode: 'push' });
        const before = await snapshot(w.id);
        const r = await reg(w.token, { id: w.id, agent_card: CARD });
        expect(r.statusCode).toBe(400);
        expect(r.json()).toMatchObject({ code: 'invalid_request', error: expect.stringMatching(/url is required/) });
        expect(await snapshot(w.id)).toEqual(before);
      });

      it.each([
        ['C009 push with an empty URL', { url: '', delivery_mode: 'push' }],
        ['C009 push with a blank URL', { url: '   ', delivery_mode: 'push' }],
        ['C008 a bad delivery_mode', { url: 'https://agent.example.com', delivery_mode: 'carrier-pigeon' }],
        ['C012 C218 a push URL at the metadata address', { url: 'http://169.254.169.254/latest/meta-data', delivery_mode: 'push' }],
        ['C218 a push URL in CGNAT 100.64.0.0/10', { url: 'http://100.64.0.1:8000', delivery_mode: 'push' }],
        ['C218 a push URL in TEST-NET 192.0.2.0/24', { url: 'http://192.0.2.1:8000', delivery_mode: 'push' }],
        ['C218 a hostname resolving to the metadata address', { url: 'http://metadata.attacker.test:8000', delivery_mode: 'push' }],
        ['C218 a hostname resolving to CGNAT', { url: 'http://cgnat.attacker.test', delivery_mode: 'push' }],
        ['C218 a hostname resolving to TEST-NET', { url: 'http://testnet.attacker.test', delivery_mode: 'push' }],
        ['an IPv4-mapped metadata address', { url: 'http://[::ffff:169.254.169.254]/', delivery_mode: 'push' }],
        ['a poll URL at the metadata address (stored URLs get dialled later)', { url: 'http://169.254.169.254', delivery_mode: 'poll' }],
        ['an unresolvable hostname', { url: 'http://nowhere.attacker.test', delivery_mode: 'push' }],
        ['a non-http scheme', { url: 'file:///etc/passwd', delivery_mode: 'push' }],
        ['credentials in the URL', { url: 'http://u:p@agent.example.com', delivery_mode: 'push' }],
        ['a URL of the wrong type', { url: 42, delivery_mode: 'push' }],
        ['a missing agent_card', { url: 'https://agent.example.com', agent_card: undefined }],
        ['an agent_card that is not an object', { url: 'https://agent.example.com', agent_card: 'card' }],
        ['an oversize URL', { url: `https://agent.example.com/${'a'.repeat(3000)}` }],
      ])('400 and nothing changed: %s', async (_label, body) => {
        const w = await createExternal(t);
        const before = await snapshot(w.id);
        const r = await reg(w.token, { id: w.id, agent_card: CARD, ...body });
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json()).toMatchObject({ code: 'invalid_request', error: expect.any(String) });
        expect(await snapshot(w.id)).toEqual(before);
      });

      it('C220 a rejected URL answers the canned message, never the address it resolved to', async () => {
        const w = await createExternal(t);
        const r = await reg(w.token, { id: w.id, url: 'http://metadata.attacker.test', agent_card: CARD, delivery_mode: 'push' });
        expect(r.json().error).toBe('workspace URL is not publicly routable');
        expect(r.body).not.toContain('169.254');
      });

      it('C220 a public push URL is accepted and stored', async () => {
        const w = await createExternal(t);
        const r = await reg(w.token, { id: w.id, url: 'https://agent.example.com/a2a', agent_card: CARD, delivery_mode: 'push' });
        expect(r.statusCode, r.body).toBe(200);
        expect(await row(w.id)).toMatchObject({ url: 'https://agent.example.com/a2a', delivery_mode: 'push', status: Status.Online });
      });

      it('C219 development mode (the default) accepts loopback and RFC 1918 agent URLs', async () => {
        for (const url of ['http://127.0.0.1:9100', 'http://localhost:9100', 'http://172.18.0.5:8000', 'http://10.1.2.3:8000']) {
          const w = await createExternal(t);
          const r = await reg(w.token, { id: w.id, url, agent_card: CARD, delivery_mode: 'push' });
          expect(r.statusCode, `${url}: ${r.body}`).toBe(200);
        }
      });

      it('C024 a provisioning workspace goes online when its agent registers; a degraded one stays degraded', async () => {
        const p = await managed(Status.Provisioning);
        expect((await reg(p.token, { id: p.id, url: 'http://127.0.0.1:9101', agent_card: CARD })).statusCode).toBe(200);
        expect(await status(p.id)).toBe(Status.Online);
        expect((await eventsOf(t, p.id)).at(-1)!.payload).toMatchObject({ recovered_from: Status.Provisioning, url: 'http://127.0.0.1:9101' });
        const d = await managed(Status.Degraded);
        expect((await reg(d.token, { id: d.id, url: 'http://127.0.0.1:9102', agent_card: CARD })).statusCode).toBe(200);
        expect(await status(d.id)).toBe(Status.Degraded);
        expect((await eventsOf(t, d.id)).at(-1)).toEqual({ event_type: 'AGENT_CARD_UPDATED', payload: { url: 'http://127.0.0.1:9102', agent_card: CARD } });
      });

      it('register refreshes liveness', async () => {
        const w = await createExternal(t);
        expect(await t.deps.liveness.isAlive(w.id)).toBe(false);
        await reg(w.token, { id: w.id, agent_card: CARD });
        expect(await t.deps.liveness.isAlive(w.id)).toBe(true);
      });

      describe('credentials', () => {
        it('401 without a bearer, and nothing changed', async () => {
          const w = await createExternal(t);
          const before = await snapshot(w.id);
          const r = await reg(undefined, { id: w.id, agent_card: CARD });
          expect(r.statusCode).toBe(401);
          expect(r.json().code).toBe('unauthorized');
          expect(await snapshot(w.id)).toEqual(before);
        });

        it('401 without a bearer even for a malformed body (validation says nothing to strangers)', async () => {
          const r = await t.app.inject({ method: 'POST', url: '/registry/register', headers: json, payload: '{"id":' });
          expect(r.statusCode).toBe(401);
        });

        it("403 with another workspace's token, and nothing changed", async () => {
          const victim = await createExternal(t);
          const attacker = await createExternal(t);
          const before = await snapshot(victim.id);
          const r = await reg(attacker.token, { id: victim.id, url: 'https://agent.example.com', agent_card: CARD, delivery_mode: 'push' });
          expect(r.statusCode).toBe(403);
          expect(await snapshot(victim.id)).toEqual(before);
        });

        it('403 with an admin credential: registry calls need the workspace token', async () => {
          const w = await createExternal(t);
          const r = await t.app.inject({ method: 'POST', url: '/registry/register', headers: { ...json, ...t.admin }, payload: { id: w.id, agent_card: CARD } });
          expect(r.statusCode).toBe(403);
        });

        it('401 for an unknown or revoked token', async () => {
          const w = await createExternal(t);
          expect((await reg('mol_ws_' + 'x'.repeat(43), { id: w.id, agent_card: CARD })).statusCode).toBe(401);
          expect((await reg('not-a-token', { id: w.id, agent_card: CARD })).statusCode).toBe(401);
          await t.db.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = $1', [w.id]);
          const before = await snapshot(w.id);
          expect((await reg(w.token, { id: w.id, agent_card: CARD })).statusCode).toBe(401);
          expect(await snapshot(w.id)).toEqual(before);
        });

        it('an unknown id never creates a workspace', async () => {
          const w = await createExternal(t);
          const before = await countRows(t, 'workspaces');
          const r = await reg(w.token, { id: UNKNOWN_ID, url: 'https://agent.example.com', agent_card: CARD, delivery_mode: 'push' });
          expect(r.statusCode).toBe(403);
          expect(await countRows(t, 'workspaces')).toBe(before);
          expect(await getWorkspace(t.db, UNKNOWN_ID)).toBeUndefined();
        });

        it('400 for a malformed id or a malformed body with a valid token', async () => {
          const w = await createExternal(t);
          expect((await reg(w.token, { id: 'not-a-uuid', agent_card: CARD })).statusCode).toBe(400);
          expect((await reg(w.token, { id: 42, agent_card: CARD })).statusCode).toBe(400);
          expect((await reg(w.token, { agent_card: CARD })).statusCode).toBe(400);
          const bad = await t.app.inject({ method: 'POST', url: '/registry/register', headers: { ...json, ...bearer(w.token) }, payload: '{"id":' });
          expect(bad.statusCode).toBe(400);
          expect(bad.json().code).toBe('invalid_json');
        });

        it('C013 a removed workspace is never revived: its agent is refused and the row stays removed', async () => {
          const w = await onlineExternal();
          await t.app.inject({ method: 'DELETE', url: `/workspaces/${w.id}`, headers: t.admin });
          const before = await snapshot(w.id);
          expect((await reg(w.token, { id: w.id, url: 'https://agent.example.com', agent_card: CARD, delivery_mode: 'push' })).statusCode).toBe(401);
          expect((await beat(w.token, { workspace_id: w.id })).statusCode).toBe(401);
          expect(await snapshot(w.id)).toEqual(before);
          expect(before.row.status).toBe(Status.Removed);
        });
      });

      it('C013 the service answers 410 for a removed workspace and 404 for an unknown one, changing nothing', async () => {
        // A token validated just before a delete lands here: the guarded upsert refuses.
        const deps = t.deps;
        const w = await onlineExternal();
        await t.db.query('UPDATE workspaces SET status = $2, removed_at = now() WHERE id = $1', [w.id, Status.Removed]);
        const before = await snapshot(w.id);
        await expect(register(deps, { id: w.id, url: '', agent_card: CARD })).rejects.toMatchObject({ code: 'gone' });
        await expect(heartbeat(deps, HeartbeatBody.parse(beatBody(w.id)))).rejects.toMatchObject({ code: 'gone' });
        expect(await snapshot(w.id)).toEqual(before);
        await expect(register(deps, { id: UNKNOWN_ID, url: '', agent_card: CARD })).rejects.toMatchObject({ code: 'not_found' });
        await expect(heartbeat(deps, HeartbeatBody.parse(beatBody(UNKNOWN_ID)))).rejects.toMatchObject({ code: 'not_found' });
        expect(await getWorkspace(t.db, UNKNOWN_ID)).toBeUndefined();
      });
    });

    describe('POST /registry/heartbeat', () => {
      it('C001 accepts every field, records the beat and answers ok with the inbound secret', async () => {
        const w = await onlineExternal();
        const r = await beat(w.token, {
          workspace_id: w.id,
          error_rate: 0.2,
          sample_error: 'timeout calling tool',
          active_tasks: 2,
          uptime_seconds: 120,
          current_task: 'summarising',
          runtime_state: '',
          runtime_metadata: { capabilities: { scheduler: true }, idle_timeout_seconds: 600 },
          monthly_spend: 150,
        });
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json()).toEqual({ status: 'ok', platform_inbound_secret: (await row(w.id)).platform_inbound_secret });
        expect(await row(w.id)).toMatchObject({
          status: Status.Online,
          error_rate: 0.2,
          last_sample_error: 'timeout calling tool',
          active_tasks: 2,
          current_task: 'summarising',
        });
      });

      it('C003 every beat emits WORKSPACE_HEARTBEAT, broadcast only (no row), even when nothing changed', async () => {
        const w = await onlineExternal();
        const persisted = (await eventsOf(t, w.id)).length;
        for (let i = 0; i < 3; i++) expect((await beat(w.token, beatBody(w.id, { active_tasks: 1, uptime_seconds: 10 + i }))).statusCode).toBe(200);
        // Beats answered from memory announce themselves once their tick is written.
        await t.deps.heartbeatWriter.flush();
        const beats = bus.of(w.id, 'WORKSPACE_HEARTBEAT');
        expect(beats).toHaveLength(3);
        expect(beats.map((e) => e.payload)).toEqual([10, 11, 12].map((u) => ({ active_tasks: 1, uptime_seconds: u, error_rate: 0 })));
        expect(beats.every((e) => e.seq === null)).toBe(true);
        expect((await eventsOf(t, w.id)).length).toBe(persisted);
      });

      it('C004 TASK_UPDATED is broadcast only when current_task changes', async () => {
        const w = await onlineExternal();
        for (const task of ['', 'a', 'a', 'b', '']) await beat(w.token, beatBody(w.id, { current_task: task, active_tasks: task ? 1 : 0 }));
        await t.deps.heartbeatWriter.flush();
        expect(bus.of(w.id, 'TASK_UPDATED').map((e) => e.payload)).toEqual([
          { current_task: 'a', active_tasks: 1 },
          { current_task: 'b', active_tasks: 1 },
          { current_task: '', active_tasks: 0 },
        ]);
        expect(bus.of(w.id, 'TASK_UPDATED').every((e) => e.seq === null)).toBe(true);
      });

      it('C005 C002 the declared capabilities and idle timeout are cached on every beat; absent metadata returns to defaults', async () => {
        const w = await onlineExternal();
        await beat(w.token, beatBody(w.id, { runtime_metadata: { capabilities: { scheduler: true, status_mgmt: false }, idle_timeout_seconds: 900 } }));
        const o = t.deps.runtimeOverrides;
        expect(o.idleTimeoutSeconds(w.id)).toBe(900);
        expect(o.providesNativeScheduler(w.id)).toBe(true);
        await beat(w.token, beatBody(w.id, { runtime_metadata: { capabilities: { scheduler: false } } }));
        expect(o.providesNativeScheduler(w.id)).toBe(false);
        expect(o.capabilities(w.id)).toEqual({ scheduler: false });
        expect(o.idleTimeoutSeconds(w.id)).toBeUndefined();
        await beat(w.token, beatBody(w.id));
        expect(o.capabilities(w.id)).toEqual({});
      });

      it('C006 the beat echoes the inbound secret, minting it when the column is empty', async () => {
        const w = await createExternal(t);
        const r = await beat(w.token, beatBody(w.id));
        const secret = r.json().platform_inbound_secret;
        expect(secret).toMatch(/^mol_in_/);
        expect((await row(w.id)).platform_inbound_secret).toBe(secret);
        expect((await beat(w.token, beatBody(w.id))).json().platform_inbound_secret).toBe(secret);
        expect((await reg(w.token, { id: w.id, agent_card: CARD })).json().platform_inbound_secret).toBe(secret);
      });

      it('C020 wedged degrades an online workspace with WORKSPACE_DEGRADED carrying the sample error', async () => {
        const w = await onlineExternal();
        await beat(w.token, beatBody(w.id, { runtime_state: 'wedged', sample_error: 'control request timeout: initialize' }));
        expect(await status(w.id)).toBe(Status.Degraded);
        expect((await eventsOf(t, w.id)).at(-1)).toEqual({
          event_type: 'WORKSPACE_DEGRADED',
          payload: { runtime_state: 'wedged', sample_error: 'control request timeout: initialize' },
        });
        // C021: still wedged at error rate 0 stays degraded; wedge cleared and quiet recovers.
        await beat(w.token, beatBody(w.id, { runtime_state: 'wedged' }));
        expect(await status(w.id)).toBe(Status.Degraded);
        await beat(w.token, beatBody(w.id));
        expect(await status(w.id)).toBe(Status.Online);
        expect((await eventsOf(t, w.id)).at(-1)).toEqual({ event_type: 'WORKSPACE_ONLINE', payload: {} });
      });

      it('C021 C023 degrade at 0.5, hold between 0.1 and 0.5, recover below 0.1; one event per transition', async () => {
        const w = await onlineExternal();
        const statuses: WorkspaceStatus[] = [];
        for (const rate of [0.3, 0.5, 0.9, 0.3, 0.1, 0.05, 0.05, 0.49]) {
          expect((await beat(w.token, beatBody(w.id, { error_rate: rate, sample_error: `rate ${rate}` }))).statusCode).toBe(200);
          statuses.push(await status(w.id));
        }
        expect(statuses).toEqual(['online', 'degraded', 'degraded', 'degraded', 'degraded', 'online', 'online', 'online']);
        const transitions = (await eventsOf(t, w.id)).filter((e) => ['WORKSPACE_DEGRADED', 'WORKSPACE_ONLINE'].includes(e.event_type));
        expect(transitions.slice(-2)).toEqual([
          { event_type: 'WORKSPACE_DEGRADED', payload: { error_rate: 0.5, sample_error: 'rate 0.5' } },
          { event_type: 'WORKSPACE_ONLINE', payload: {} },
        ]);
        expect(transitions.filter((e) => e.event_type === 'WORKSPACE_DEGRADED')).toHaveLength(1);
      });

      it('C022 with native status_mgmt the error-rate inference is skipped both ways; wedged still applies', async () => {
        const w = await onlineExternal();
        const native = { capabilities: { status_mgmt: true } };
        await beat(w.token, beatBody(w.id, { error_rate: 0.8, runtime_metadata: native }));
        expect(await status(w.id)).toBe(Status.Online);
        await beat(w.token, beatBody(w.id, { runtime_state: 'wedged', runtime_metadata: native }));
        expect(await status(w.id)).toBe(Status.Degraded);
        await beat(w.token, beatBody(w.id, { error_rate: 0.05, runtime_metadata: native }));
        expect(await status(w.id)).toBe(Status.Degraded);
        // The same runtime without the declaration: inference applies again.
        await beat(w.token, beatBody(w.id, { error_rate: 0.05, runtime_metadata: { capabilities: { status_mgmt: false } } }));
        expect(await status(w.id)).toBe(Status.Online);
      });

      it.each([Status.Offline, Status.Provisioning, Status.AwaitingAgent])(
        'C024 a beat brings %s back online with WORKSPACE_ONLINE {recovered_from}',
        async (from) => {
          const w = await managed(from);
          expect((await beat(w.token, beatBody(w.id))).statusCode).toBe(200);
          expect(await status(w.id)).toBe(Status.Online);
          expect((await eventsOf(t, w.id)).at(-1)).toEqual({ event_type: 'WORKSPACE_ONLINE', payload: { recovered_from: from } });
        },
      );

      it.each([Status.Failed, Status.Paused, Status.Hibernated, Status.Hibernating])('a beat leaves a %s workspace as it is', async (s) => {
        const w = await managed(s);
        await t.db.query('UPDATE workspaces SET last_sample_error = $2 WHERE id = $1', [w.id, 'provisioning timed out']);
        const persisted = (await eventsOf(t, w.id)).length;
        expect((await beat(w.token, beatBody(w.id, { sample_error: 'agent says hi', active_tasks: 1 }))).statusCode).toBe(200);
        const after = await row(w.id);
        expect(after.status).toBe(s);
        expect(after.active_tasks).toBe(1);
        // C026: a failed workspace keeps the failure message the platform wrote.
        if (s === Status.Failed) expect(after.last_sample_error).toBe('provisioning timed out');
        expect((await eventsOf(t, w.id)).length).toBe(persisted);
      });

      it('C025 an unknown runtime_state is accepted and ignored', async () => {
        const w = await onlineExternal();
        const r = await beat(w.token, beatBody(w.id, { runtime_state: 'draining-for-upgrade' }));
        expect(r.statusCode).toBe(200);
        expect(await status(w.id)).toBe(Status.Online);
        await beat(w.token, beatBody(w.id, { error_rate: 0.7 }));
        await beat(w.token, beatBody(w.id, { runtime_state: 'something-new' }));
        expect(await status(w.id)).toBe(Status.Online);
      });

      it('C026 the last sample error is exposed by the workspace API', async () => {
        const w = await onlineExternal();
        await beat(w.token, beatBody(w.id, { error_rate: 0.6, sample_error: 'rate limited by provider' }));
        const view = (await t.app.inject({ method: 'GET', url: `/workspaces/${w.id}`, headers: t.admin })).json();
        expect(view).toMatchObject({ status: 'degraded', last_sample_error: 'rate limited by provider', last_error_rate: 0.6 });
      });

      it('a beat refreshes liveness', async () => {
        const w = await createExternal(t);
        await beat(w.token, beatBody(w.id));
        expect(await t.deps.liveness.isAlive(w.id)).toBe(true);
      });

      it.each([
        ['error_rate of the wrong type', { error_rate: 'high' }],
        ['a negative error_rate', { error_rate: -0.1 }],
        ['an error_rate above 1', { error_rate: 1.5 }],
        ['negative active_tasks', { active_tasks: -1 }],
        ['fractional active_tasks', { active_tasks: 1.5 }],
        ['active_tasks beyond the column', { active_tasks: 2 ** 31 }],
        ['active_tasks as a string', { active_tasks: '3' }],
        ['negative uptime', { uptime_seconds: -5 }],
        ['current_task of the wrong type', { current_task: 5 }],
        ['an oversize current_task', { current_task: 'x'.repeat(5000) }],
        ['sample_error of the wrong type', { sample_error: { message: 'x' } }],
        ['runtime_state of the wrong type', { runtime_state: true }],
        ['runtime_metadata of the wrong type', { runtime_metadata: 'caps' }],
        ['capabilities with a non-boolean', { runtime_metadata: { capabilities: { scheduler: 'yes' } } }],
        ['a fractional idle timeout', { runtime_metadata: { idle_timeout_seconds: 1.5 } }],
        ['a malformed workspace_id', { workspace_id: 'not-a-uuid' }],
        ['a missing workspace_id', { workspace_id: undefined }],
      ])('400 and nothing changed: %s', async (_label, over) => {
        const w = await onlineExternal();
        await beat(w.token, beatBody(w.id, { error_rate: 0.2, current_task: 'steady' }));
        const before = await snapshot(w.id);
        const r = await beat(w.token, { ...beatBody(w.id), ...over });
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json()).toMatchObject({ code: 'invalid_request' });
        expect(await snapshot(w.id)).toEqual(before);
      });

      it('401 for an unknown, revoked or non-workspace token, and for a removed workspace; nothing changed', async () => {
        const w = await onlineExternal();
        await beat(w.token, beatBody(w.id, { current_task: 'steady' }));
        const before = await snapshot(w.id);
        for (const token of ['mol_ws_' + 'x'.repeat(43), 'mol_org_' + 'x'.repeat(43), 'garbage']) {
          const r = await beat(token, beatBody(w.id, { error_rate: 0.9 }));
          expect(r.statusCode, token).toBe(401);
          expect(r.json().code).toBe('unauthorized');
        }
        await t.db.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = $1', [w.id]);
        expect((await beat(w.token, beatBody(w.id, { error_rate: 0.9 }))).statusCode).toBe(401);
        expect(await snapshot(w.id)).toEqual(before);
      });

      it("401 without a bearer, 403 with another workspace's token or an admin credential; nothing changed", async () => {
        const victim = await onlineExternal();
        const attacker = await onlineExternal();
        const before = await snapshot(victim.id);
        expect((await beat(undefined, beatBody(victim.id))).statusCode).toBe(401);
        expect((await beat(attacker.token, beatBody(victim.id, { error_rate: 0.9 }))).statusCode).toBe(403);
        const admin = await t.app.inject({ method: 'POST', url: '/registry/heartbeat', headers: { ...json, ...t.admin }, payload: beatBody(victim.id) });
        expect(admin.statusCode).toBe(403);
        expect((await beat(attacker.token, beatBody(UNKNOWN_ID))).statusCode).toBe(403);
        expect(await snapshot(victim.id)).toEqual(before);
      });
    });

    describe('POST /registry/update-card', () => {
      it('replaces the card and records AGENT_CARD_UPDATED', async () => {
        const w = await onlineExternal();
        const card = { ...CARD, description: 'now with skills' };
        const r = await post('/registry/update-card', w.token, { workspace_id: w.id, agent_card: card });
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json()).toEqual({ status: 'updated' });
        expect((await row(w.id)).agent_card).toEqual(card);
        expect((await eventsOf(t, w.id)).at(-1)).toEqual({ event_type: 'AGENT_CARD_UPDATED', payload: { agent_card: card } });
      });

      it("400 for a bad body, 401 without a bearer, 403 with another workspace's token; nothing changed", async () => {
        const w = await onlineExternal();
        const other = await onlineExternal();
        const before = await snapshot(w.id);
        expect((await post('/registry/update-card', w.token, { workspace_id: w.id, agent_card: [1, 2] })).statusCode).toBe(400);
        expect((await post('/registry/update-card', w.token, { workspace_id: w.id })).statusCode).toBe(400);
        expect((await post('/registry/update-card', undefined, { workspace_id: w.id, agent_card: {} })).statusCode).toBe(401);
        expect((await post('/registry/update-card', other.token, { workspace_id: w.id, agent_card: {} })).statusCode).toBe(403);
        expect(await snapshot(w.id)).toEqual(before);
      });
    });

    describe('GET /registry/discover/:id', () => {
      const discover = (token: string | undefined, id: string, headers: Record<string, string> = {}) =>
        t.app.inject({ method: 'GET', url: `/registry/discover/${id}`, headers: { ...(token ? bearer(token) : {}), ...headers } });

      /** A small org: root -> (a -> a1), (b -> b1), with every agent online at a URL. */
      const org = async () => {
        const mk = async (name: string, parent?: string) => {
          const w = await createExternal(t, { name, delivery_mode: 'push', ...(parent ? { parent_id: parent } : {}) });
          const r = await reg(w.token, { id: w.id, url: `https://agent.example.com/${name}`, agent_card: CARD });
          expect(r.statusCode, r.body).toBe(200);
          return w;
        };
        const root = await mk('root');
        const a = await mk('a', root.id);
        const b = await mk('b', root.id);
        const a1 = await mk('a1', a.id);
        const b1 = await mk('b1', b.id);
        return { root, a, b, a1, b1 };
      };

      it('answers {id, url, name} for a peer the hierarchy allows (sibling, parent, ancestor)', async () => {
        const o = await org();
        const r = await discover(o.a.token, o.b.id);
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json()).toEqual({ id: o.b.id, url: 'https://agent.example.com/b', name: 'b' });
        expect((await discover(o.a1.token, o.a.id)).statusCode).toBe(200);
        expect((await discover(o.a1.token, o.root.id)).statusCode).toBe(200);
        expect((await discover(o.a.token, o.b.id, { 'x-workspace-id': o.a.id })).statusCode).toBe(200);
      });

      it('403 for a pair the hierarchy denies, an unknown or removed target, and a mismatched X-Workspace-ID', async () => {
        const o = await org();
        expect((await discover(o.a1.token, o.b1.id)).statusCode).toBe(403);
        expect((await discover(o.a1.token, UNKNOWN_ID)).statusCode).toBe(403);
        expect((await discover(o.a.token, o.b.id, { 'x-workspace-id': o.b.id })).statusCode).toBe(403);
        await t.app.inject({ method: 'DELETE', url: `/workspaces/${o.b1.id}`, headers: t.admin });
        expect((await discover(o.b.token, o.b1.id)).statusCode).toBe(403);
      });

      it('401 without a bearer, 403 for an admin credential, 400 for malformed ids', async () => {
        const o = await org();
        expect((await discover(undefined, o.b.id)).statusCode).toBe(401);
        expect((await t.app.inject({ method: 'GET', url: `/registry/discover/${o.b.id}`, headers: t.admin })).statusCode).toBe(403);
        expect((await discover(o.a.token, 'not-a-uuid')).statusCode).toBe(400);
        expect((await discover(o.a.token, o.b.id, { 'x-workspace-id': 'nope' })).statusCode).toBe(400);
      });

      it('503 when the target is not running or has no URL', async () => {
        const o = await org();
        await setStatus(t.db, o.b.id, Status.Offline);
        const offline = await discover(o.a.token, o.b.id);
        expect(offline.statusCode).toBe(503);
        expect(offline.json()).toMatchObject({ error: 'workspace not available', status: 'offline' });
        const poller = await createExternal(t, { name: 'poller', parent_id: o.root.id });
        await reg(poller.token, { id: poller.id, agent_card: CARD });
        expect((await discover(o.a.token, poller.id)).statusCode).toBe(503);
      });

      it('C221 a stored URL that fails the safety check now answers 503, not the URL', async () => {
        const o = await org();
        await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [o.b.id, 'http://metadata.attacker.test:8000']);
        const r = await discover(o.a.token, o.b.id);
        expect(r.statusCode).toBe(503);
        expect(r.json()).toEqual({ error: 'workspace URL failed safety check', code: 'agent_unavailable' });
      });
    });

    describe('GET /registry/:id/peers', () => {
      const peersOf = (token: string | undefined, id: string, q?: string) =>
        t.app.inject({
          method: 'GET',
          url: `/registry/${id}/peers${q === undefined ? '' : `?q=${encodeURIComponent(q)}`}`,
          headers: token ? bearer(token) : t.admin,
        });

      const team = async () => {
        const lead = await createExternal(t, { name: 'Team Lead', role: 'Engineering manager' });
        const me = await createExternal(t, { name: 'Backend Dev', role: 'API engineer', parent_id: lead.id });
        const sib = await createExternal(t, { name: 'Frontend Dev', role: 'UI engineer', parent_id: lead.id });
        const sib2 = await createExternal(t, { name: 'QA', role: 'Quality', parent_id: lead.id });
        const gone = await createExternal(t, { name: 'Former Dev', parent_id: lead.id });
        const kid = await createExternal(t, { name: 'Intern', role: 'apprentice', parent_id: me.id });
        const grandkid = await createExternal(t, { name: 'Shadow', parent_id: kid.id });
        await t.app.inject({ method: 'DELETE', url: `/workspaces/${gone.id}`, headers: t.admin });
        return { lead, me, sib, sib2, gone, kid, grandkid };
      };

      it('C225 lists the parent, the siblings and the children with their fields; removed and distant ones are excluded', async () => {
        const tm = await team();
        await reg(tm.sib.token, { id: tm.sib.id, url: 'https://agent.example.com/fe', agent_card: CARD, delivery_mode: 'push' });
        const r = await peersOf(tm.me.token, tm.me.id);
        expect(r.statusCode, r.body).toBe(200);
        const list = r.json() as { id: string; relation: string }[];
        expect(list.map((p) => [p.id, p.relation])).toEqual([
          [tm.lead.id, 'parent'],
          [tm.sib.id, 'sibling'],
          [tm.sib2.id, 'sibling'],
          [tm.kid.id, 'child'],
        ]);
        expect(list[1]).toEqual({
          id: tm.sib.id,
          name: 'Frontend Dev',
          role: 'UI engineer',
          tier: 2,
          status: 'online',
          url: 'https://agent.example.com/fe',
          parent_id: tm.lead.id,
          active_tasks: 0,
          agent_card: CARD,
          relation: 'sibling',
        });
      });

      it('C225 a root workspace sees the other roots as siblings', async () => {
        const tm = await team();
        const otherRoot = await createExternal(t, { name: 'Other Org Root' });
        const list = (await peersOf(tm.lead.token, tm.lead.id)).json() as { id: string; relation: string }[];
        expect(list).toContainEqual(expect.objectContaining({ id: otherRoot.id, relation: 'sibling' }));
        expect(list.filter((p) => p.relation === 'child').map((p) => p.id)).toEqual([tm.me.id, tm.sib.id, tm.sib2.id]);
        expect(list.some((p) => p.relation === 'parent')).toBe(false);
      });

      it('C226 q filters name or role case-insensitively; blank means no filter; no match is []', async () => {
        const tm = await team();
        const ids = async (q?: string) => ((await peersOf(tm.me.token, tm.me.id, q)).json() as { id: string }[]).map((p) => p.id);
        expect(await ids('DEV')).toEqual([tm.sib.id]);
        expect(await ids('engineer')).toEqual([tm.lead.id, tm.sib.id]);
        expect(await ids('APPRENTICE')).toEqual([tm.kid.id]);
        expect(await ids('   ')).toEqual(await ids());
        expect(await ids('')).toHaveLength(4);
        const none = await peersOf(tm.me.token, tm.me.id, 'zzz-nobody');
        expect(none.statusCode).toBe(200);
        expect(none.body).toBe('[]');
      });

      it("403 with another workspace's token, 401 without credentials, 404 unknown, 400 malformed; admin may look", async () => {
        const tm = await team();
        expect((await peersOf(tm.sib.token, tm.me.id)).statusCode).toBe(403);
        expect((await t.app.inject({ method: 'GET', url: `/registry/${tm.me.id}/peers` })).statusCode).toBe(401);
        expect((await peersOf(undefined, UNKNOWN_ID)).statusCode).toBe(404);
        expect((await peersOf(undefined, 'not-a-uuid')).statusCode).toBe(400);
        expect((await peersOf(undefined, tm.me.id)).statusCode).toBe(200);
        expect((await peersOf(undefined, tm.gone.id)).statusCode).toBe(410);
      });
    });
  });

  describe(`registry in production mode on ${kind}`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({
        kind,
        config: { env: 'production' },
        tweak: (deps) => {
          deps.agentUrlPolicy = { ...deps.agentUrlPolicy, resolve: testResolver };
        },
      });
    });
    afterAll(async () => t.close());

    const reg = (token: string, payload: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: '/registry/register', headers: { ...json, ...bearer(token) }, payload });

    it.each(['http://127.0.0.1:8000', 'http://localhost:8000', 'http://[::1]:8000', 'http://10.0.0.4:8000', 'http://192.168.1.9'])(
      'C012 C219 %s is refused outside development, and nothing changed',
      async (url) => {
        const w = await createExternal(t);
        const before = await getWorkspace(t.db, w.id);
        const r = await reg(w.token, { id: w.id, url, agent_card: CARD, delivery_mode: 'push' });
        expect(r.statusCode).toBe(400);
        expect(r.json().error).toBe('workspace URL is not publicly routable');
        expect(await getWorkspace(t.db, w.id)).toEqual(before);
      },
    );

    it('a managed agent may re-announce the loopback URL its provisioner recorded, and nothing else', async () => {
      const ws = await createWs(t, { name: 'managed-prod' });
      await t.db.query('UPDATE workspaces SET status = $2, url = $3 WHERE id = $1', [ws.id, Status.Provisioning, 'http://127.0.0.1:9300']);
      const token = (await mintWorkspaceToken(t.db, ws.id)).token;
      expect((await reg(token, { id: ws.id, url: 'http://127.0.0.1:9301', agent_card: CARD })).statusCode).toBe(400);
      const ok = await reg(token, { id: ws.id, url: 'http://127.0.0.1:9300', agent_card: CARD });
      expect(ok.statusCode, ok.body).toBe(200);
      expect((await getWorkspace(t.db, ws.id))!.status).toBe(Status.Online);
    });

    it('an external agent gets no such pass for a stored loopback URL', async () => {
      const w = await createExternal(t);
      await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [w.id, 'http://127.0.0.1:9400']);
      expect((await reg(w.token, { id: w.id, url: 'http://127.0.0.1:9400', agent_card: CARD, delivery_mode: 'push' })).statusCode).toBe(400);
    });
  });
}

/** A heartbeat body with every field at its quiet value. */
export function beatBody(id: string, over: Record<string, unknown> = {}) {
  return {
    workspace_id: id,
    error_rate: 0,
    sample_error: '',
    active_tasks: 0,
    uptime_seconds: 1,
    current_task: '',
    runtime_state: '',
    ...over,
  };
}
