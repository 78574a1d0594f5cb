import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../main.js';
import { freePort } from '../net/free-port.js';
import { e2eClient, startE2eServer } from '../test-support/e2e.js';
import { createPgliteMemoryDb, startMemoryPlugin, type MemoryDb, type RunningMemoryPlugin } from '@molecule/memory-postgres';
import { createLogger } from '../log.js';
import { pluginsClient } from '../plugins/e2e.suite.js';

// Issue #14's "done when" with real molecule-agents (process backend) from templates/memo and the
// built-in memory store (packages/memory-postgres, on embedded PGlite), the agents
// remember and recall through the platform's MCP memory tools: team memory is shared in the team
// and nowhere else, only the root writes org memory (read back inside the delimiter), a secret never
// reaches the store, and a store that goes away is a clear error that heals when it returns.
describe('shared memory between real agents', () => {
  let server: RunningServer;
  let plugin: RunningMemoryPlugin;
  let store: MemoryDb;
  let port: number;
  const log = createLogger({ level: 'silent', pretty: false });
  const stored = async () => (await store.query<{ content: string }>('SELECT content FROM memory_records')).rows.map((r) => r.content);
  const c = e2eClient(() => server);
  const p = pluginsClient(() => server);

  beforeAll(async () => {
    port = await freePort();
    store = await createPgliteMemoryDb();
    plugin = await startMemoryPlugin({ db: store, port, log });
    ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'process', MEMORY_PLUGIN_URL: plugin.url }, 'molecule-memory-e2e-'));
  });
  afterAll(async () => {
    await server?.close();
    await plugin?.close();
    await store?.close();
  });

  const create = async (name: string, parent?: string) => {
    const r = await fetch(`${server.url}/workspaces`, { method: 'POST', headers: c.admin, body: JSON.stringify({ name, template: 'memo', ...(parent ? { parent_id: parent } : {}) }) });
    expect(r.status).toBe(201);
    return ((await r.json()) as { id: string }).id;
  };

  it('C240 C241 C243 C244 C245 C261 a child remembers for the team, its sibling recalls it, another org cannot; the root writes org memory; secrets are redacted; a lost store is a clear error, then heals', async () => {
    const root = await create('memo-root');
    const [a, b] = [await create('memo-a', root), await create('memo-b', root)];
    const stranger = await create('memo-stranger');
    for (const id of [root, a, b, stranger]) await c.waitOnline(id, 60_000);

    expect(await p.say(a, 'remember the launch moved to Friday')).toBe('Remembered for the team.');
    expect(await p.say(b, 'recall launch')).toBe('the launch moved to Friday');
    expect(await p.say(stranger, 'recall launch')).toBe('No memories found.');

    expect(await p.say(root, 'remember for the org we ship on Fridays')).toBe('Remembered for the org.');
    const orgRead = await p.say(a, 'recall ship');
    expect(orgRead).toMatch(/^\[MEMORY id=[0-9a-f-]{36} scope=ORG ns=org:[0-9a-f-]{36}\]: we ship on Fridays$/);
    expect(await p.say(a, 'remember for the org not mine to say')).toMatch(/may not write org memory/);

    await p.say(a, 'remember deploy with ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnopqrstuvwxyz');
    expect(await stored()).toContain('deploy with ANTHROPIC_API_KEY=[REDACTED:ASSIGNMENT]');
    expect(JSON.stringify(await stored())).not.toContain('sk-ant-api03');

    await plugin.close();
    expect(await p.say(b, 'recall launch')).toMatch(/the memory store did not answer/);
    plugin = await startMemoryPlugin({ db: store, port, log });
    // Back on the same store: what was remembered is still there, and new memories go in.
    expect(await p.say(b, 'recall launch')).toBe('the launch moved to Friday');
    expect(await p.say(a, 'remember back in business')).toBe('Remembered for the team.');
    expect(await p.say(b, 'recall business')).toBe('back in business');
  }, 180_000);
});
