import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteMemoryDb, startMemoryPlugin, type MemoryDb, type RunningMemoryPlugin } from '@molecule/memory-postgres';
import { bearer, createExternal, sender } from '../test-support/api.js';
import { startFakeMemoryPlugin, type FakeMemoryPlugin } from '../test-support/fake-memory-plugin.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { createLogger } from '../log.js';
import { importId, type ExportEntry } from './admin.js';
import { BREAKER_OPEN_MS, MemoryPluginClient } from './client.js';

/** The admin memory export and import (C250-C253; C255-C257 as the import's modes), on the real built-in store. */
describe('admin memory export and import', () => {
  let store: { db: MemoryDb; plugin: RunningMemoryPlugin };
  let a: TestApp;
  let b: TestApp;
  const sendA = sender(() => a);
  const sendB = sender(() => b);

  async function appOn(url: string) {
    return startTestApp({ tweak: (deps) => void (deps.memory = new MemoryPluginClient(url)) });
  }

  beforeAll(async () => {
    const db = await createPgliteMemoryDb();
    store = { db, plugin: await startMemoryPlugin({ db, port: 0, log: createLogger({ level: 'silent', pretty: false }) }) };
    a = await appOn(store.plugin.url);
    b = await appOn(store.plugin.url);
  }, 120_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await store?.plugin.close();
    await store?.db.close();
  });

  const remember = async (id: string, content: string, scope?: 'LOCAL' | 'TEAM' | 'GLOBAL') => {
    const r = await sendA('POST', `/workspaces/${id}/memories`, { content, ...(scope ? { scope } : {}) });
    expect(r.statusCode, r.body).toBe(201);
    return r.json<{ id: string; namespace: string }>();
  };
  const exported = async (send = sendA) => {
    const r = await send('GET', '/admin/memories/export');
    expect(r.statusCode, r.body).toBe(200);
    return r.json<ExportEntry[]>();
  };
  const importInto = async (send: typeof sendA, body: unknown, mode?: string) => send('POST', `/admin/memories/import${mode ? `?mode=${mode}` : ''}`, body);

  it('C250 C251 exports every live workspace\'s memories once, oldest first, in the legacy shape: own memories are their member\'s, team and org memories the root\'s; removed workspaces are left out', async () => {
    const tag = randomUUID().slice(0, 6);
    const root = await createExternal(a, { name: `exp-root-${tag}` });
    const lead = await createExternal(a, { name: `exp-lead-${tag}`, parent_id: root.id });
    const gone = await createExternal(a, { name: `exp-gone-${tag}`, parent_id: root.id });
    const own = await remember(lead.id, `lead note ${tag}`);
    const team = await remember(lead.id, `team note ${tag}`, 'TEAM');
    const org = await remember(root.id, `org rule ${tag}`, 'GLOBAL');
    await remember(gone.id, `forgotten ${tag}`);
    expect((await sendA('DELETE', `/workspaces/${gone.id}`)).statusCode).toBe(200);

    const mine = (await exported()).filter((e) => e.content.includes(tag));
    expect(mine.map((e) => [e.content, e.scope, e.namespace, e.workspace_name, e.workspace_id])).toEqual([
      [`lead note ${tag}`, 'LOCAL', `workspace:${lead.id}`, `exp-lead-${tag}`, lead.id],
      [`team note ${tag}`, 'TEAM', `team:${root.id}`, `exp-root-${tag}`, root.id],
      [`org rule ${tag}`, 'GLOBAL', `org:${root.id}`, `exp-root-${tag}`, root.id],
    ]);
    expect(mine.map((e) => e.id)).toEqual([own.id, team.id, org.id]);
    // The org memory comes out as stored, not wrapped in the read delimiter.
    expect(mine[2]!.content.startsWith('[MEMORY')).toBe(false);
  });

  it('C250 pages through the store: every one of 250 memories of a workspace is exported, and text that reached the store unredacted is redacted on the way out', async () => {
    const ws = await createExternal(a, { name: `exp-many-${randomUUID().slice(0, 6)}` });
    const ns = `workspace:${ws.id}`;
    const plugin = new MemoryPluginClient(store.plugin.url);
    await plugin.upsertNamespace(ns, 'workspace');
    for (let i = 0; i < 250; i++) await plugin.commit(ns, { content: `fact number ${i}` });
    // Written straight to the store, past the platform's redaction.
    await plugin.commit(ns, { content: 'the key is OPENAI_API_KEY=sk-live-abcdefghijklmnop1234' });
    const mine = (await exported()).filter((e) => e.workspace_id === ws.id);
    expect(mine).toHaveLength(251);
    expect(new Set(mine.map((e) => e.content)).size).toBe(251);
    const secret = mine.find((e) => e.content.startsWith('the key is'))!;
    expect(secret.content).toContain('[REDACTED:');
    expect(secret.content).not.toContain('sk-live');
  });

  it('C253 imports an export into another platform by workspace name: scopes become namespaces, dates are kept, content is redacted; a second import makes no copies', async () => {
    const tag = randomUUID().slice(0, 6);
    const root = await createExternal(b, { name: `imp-root-${tag}` });
    const member = await createExternal(b, { name: `imp-member-${tag}`, parent_id: root.id });
    const body = [
      { content: `decided ${tag}`, scope: 'GLOBAL', workspace_name: `imp-root-${tag}`, created_at: '2025-05-01T10:00:00Z' },
      { content: `shared ${tag}`, scope: 'TEAM', workspace_name: `imp-member-${tag}` },
      { content: `private ${tag} token GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz012345`, scope: 'local', workspace_name: `imp-member-${tag}` },
    ];
    const r = await importInto(sendB, body);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ mode: 'apply', total: 3, imported: 3, skipped: 0, errors: 0 });

    const search = async (id: string, scope: string) => (await sendB('GET', `/workspaces/${id}/memories?scope=${scope}`)).json<{ id: string; content: string; created_at: string; namespace: string }[]>();
    const org = (await search(member.id, 'GLOBAL')).find((m) => m.content.includes(`decided ${tag}`))!;
    expect(org).toMatchObject({ namespace: `org:${root.id}`, created_at: '2025-05-01T10:00:00.000Z', id: importId(`org:${root.id}`, `decided ${tag}`) });
    expect((await search(root.id, 'TEAM')).map((m) => m.content)).toContain(`shared ${tag}`);
    const own = await search(member.id, 'LOCAL');
    expect(own.map((m) => m.content)).toEqual([`private ${tag} token GITHUB_TOKEN=[REDACTED:ASSIGNMENT]`]);

    const again = await importInto(sendB, body);
    expect(again.json()).toMatchObject({ imported: 0, skipped: 3, skipped_by_reason: { duplicate: 3 }, errors: 0 });
    expect(await search(member.id, 'LOCAL')).toHaveLength(1);
  });

  it('C253 skips an unknown workspace, an unknown scope, blank content, a bad date and a repeat within the body, and says why; workspace_id wins over the name', async () => {
    const tag = randomUUID().slice(0, 6);
    const ws = await createExternal(b, { name: `imp-skip-${tag}` });
    const twin = await createExternal(b, { name: `imp-skip-${tag}` });
    const r = await importInto(sendB, [
      { content: 'nobody', scope: 'LOCAL', workspace_name: `no-such-${tag}` },
      { content: 'odd', scope: 'PLANET', workspace_name: `imp-skip-${tag}` },
      { content: '   ', scope: 'LOCAL', workspace_name: `imp-skip-${tag}` },
      { content: 'dated', scope: 'LOCAL', workspace_name: `imp-skip-${tag}`, created_at: 'last tuesday' },
      { content: `to the twin ${tag}`, scope: 'LOCAL', workspace_name: `imp-skip-${tag}`, workspace_id: twin.id },
      { content: `to the twin ${tag}`, scope: 'LOCAL', workspace_name: `imp-skip-${tag}`, workspace_id: twin.id },
    ]);
    expect(r.json()).toEqual({
      mode: 'apply',
      total: 6,
      imported: 1,
      skipped: 5,
      errors: 0,
      skipped_by_reason: { unknown_workspace: 1, unknown_scope: 1, empty_content: 1, bad_created_at: 1, duplicate: 1 },
    });
    expect((await sendB('GET', `/workspaces/${twin.id}/memories`)).json()).toHaveLength(1);
    expect((await sendB('GET', `/workspaces/${ws.id}/memories`)).json()).toEqual([]);
  });

  it('C255 C256 C257 dry_run counts without writing; verify finds every imported entry and names the ones the store lost; neither writes', async () => {
    const tag = randomUUID().slice(0, 6);
    const ws = await createExternal(b, { name: `imp-modes-${tag}` });
    const body = [1, 2, 3].map((i) => ({ content: `entry ${i} ${tag}`, scope: 'LOCAL', workspace_name: `imp-modes-${tag}` }));
    body.push({ content: 'x', scope: 'NOPE', workspace_name: `imp-modes-${tag}` });
    const list = async () => (await sendB('GET', `/workspaces/${ws.id}/memories`)).json<{ id: string }[]>();

    expect((await importInto(sendB, body, 'dry_run')).json()).toMatchObject({ mode: 'dry_run', total: 4, imported: 3, skipped: 1, skipped_by_reason: { unknown_scope: 1 } });
    expect(await list()).toEqual([]);
    expect((await importInto(sendB, body, 'verify')).json()).toMatchObject({ mode: 'verify', imported: 0, errors: 3, missing: [0, 1, 2] });

    expect((await importInto(sendB, body)).json()).toMatchObject({ imported: 3 });
    expect((await importInto(sendB, body, 'verify')).json()).toMatchObject({ mode: 'verify', imported: 3, errors: 0, missing: [] });
    const lost = importId(`workspace:${ws.id}`, `entry 2 ${tag}`);
    expect((await sendB('DELETE', `/workspaces/${ws.id}/memories/${lost}`)).statusCode).toBe(200);
    expect((await importInto(sendB, body, 'verify')).json()).toMatchObject({ imported: 2, errors: 1, missing: [1] });
    expect(await list()).toHaveLength(2);
  });

  it('refuses bad input with a clear 400 and writes nothing; only the admin may export or import', async () => {
    const ws = await createExternal(b, { name: `imp-bad-${randomUUID().slice(0, 6)}` });
    const cases: [unknown, string | undefined, RegExp][] = [
      [{ content: 'x' }, undefined, /JSON array/],
      ['[{"content": "x", "scope": "LOCAL"', undefined, /JSON|body/i],
      [[{ scope: 'LOCAL', workspace_id: ws.id }], undefined, /content/],
      [[{ content: 'x', workspace_id: ws.id }], undefined, /scope/],
      [[{ content: 'x'.repeat(100_001), scope: 'LOCAL', workspace_id: ws.id }], undefined, /longer than/],
      [[{ content: 'x', scope: 'LOCAL', workspace_id: ws.id }], 'everything', /mode must be/],
    ];
    for (const [body, mode, message] of cases) {
      const r = await importInto(sendB, body, mode);
      expect(r.statusCode, r.body).toBe(400);
      expect(r.json().error).toMatch(message);
    }
    expect((await sendB('GET', `/workspaces/${ws.id}/memories`)).json()).toEqual([]);
    const token = bearer(ws.token);
    expect((await sendB('GET', '/admin/memories/export', undefined, token)).statusCode).toBe(403);
    expect((await sendB('POST', '/admin/memories/import', [], token)).statusCode).toBe(403);
    expect((await sendB('GET', '/admin/memories/export', undefined, {})).statusCode).toBe(401);
    expect((await sendB('GET', `/workspaces/${ws.id}/memories`)).json()).toEqual([]);
  });
});

