import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PlatformEvent } from '@molecule/contracts';
import type { Db } from '../db/port.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';
import type { EventBus } from './bus.js';
import { collector, type Collector } from './bus.contract.js';

/* ------------------------------------------------------------------------------------------------
 * Clients for the live channels, speaking the wire protocol the canvas and tools speak.
 * ---------------------------------------------------------------------------------------------- */

export interface WsClient {
  ws: WebSocket;
  events: Collector<PlatformEvent>;
  /** Resolves with the close code and reason once the connection is closed, by either side. */
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

/** Opens `/ws`; resolves once the upgrade completed, rejects with the answer when it was refused. */
export function openWs(base: string, headers: Record<string, string> = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, { headers });
    const events = collector<PlatformEvent>();
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: String(reason) })));
    ws.on('message', (data) => events.push(PlatformEvent.parse(JSON.parse(String(data)))));
    ws.once('open', () =>
      resolve({
        ws,
        events,
        closed,
        close: () =>
          new Promise<void>((done) => {
            if (ws.readyState === WebSocket.CLOSED) return done();
            ws.once('close', () => done());
            ws.close();
          }),
      }),
    );
    ws.once('unexpected-response', (_req, res) => {
      readBody(res).then((body) => {
        ws.on('error', () => {}); // the aborted handshake reports itself; the refusal is the result
        ws.terminate();
        reject(new UpgradeRefused(res.statusCode ?? 0, body));
      }, reject);
    });
    ws.once('error', reject);
  });
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`upgrade refused with ${status}`);
  }
}

/** The refusal of a `/ws` upgrade; fails if the upgrade succeeded. */
export async function wsRefusal(base: string, headers: Record<string, string> = {}): Promise<UpgradeRefused> {
  try {
    const c = await openWs(base, headers);
    await c.close();
  } catch (err) {
    if (err instanceof UpgradeRefused) return err;
    throw err;
  }
  throw new Error('the WebSocket upgrade was accepted');
}

export interface SseFrame {
  comment?: string;
  id?: string;
  data?: string;
  event?: PlatformEvent;
}

export type SseAnswer =
  | { status: 200; headers: http.IncomingHttpHeaders; frames: Collector<SseFrame>; close(): void }
  | { status: number; headers: http.IncomingHttpHeaders; body: unknown };

