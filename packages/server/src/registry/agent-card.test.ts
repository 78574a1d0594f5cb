import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintWorkspaceToken } from '../auth/repo.js';
import { bearer, createExternal, createWs, eventsOf, sender } from '../test-support/api.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { MAX_AGENT_CARD_BYTES } from './agent-card.js';

// #15 item 6: an existing A2A service connected as an external push agent keeps working with the
// URL rules, and the card it publishes at its well-known path is fetched and becomes the workspace's
// card (the canvas Details tab shows it).
describe('agent card of an external push agent', () => {
  let t: TestApp;
  let strict: TestApp;
  let service: Server;
  let base: string;
  /** What the stand-in service answers per path; a path not listed is 404. */
  const answers = new Map<string, { status?: number; body: string }>();
  const hits: string[] = [];
  const send = sender(() => t);
  const published = { name: 'Travel planner', description: 'Plans trips', version: '2.1.0', url: '', skills: [{ id: 'plan', name: 'Plan a trip', description: 'Itineraries' }] };

  beforeAll(async () => {
    service = createServer((req, res) => {
      hits.push(req.url ?? '');
      const a = answers.get(req.url ?? '');
      if (!a) return void res.writeHead(404).end();
      res.writeHead(a.status ?? 200, { 'content-type': 'application/json' }).end(a.body);
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
    t = await startTestApp();
    // Production's address rules: a loopback service is refused.
    strict = await startTestApp({ tweak: (deps) => void (deps.agentUrlPolicy = { ...deps.agentUrlPolicy, allowPrivate: false }) });
  });
  afterAll(async () => {
    await t?.close();
    await strict?.close();
    await new Promise((r) => service?.close(r));
  });

  async function registerPush(app: TestApp, path: string, card: Record<string, unknown> = { name: 'registered' }) {
    const ws = await createExternal(app, { name: `svc-${hits.length}-${Date.now()}` });
    const r = await sender(() => app)('POST', '/registry/register', { id: ws.id, url: `${base}${path}`, agent_card: card, delivery_mode: 'push' }, bearer(ws.token));
    return { ws, r };
  }
  const cardOf = async (app: TestApp, id: string) => (await sender(() => app)('GET', `/workspaces/${id}`)).json<{ agent_card: Record<string, unknown> }>().agent_card;

  it('the card the service publishes at /.well-known/agent-card.json replaces the registered one, with AGENT_CARD_UPDATED', async () => {
    answers.clear();
    answers.set('/.well-known/agent-card.json', { body: JSON.stringify(published) });
    const { ws, r } = await registerPush(t, '/a2a/v1');
    expect(r.statusCode, r.body).toBe(200);
    await expect.poll(() => cardOf(t, ws.id)).toEqual(published);
    expect((await eventsOf(t, ws.id)).filter((e) => e.event_type === 'AGENT_CARD_UPDATED').map((e) => e.payload)).toEqual([{ agent_card: published }]);
  });

  it('falls back to /.well-known/agent.json (A2A 0.2)', async () => {
    answers.clear();
    answers.set('/.well-known/agent.json', { body: JSON.stringify({ ...published, name: 'Old spec' }) });
    const { ws } = await registerPush(t, '');
    await expect.poll(async () => (await cardOf(t, ws.id)).name).toBe('Old spec');
  });

  it.each([
    ['no card at either path', () => {}],
    ['a card that is not JSON', () => answers.set('/.well-known/agent-card.json', { body: '<html>hi</html>' })],
    ['a card with no name', () => answers.set('/.well-known/agent-card.json', { body: JSON.stringify({ description: 'nameless' }) })],
    ['a JSON array', () => answers.set('/.well-known/agent-card.json', { body: '[1,2]' })],
    ['a card over the size cap', () => answers.set('/.well-known/agent-card.json', { body: JSON.stringify({ name: 'big', pad: 'x'.repeat(MAX_AGENT_CARD_BYTES) }) })],
    ['an error status', () => answers.set('/.well-known/agent-card.json', { status: 500, body: JSON.stringify(published) })],
  ])('%s: the registered card stays and no event is recorded', async (_label, setup) => {
    answers.clear();
    setup();
    const before = hits.length;
    const { ws, r } = await registerPush(t, '');
    expect(r.statusCode, r.body).toBe(200);
    // Both paths are asked (or the first answered something that is not a card and the second 404).
    await expect.poll(() => hits.slice(before).filter((h) => h.startsWith('/.well-known/')).length).toBe(2);
    expect(await cardOf(t, ws.id)).toEqual({ name: 'registered' });
    expect((await eventsOf(t, ws.id)).some((e) => e.event_type === 'AGENT_CARD_UPDATED')).toBe(false);
  });

  it('under production URL rules a private address is refused at register (C220) and nothing is fetched', async () => {
    answers.clear();
    answers.set('/.well-known/agent-card.json', { body: JSON.stringify(published) });
    const before = hits.length;
    const { r } = await registerPush(strict, '');
    expect(r.statusCode).toBe(400);
    expect(hits.length).toBe(before);
  });

  it('a workspace the platform runs is not asked for a card (only external push agents are)', async () => {
    answers.clear();
    answers.set('/.well-known/agent-card.json', { body: JSON.stringify(published) });
    const before = hits.length;
    const own = await createWs(t, { name: `own-${Date.now()}`, runtime: 'molecule' });
    const r = await send('POST', '/registry/register', { id: own.id, url: `${base}/`, agent_card: { name: 'own' } }, bearer((await mintWorkspaceToken(t.db, own.id)).token));
    expect(r.statusCode, r.body).toBe(200);
    // An external push agent registered after it is fetched; by then the first would have been too.
    const { ws } = await registerPush(t, '');
    await expect.poll(() => cardOf(t, ws.id)).toEqual(published);
    expect(hits.slice(before)).toEqual(['/.well-known/agent-card.json']);
    expect(await cardOf(t, own.id)).toEqual({ name: 'own' });
  });
});