describe('admin memory export and import against a failing or missing store (C252)', () => {
  let plugin: FakeMemoryPlugin;
  let t: TestApp;
  let off: TestApp;
  const send = sender(() => t);
  let now = Date.now();
  beforeAll(async () => {
    plugin = await startFakeMemoryPlugin();
    t = await startTestApp({ tweak: (deps) => void (deps.memory = new MemoryPluginClient(plugin.url, { now: () => now })) });
    off = await startTestApp();
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await off?.close();
    await plugin?.close();
  });

  it('C252 no workspaces: an empty export without asking the store; a store that fails every batch: 503, never an empty export; entries it fails on count as errors', async () => {
    expect((await send('GET', '/admin/memories/export')).json()).toEqual([]);
    expect(plugin.requests.filter((r) => r.path === '/v1/search')).toHaveLength(0);

    const ws = await createExternal(t, { name: 'failing-store' });
    plugin.setFault('500');
    try {
      const r = await send('GET', '/admin/memories/export');
      expect([r.statusCode, r.json().error]).toEqual([503, 'the memory store failed']);
      const imp = await send('POST', '/admin/memories/import', [{ content: 'kept?', scope: 'LOCAL', workspace_id: ws.id }]);
      expect(imp.json()).toMatchObject({ imported: 0, errors: 1 });
    } finally {
      plugin.setFault('none');
    }
    // Those failures opened the client's breaker (C239): let its cooldown pass.
    now += BREAKER_OPEN_MS;
    // A store that cannot list (no `list` capability) still exports what one search returns.
    const back = await send('POST', `/workspaces/${ws.id}/memories`, { content: 'back' });
    expect(back.statusCode, back.body).toBe(201);
    expect((await send('GET', '/admin/memories/export')).json()).toMatchObject([{ content: 'back', scope: 'LOCAL', workspace_id: ws.id }]);
  });

  it('C255 with memory off, a dry run still counts (it never needs the store); apply, verify and export answer 501', async () => {
    const sendOff = sender(() => off);
    const ws = await createExternal(off, { name: 'memory-off' });
    const body = [{ content: 'x', scope: 'LOCAL', workspace_id: ws.id }];
    expect((await sendOff('POST', '/admin/memories/import?mode=dry_run', body)).json()).toMatchObject({ imported: 1 });
    for (const r of [await sendOff('POST', '/admin/memories/import', body), await sendOff('POST', '/admin/memories/import?mode=verify', body), await sendOff('GET', '/admin/memories/export')]) {
      expect([r.statusCode, r.json().error]).toEqual([501, 'memory is turned off on this platform (MEMORY_PLUGIN_URL=off)']);
    }
  });
});