/** Opens an SSE stream; resolves when the response head arrives (with the body for non-200). */
export function openSse(base: string, path: string, headers: Record<string, string> = {}): Promise<SseAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${path}`, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode !== 200) {
        readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), reject);
        return;
      }
      const frames = collector<SseFrame>();
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          frames.push(parseFrame(buf.slice(0, end)));
          buf = buf.slice(end + 2);
        }
      });
      res.on('error', () => {}); // destroyed by close(): the test is done with it
      resolve({ status: 200, headers: res.headers, frames, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

function parseFrame(text: string): SseFrame {
  const frame: SseFrame = {};
  const data: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) {
      frame.comment = line.slice(1).trim();
      continue;
    }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'id') frame.id = value;
    if (field === 'data') data.push(value);
  }
  if (data.length > 0) {
    frame.data = data.join('\n');
    frame.event = PlatformEvent.parse(JSON.parse(frame.data));
  }
  return frame;
}

function readBody(res: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (text += c));
    res.on('end', () => {
      try {
        resolve(text ? JSON.parse(text) : undefined);
      } catch {
        resolve(text);
      }
    });
    res.on('error', reject);
  });
}

function streamOf(a: SseAnswer) {
  if (!('frames' in a)) throw new Error(`expected an SSE stream, got ${a.status} ${JSON.stringify(a.body)}`);
  return a;
}

const dataFrames = (frames: SseFrame[]) => frames.filter((f) => f.event !== undefined);

/* ------------------------------------------------------------------------------------------------
 * A hook on the SSE replay query, to deliver an event exactly while a stream is replaying.
 * ---------------------------------------------------------------------------------------------- */

interface ReplayGate {
  db: Db;
  /**
   * Holds the next replay query until `release`, either before it runs or after it ran (before
   * its rows reach the route); `held` resolves once it is being held.
   */
  arm(when: 'before' | 'after'): { held: Promise<void>; release(): void };
}

function replayGate(db: Db): ReplayGate {
  let armed: { when: 'before' | 'after'; held: () => void; released: Promise<void> } | null = null;
  const isReplay = (sql: string) => /FROM structure_events/.test(sql) && /WHERE id > \$1/.test(sql);
  const gated: Db = {
    kind: db.kind,
    async query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
      const a = armed && isReplay(sql) ? armed : null;
      if (!a) return db.query<T>(sql, params);
      armed = null;
      if (a.when === 'before') {
        a.held();
        await a.released;
        return db.query<T>(sql, params);
      }
      const result = await db.query<T>(sql, params);
      a.held();
      await a.released;
      return result;
    },
    exec: (sql) => db.exec(sql),
    tx: (fn) => db.tx(fn),
    withAdvisoryLock: (key, fn) => db.withAdvisoryLock(key, fn),
    tryWithAdvisoryLock: (key, fn) => db.tryWithAdvisoryLock(key, fn),
    close: () => db.close(),
  };
  return {
    db: gated,
    arm(when) {
      let held!: () => void;
      let release!: () => void;
      const heldP = new Promise<void>((r) => (held = r));
      armed = { when, held, released: new Promise<void>((r) => (release = r)) };
      return { held: heldP, release };
    },
  };
}

/* ------------------------------------------------------------------------------------------------
 * The suite.
 * ---------------------------------------------------------------------------------------------- */

export interface EventRoutesContractOptions {
  kind: DbKind;
  makeBus: () => Promise<EventBus>;
}

/**
 * The event routes (`/ws`, `/workspaces/:id/events/stream`, `/events`) against a listening app on
 * the given database and bus. Events come from the real API (POST/PATCH /workspaces, POST
 * /workspaces/:id/tokens) or the app's broadcaster. "Nothing else arrived" is asserted once a
 * later marker event has arrived: the bus keeps one publisher's order.
 */
export function eventRoutesContract(name: string, opts: EventRoutesContractOptions): void {
  describe(`event routes: ${name}`, () => {
    let t: TestApp;
    let base: string;
    let gate: ReplayGate;
    const cleanup: (() => unknown)[] = [];

    beforeAll(async () => {
      t = await startTestApp({
        kind: opts.kind,
        bus: await opts.makeBus(),
        tweak: (deps) => {
          gate = replayGate(deps.db);
          deps.db = gate.db;
        },
      });
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const addr = t.app.server.address();
      if (!addr || typeof addr !== 'object') throw new Error('the app is not listening');
      base = `http://127.0.0.1:${addr.port}`;
    });
    afterEach(async () => {
      for (const c of cleanup.splice(0).reverse()) await c();
    });
    afterAll(async () => {
      await t?.close();
    });

    const ws = async (headers: Record<string, string>) => {
      const c = await openWs(base, headers);
      cleanup.push(() => c.close());
      return c;
    };
    const sse = async (path: string, headers: Record<string, string>) => {
      const a = await openSse(base, path, headers);
      if ('frames' in a) cleanup.push(() => a.close());
      return a;
    };
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    /** An external workspace (no provisioning) and its agent token. */
    const createWorkspace = async (name = `ws-${randomUUID().slice(0, 8)}`) => {
      const r = await t.app.inject({ method: 'POST', url: '/workspaces', headers: t.admin, payload: { name, runtime: 'external' } });
      expect(r.statusCode, r.body).toBe(201);
      const body = r.json<{ id: string; connection: { auth_token: string } }>();
      return { id: body.id, token: body.connection.auth_token };
    };
    const rename = async (id: string, name: string) => {
      const r = await t.app.inject({ method: 'PATCH', url: `/workspaces/${id}`, headers: t.admin, payload: { name } });
      expect(r.statusCode, r.body).toBe(200);
    };
    const mintToken = async (id: string, headers: Record<string, string> = t.admin) => {
      const r = await t.app.inject({ method: 'POST', url: `/workspaces/${id}/tokens`, headers });
      expect(r.statusCode, r.body).toBe(201);
      return r.json<{ id: string; auth_token: string }>();
    };
    const sessionCookie = async () => {
      const r = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { token: t.adminToken } });
      expect(r.statusCode, r.body).toBe(200);
      const c = r.cookies.find((x) => x.name === 'molecule_session');
      expect(c?.value).toBeTruthy();
      return { cookie: `molecule_session=${c!.value}` };
    };
    const persistedOf = async (workspaceId: string) => {
      const r = await t.app.inject({ method: 'GET', url: `/events?workspace_id=${workspaceId}&limit=1000`, headers: t.admin });
      expect(r.statusCode, r.body).toBe(200);
      return r.json<PlatformEvent[]>();
    };
    const gauge = async (g: { get(): Promise<{ values: { value: number }[] }> }) => (await g.get()).values[0]?.value ?? 0;
    const untilGauge = async (g: Parameters<typeof gauge>[0], want: number, what: string) => {
      const deadline = Date.now() + 5000;
      for (;;) {
        const v = await gauge(g);
        if (v === want) return;
        if (Date.now() > deadline) throw new Error(`${what}: gauge is ${v}, expected ${want}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    /** Waits for a marker rename of `id` on a WS client; returns the events of `ids` before it. */
    const wsUntilRenamed = async (c: WsClient, id: string, marker: string, ids: (string | null)[]) => {
      const i = await c.events.until((items) => {
        const k = items.findIndex((e) => e.workspace_id === id && e.type === 'WORKSPACE_UPDATED' && e.payload.name === marker);
        return k >= 0 ? k : undefined;
      }, `rename of ${id} to ${marker}`);
      return c.events.items.slice(0, i).filter((e) => ids.includes(e.workspace_id));
    };
    const sseUntilRenamed = async (frames: Collector<SseFrame>, id: string, marker: string) => {
      const i = await frames.until((items) => {
        const k = items.findIndex((f) => f.event?.type === 'WORKSPACE_UPDATED' && f.event.workspace_id === id && f.event.payload.name === marker);
        return k >= 0 ? k : undefined;
      }, `rename of ${id} to ${marker}`);
      return frames.items.slice(0, i + 1);
    };
    const summary = (e: PlatformEvent) => ({ type: e.type, workspace_id: e.workspace_id, name: e.payload.name });

    describe('GET /ws', () => {
      it('refuses a request without a credential with 401 before upgrading', async () => {
        const r = await wsRefusal(base);
        expect(r.status).toBe(401);
        expect(r.body).toMatchObject({ error: expect.any(String), code: 'unauthorized' });
      });

      it('refuses a bad bearer with 401 before upgrading, even next to a valid session cookie', async () => {
        const a = await createWorkspace();
        const revoked = await mintToken(a.id);
        const del = await t.app.inject({ method: 'DELETE', url: `/workspaces/${a.id}/tokens/${revoked.id}`, headers: t.admin });
        expect(del.statusCode, del.body).toBe(200);
        const cookie = await sessionCookie();
        const bad: Record<string, string>[] = [
          { authorization: 'Bearer not-a-token' },
          { authorization: `Bearer ${t.adminToken}x` },
          { authorization: 'Bearer mol_ws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
          { authorization: 'Bearer mol_org_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
          bearer(revoked.auth_token),
          { authorization: 'Bearer not-a-token', ...cookie },
          { cookie: 'molecule_session=mol_sess_forged' },
        ];
        for (const headers of bad) {
          const r = await wsRefusal(base, headers);
          expect(r.status, JSON.stringify(headers)).toBe(401);
          expect(r.body).toMatchObject({ code: 'unauthorized' });
        }
      });

      it('an admin bearer sees every workspace’s events, persisted and broadcast-only, and platform-level ones', async () => {
        const a = await createWorkspace();
        const b = await createWorkspace();
        const admin = await ws(t.admin);
        const tag = randomUUID();
        await rename(a.id, 'a1');
        await rename(b.id, 'b1');
        const beat = await t.deps.broadcaster.broadcastOnly('WORKSPACE_HEARTBEAT', b.id, {});
        const platform = await t.deps.broadcaster.recordAndBroadcast('TOKEN_CREATED', null, { tag });
        await rename(a.id, 'marker');
        const got = await wsUntilRenamed(admin, a.id, 'marker', [a.id, b.id, null]);
        expect(got.map(summary)).toEqual([
          { type: 'WORKSPACE_UPDATED', workspace_id: a.id, name: 'a1' },
          { type: 'WORKSPACE_UPDATED', workspace_id: b.id, name: 'b1' },
          { type: 'WORKSPACE_HEARTBEAT', workspace_id: b.id, name: undefined },
          { type: 'TOKEN_CREATED', workspace_id: null, name: undefined },
        ]);
        expect(got[2]).toEqual(beat);
        expect(got[3]).toEqual(platform);
        expect(got[0]!.seq).toEqual(expect.any(Number));
      });

      it('a workspace token sees only its own workspace’s events, never another’s or platform-level ones', async () => {
        const a = await createWorkspace();
        const b = await createWorkspace();
        const onA = await ws(bearer(a.token));
        const onB = await ws(bearer(b.token));
        await rename(a.id, 'a1');
        await rename(b.id, 'b1');
        await mintToken(a.id, bearer(a.token));
        await t.deps.broadcaster.broadcastOnly('WORKSPACE_HEARTBEAT', b.id, {});
        await t.deps.broadcaster.recordAndBroadcast('TOKEN_CREATED', null, {});
        await rename(b.id, 'marker');
        await rename(a.id, 'marker');
        await wsUntilRenamed(onB, b.id, 'marker', []);
        await wsUntilRenamed(onA, a.id, 'marker', []);
        expect(onA.events.items.map(summary)).toEqual([
          { type: 'WORKSPACE_UPDATED', workspace_id: a.id, name: 'a1' },
          { type: 'TOKEN_CREATED', workspace_id: a.id, name: undefined },
          { type: 'WORKSPACE_UPDATED', workspace_id: a.id, name: 'marker' },
        ]);
        expect(onB.events.items.map(summary)).toEqual([
          { type: 'WORKSPACE_UPDATED', workspace_id: b.id, name: 'b1' },
          { type: 'WORKSPACE_HEARTBEAT', workspace_id: b.id, name: undefined },
          { type: 'WORKSPACE_UPDATED', workspace_id: b.id, name: 'marker' },
        ]);
      });

      it('the canvas session cookie opens /ws with admin visibility', async () => {
        const a = await createWorkspace();
        const canvas = await ws(await sessionCookie());
        await rename(a.id, 'a1');
        await rename(a.id, 'marker');
        expect((await wsUntilRenamed(canvas, a.id, 'marker', [a.id])).map(summary)).toEqual([
          { type: 'WORKSPACE_UPDATED', workspace_id: a.id, name: 'a1' },
        ]);
      });

      it('disconnects a client that stops reading with 1013 once it is too far behind', async () => {
        const a = await createWorkspace();
        const slow = await ws(bearer(a.token));
        slow.ws.pause();
        const blob = 'x'.repeat(64 * 1024);
        // Well past WS_MAX_BUFFERED_BYTES plus what the kernel's socket buffers absorb.
        for (let n = 0; n < 400; n++) await t.deps.broadcaster.broadcastOnly('WORKSPACE_HEARTBEAT', a.id, { n, blob });
        slow.ws.resume();
        const { code, reason } = await slow.closed;
        expect(code).toBe(1013);
        expect(reason).toMatch(/GET \/events\?after=/);
        expect(slow.events.items.length).toBeLessThan(400);
      });

      it('closing the socket releases its subscription', async () => {
        await untilGauge(t.deps.metrics.wsConnections, 0, 'before');
        const c = await openWs(base, t.admin);
        await untilGauge(t.deps.metrics.wsConnections, 1, 'while open');
        await c.close();
        await untilGauge(t.deps.metrics.wsConnections, 0, 'after close');
      });
    });

    describe('GET /workspaces/:id/events/stream (SSE)', () => {
      it('answers 401 without a credential or with a bad bearer', async () => {
        const a = await createWorkspace();
        for (const headers of [{}, bearer('not-a-token'), bearer('mol_ws_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')]) {
          const r = await sse(`/workspaces/${a.id}/events/stream`, headers);
          expect(r.status, JSON.stringify(headers)).toBe(401);
          expect('body' in r && r.body).toMatchObject({ error: expect.any(String), code: 'unauthorized' });
        }
      });

      it('answers 403 to another workspace’s token', async () => {
        const a = await createWorkspace();
        const b = await createWorkspace();
        const r = await sse(`/workspaces/${a.id}/events/stream`, bearer(b.token));
        expect(r.status).toBe(403);
        expect('body' in r && r.body).toMatchObject({ code: 'forbidden' });
      });

      it('answers 400 to a malformed workspace id or Last-Event-ID', async () => {
        const a = await createWorkspace();
        const badId = await sse('/workspaces/not-a-uuid/events/stream', t.admin);
        expect(badId.status).toBe(400);
        expect('body' in badId && badId.body).toMatchObject({ code: 'invalid_request' });
        for (const lastEventId of ['abc', '-1', '1.5']) {
          const r = await sse(`/workspaces/${a.id}/events/stream`, { ...bearer(a.token), 'last-event-id': lastEventId });
          expect(r.status, lastEventId).toBe(400);
          expect('body' in r && r.body).toMatchObject({ code: 'invalid_request' });
        }
      });

      it('C097 streams `: ping` first, then only that workspace’s events; persisted ones carry `id: <seq>`', async () => {
        const a = await createWorkspace();
        const b = await createWorkspace();
        const stream = streamOf(await sse(`/workspaces/${a.id}/events/stream`, bearer(a.token)));
        expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
        expect(stream.headers['cache-control']).toBe('no-cache');
        await stream.frames.until((f) => (f.length > 0 ? true : undefined), 'the first frame');
        expect(stream.frames.items[0]).toEqual({ comment: 'ping' });

        await rename(a.id, 'a1');
        await rename(b.id, 'b1');
        const beat = await t.deps.broadcaster.broadcastOnly('WORKSPACE_HEARTBEAT', a.id, { n: 1 });
        await t.deps.broadcaster.broadcastOnly('WORKSPACE_HEARTBEAT', b.id, { n: 2 });
        await mintToken(a.id, bearer(a.token));
        await t.deps.broadcaster.recordAndBroadcast('TOKEN_CREATED', null, {});
        await rename(b.id, 'b2');
        await rename(a.id, 'marker');

        const frames = await sseUntilRenamed(stream.frames, a.id, 'marker');
        const data = dataFrames(frames);
        expect(data.every((f) => f.event!.workspace_id === a.id)).toBe(true);
        expect(data.map((f) => summary(f.event!))).toEqual([
          { type: 'WORKSPACE_UPDATED', workspace_id: a.id, name: 'a1' },
          { type: 'WORKSPACE_HEARTBEAT', workspace_id: a.id, name: undefined },
          { type: 'TOKEN_CREATED', workspace_id: a.id, name: undefined },
          { type: 'WORKSPACE_UPDATED', workspace_id: a.id, name: 'marker' },
        ]);
        expect(data[1]!.event).toEqual(beat);
        expect(data[1]!.id).toBeUndefined();
        const persisted = data.filter((f) => f.event!.seq !== null);
        for (const f of persisted) expect(f.id).toBe(String(f.event!.seq));
        // The same events, with the same seq, as the replay API holds.
        const stored = await persistedOf(a.id);
        expect(persisted.map((f) => f.event)).toEqual(stored.slice(-3));
      });

      const adminStreamsOneWorkspace = async (headers: Record<string, string>) => {
        const a = await createWorkspace();
        const b = await createWorkspace();
        const stream = streamOf(await sse(`/workspaces/${a.id}/events/stream`, headers));
        await stream.frames.until((f) => (f.length > 0 ? true : undefined), 'the ping');
        await rename(b.id, 'marker');
        await rename(a.id, 'marker');
        const data = dataFrames(await sseUntilRenamed(stream.frames, a.id, 'marker'));
        expect(data.map((f) => summary(f.event!))).toEqual([{ type: 'WORKSPACE_UPDATED', workspace_id: a.id, name: 'marker' }]);
      };

      it('C097 an admin bearer may stream any workspace and still sees only that workspace', async () => {
        await adminStreamsOneWorkspace(t.admin);
      });

      it('C097 the canvas session cookie may stream any workspace and still sees only that workspace', async () => {
        await adminStreamsOneWorkspace(await sessionCookie());
      });

      it('C097 reconnecting with Last-Event-ID replays the persisted events after it, then continues live: none lost, none duplicated', async () => {
        const a = await createWorkspace();
        const b = await createWorkspace();
        const path = `/workspaces/${a.id}/events/stream`;
        const first = streamOf(await sse(path, bearer(a.token)));
        await first.frames.until((f) => (f.length > 0 ? true : undefined), 'the ping');
        await rename(a.id, 'seen');
        const seen = dataFrames(await sseUntilRenamed(first.frames, a.id, 'seen'));
        const lastId = seen.at(-1)!.id!;
        first.close();

        // Missed while disconnected: persisted events of a, plus noise that must not be replayed.
        await rename(a.id, 'missed-1');
        await t.deps.broadcaster.broadcastOnly('WORKSPACE_HEARTBEAT', a.id, {});
        await mintToken(a.id);
        await rename(b.id, 'other');
        await rename(a.id, 'missed-2');

        const second = streamOf(await sse(path, { ...bearer(a.token), 'last-event-id': lastId }));
        await rename(a.id, 'live');
        const frames = await sseUntilRenamed(second.frames, a.id, 'live');
        expect(frames[0]).toEqual({ comment: 'ping' });
        const data = dataFrames(frames);
        expect(data.map((f) => summary(f.event!))).toEqual([
          { type: 'WORKSPACE_UPDATED', workspace_id: a.id, name: 'missed-1' },
          { type: 'TOKEN_CREATED', workspace_id: a.id, name: undefined },
          { type: 'WORKSPACE_UPDATED', workspace_id: a.id, name: 'missed-2' },
          { type: 'WORKSPACE_UPDATED', workspace_id: a.id, name: 'live' },
        ]);
        const ids = data.map((f) => Number(f.id));
        expect(ids.every((id) => id > Number(lastId))).toBe(true);
        expect([...ids].sort((x, y) => x - y)).toEqual(ids);
        const stored = await persistedOf(a.id);
        expect(data.map((f) => f.event)).toEqual(stored.filter((e) => e.seq! > Number(lastId)));
      });

      it('C097 Last-Event-ID 0 replays the workspace’s whole persisted history', async () => {
        const a = await createWorkspace();
        await rename(a.id, 'done');
        const stream = streamOf(await sse(`/workspaces/${a.id}/events/stream`, { ...t.admin, 'last-event-id': '0' }));
        const frames = await sseUntilRenamed(stream.frames, a.id, 'done');
        expect(dataFrames(frames).map((f) => f.event)).toEqual(await persistedOf(a.id));
        expect(dataFrames(frames).map((f) => f.event!.type)).toEqual(['WORKSPACE_CREATED', 'WORKSPACE_AWAITING_AGENT', 'WORKSPACE_UPDATED']);
      });

      it('an empty Last-Event-ID means no cursor: nothing is replayed', async () => {
        const a = await createWorkspace();
        const stream = streamOf(await sse(`/workspaces/${a.id}/events/stream`, { ...t.admin, 'last-event-id': '' }));
        await rename(a.id, 'fresh');
        const frames = await sseUntilRenamed(stream.frames, a.id, 'fresh');
        expect(dataFrames(frames).map((f) => f.event!.type)).toEqual(['WORKSPACE_UPDATED']);
      });

      it('answers 404 for an unknown workspace and 410 for a removed one, before streaming', async () => {
        const unknown = await sse('/workspaces/00000000-0000-4000-8000-000000000000/events/stream', t.admin);
        expect(unknown.status).toBe(404);
        const a = await createWorkspace();
        expect((await t.app.inject({ method: 'DELETE', url: `/workspaces/${a.id}`, headers: t.admin })).statusCode).toBe(200);
        const removed = await sse(`/workspaces/${a.id}/events/stream`, t.admin);
        expect(removed.status).toBe(410);
        expect('body' in removed && removed.body).toMatchObject({ code: 'gone' });
      });

      it('C097 an event published while the replay is being read is delivered exactly once', async () => {
        const a = await createWorkspace();
        const [created] = await persistedOf(a.id);
        const held = gate.arm('before');
        const stream = streamOf(await sse(`/workspaces/${a.id}/events/stream`, { ...bearer(a.token), 'last-event-id': String(created!.seq) }));
        await held.held;
        // Published after the stream subscribed and committed before its replay query runs: it is
        // both in the replay and in the live buffer.
        await rename(a.id, 'during-replay');
        held.release();
        await rename(a.id, 'after');
        const data = dataFrames(await sseUntilRenamed(stream.frames, a.id, 'after'));
        expect(data.map((f) => f.event!.type === 'WORKSPACE_UPDATED' ? f.event!.payload.name : f.event!.type)).toEqual([
          'WORKSPACE_AWAITING_AGENT',
          'during-replay',
          'after',
        ]);
        expect(data.map((f) => f.event)).toEqual((await persistedOf(a.id)).slice(1));
      });

      it('C097 an event published after the replay was read, while it is being sent, is not lost', async () => {
        const a = await createWorkspace();
        const [created] = await persistedOf(a.id);
        await rename(a.id, 'before');
        const held = gate.arm('after');
        const stream = streamOf(await sse(`/workspaces/${a.id}/events/stream`, { ...bearer(a.token), 'last-event-id': String(created!.seq) }));
        await held.held;
        // The replay's rows are already read: this one reaches the stream only through the live
        // subscription, which must keep it until the replay has been sent.
        await rename(a.id, 'during-send');
        held.release();
        await rename(a.id, 'after');
        const data = dataFrames(await sseUntilRenamed(stream.frames, a.id, 'after'));
        expect(data.map((f) => (f.event!.type === 'WORKSPACE_UPDATED' ? f.event!.payload.name : f.event!.type))).toEqual([
          'WORKSPACE_AWAITING_AGENT',
          'before',
          'during-send',
          'after',
        ]);
        expect(data.map((f) => f.event)).toEqual((await persistedOf(a.id)).slice(1));
      });

      it('C097 a replay longer than one page is delivered in full', async () => {
        const a = await createWorkspace();
        const [created] = await persistedOf(a.id);
        for (let n = 0; n < 1105; n++) await t.deps.broadcaster.recordAndBroadcast('WORKSPACE_HEARTBEAT', a.id, { n });
        await rename(a.id, 'end');
        const stream = streamOf(await sse(`/workspaces/${a.id}/events/stream`, { ...bearer(a.token), 'last-event-id': String(created!.seq) }));
        const data = dataFrames(await sseUntilRenamed(stream.frames, a.id, 'end'));
        expect(data).toHaveLength(1 + 1105 + 1);
        const ns = data.filter((f) => f.event!.type === 'WORKSPACE_HEARTBEAT').map((f) => f.event!.payload.n);
        expect(ns).toEqual(Array.from({ length: 1105 }, (_, n) => n));
        const ids = data.map((f) => Number(f.id));
        expect(new Set(ids).size).toBe(ids.length);
        expect([...ids].sort((x, y) => x - y)).toEqual(ids);
      });

      it('closing the stream releases its subscription', async () => {
        const a = await createWorkspace();
        await untilGauge(t.deps.metrics.sseConnections, 0, 'before');
        const stream = streamOf(await openSse(base, `/workspaces/${a.id}/events/stream`, bearer(a.token)));
        await untilGauge(t.deps.metrics.sseConnections, 1, 'while open');
        stream.close();
        await untilGauge(t.deps.metrics.sseConnections, 0, 'after close');
      });
    });

    describe('GET /events', () => {
      it('needs an admin credential: 401 without one or with a bad bearer, 403 for a workspace token', async () => {
        const a = await createWorkspace();
        for (const headers of [{}, bearer('not-a-token'), { cookie: 'molecule_session=mol_sess_forged' }]) {
          const r = await t.app.inject({ method: 'GET', url: '/events', headers });
          expect(r.statusCode, JSON.stringify(headers)).toBe(401);
          expect(r.json()).toMatchObject({ error: expect.any(String), code: 'unauthorized' });
        }
        const ws = await t.app.inject({ method: 'GET', url: `/events?workspace_id=${a.id}`, headers: bearer(a.token) });
        expect(ws.statusCode).toBe(403);
        expect(ws.json()).toMatchObject({ error: expect.any(String), code: 'forbidden' });
        const ok = await t.app.inject({ method: 'GET', url: `/events?workspace_id=${a.id}`, headers: t.admin });
        expect(ok.statusCode, ok.body).toBe(200);
        expect(ok.json<PlatformEvent[]>().map((e) => e.type)).toEqual(['WORKSPACE_CREATED', 'WORKSPACE_AWAITING_AGENT']);
      });

      it('accepts the canvas session cookie', async () => {
        const a = await createWorkspace();
        const r = await t.app.inject({ method: 'GET', url: `/events?workspace_id=${a.id}`, headers: await sessionCookie() });
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json<PlatformEvent[]>()).toHaveLength(2);
      });

      it('returns persisted events in ascending seq, without broadcast-only ones, filtered by workspace', async () => {
        const a = await createWorkspace();
        const b = await createWorkspace();
        await rename(a.id, 'a1');
        await t.deps.broadcaster.broadcastOnly('WORKSPACE_HEARTBEAT', a.id, {});
        await rename(b.id, 'b1');
        await mintToken(a.id);
        const events = await persistedOf(a.id);
        expect(events.map((e) => e.type)).toEqual(['WORKSPACE_CREATED', 'WORKSPACE_AWAITING_AGENT', 'WORKSPACE_UPDATED', 'TOKEN_CREATED']);
        expect(events.every((e) => e.workspace_id === a.id && typeof e.seq === 'number')).toBe(true);
        const seqs = events.map((e) => e.seq!);
        expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(seqs.length);
      });

      it('pages with the after cursor: every event once, in order, and an empty page at the end', async () => {
        const a = await createWorkspace();
        for (let n = 0; n < 5; n++) await rename(a.id, `n${n}`);
        const all = await persistedOf(a.id);
        expect(all).toHaveLength(7);
        const paged: PlatformEvent[] = [];
        let after = 0;
        for (let pages = 0; pages < 10; pages++) {
          const r = await t.app.inject({ method: 'GET', url: `/events?workspace_id=${a.id}&after=${after}&limit=3`, headers: t.admin });
          expect(r.statusCode, r.body).toBe(200);
          const page = r.json<PlatformEvent[]>();
          expect(page.length).toBeLessThanOrEqual(3);
          if (page.length === 0) break;
          paged.push(...page);
          after = page.at(-1)!.seq!;
        }
        expect(paged).toEqual(all);

        // Without a workspace filter the cursor spans every workspace, still ascending.
        const mid = all[3]!.seq!;
        const r = await t.app.inject({ method: 'GET', url: `/events?after=${mid}&limit=1000`, headers: t.admin });
        const rest = r.json<PlatformEvent[]>();
        expect(rest.every((e) => e.seq! > mid)).toBe(true);
        expect(rest.map((e) => e.seq)).toEqual([...rest.map((e) => e.seq!)].sort((x, y) => x - y));
        expect(rest.filter((e) => e.workspace_id === a.id)).toEqual(all.slice(4));
      });

      it.each([
        ['after=-1'],
        ['after=1.5'],
        ['after=abc'],
        ['limit=0'],
        ['limit=-5'],
        ['limit=abc'],
        ['limit=1001'],
        ['workspace_id=not-a-uuid'],
        ['workspace_id='],
      ])('answers 400 invalid_request to %s', async (query) => {
        const r = await t.app.inject({ method: 'GET', url: `/events?${query}`, headers: t.admin });
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json()).toMatchObject({ error: expect.any(String), code: 'invalid_request' });
      });
    });

    describe('GET /events/:workspaceId', () => {
      const of = (id: string, query = '', headers: Record<string, string> = t.admin) => t.app.inject({ method: 'GET', url: `/events/${id}${query}`, headers });

      it('C095 C096 one workspace\'s recorded events, newest first; broadcast-only ones (heartbeats, task updates) are never there', async () => {
        const a = await createWorkspace();
        const b = await createWorkspace();
        await rename(a.id, 'a1');
        await t.deps.broadcaster.broadcastOnly('WORKSPACE_HEARTBEAT', a.id, {});
        await t.deps.broadcaster.broadcastOnly('TASK_UPDATED', a.id, { current_task: 'x' });
        await rename(b.id, 'b1');
        await mintToken(a.id);
        const r = await of(a.id);
        expect(r.statusCode, r.body).toBe(200);
        const events = r.json<PlatformEvent[]>();
        expect(events.map((e) => e.type)).toEqual(['TOKEN_CREATED', 'WORKSPACE_UPDATED', 'WORKSPACE_AWAITING_AGENT', 'WORKSPACE_CREATED']);
        expect(events.every((e) => e.workspace_id === a.id)).toBe(true);
        expect(events).toEqual((await persistedOf(a.id)).reverse());
      });

      it('pages back with before: every event once, then an empty page', async () => {
        const a = await createWorkspace();
        for (let n = 0; n < 5; n++) await rename(a.id, `p${n}`);
        const all = (await of(a.id)).json<PlatformEvent[]>();
        expect(all).toHaveLength(7);
        const paged: PlatformEvent[] = [];
        let query = '?limit=3';
        for (let pages = 0; pages < 10; pages++) {
          const page = (await of(a.id, query)).json<PlatformEvent[]>();
          if (page.length === 0) break;
          paged.push(...page);
          query = `?limit=3&before=${page.at(-1)!.seq}`;
        }
        expect(paged).toEqual(all);
      });

      it('a workspace with no events, or one that never existed, is an empty list', async () => {
        expect((await of(randomUUID())).json()).toEqual([]);
      });

      it('needs an admin credential: 401 without one, 403 for a workspace token', async () => {
        const a = await createWorkspace();
        expect((await of(a.id, '', {})).statusCode).toBe(401);
        expect((await of(a.id, '', bearer('not-a-token'))).statusCode).toBe(401);
        const own = await of(a.id, '', bearer(a.token));
        expect(own.statusCode).toBe(403);
        expect(own.json()).toMatchObject({ code: 'forbidden' });
      });

      it.each([['not-a-uuid', ''], ['', '?before=0'], ['', '?before=-1'], ['', '?before=x'], ['', '?limit=0'], ['', '?limit=1001']])(
        'answers 400 invalid_request to id %s query %s',
        async (id, query) => {
          const a = await createWorkspace();
          const r = await of(id || a.id, query);
          expect(r.statusCode, r.body).toBe(400);
          expect(r.json()).toMatchObject({ error: expect.any(String), code: 'invalid_request' });
        },
      );
    });
  });
}
