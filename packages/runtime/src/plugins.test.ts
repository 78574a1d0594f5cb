import { randomUUID } from 'node:crypto';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePluginManifest } from '@molecule/contracts';
import { expand } from './adapters/script.js';
import { loadPlugins } from './plugins.js';
import { captureLogger, startTestAgent, WORKSPACE_ID, type Json, type TestAgent } from './test-support/agent.js';
import { startFakePlatform, type FakePlatform } from './test-support/fake-platform.js';

const REGISTRY = fileURLToPath(new URL('../../../plugins/', import.meta.url));
const SECRET = 'inbound-secret-0123456789';

let agents: TestAgent[] = [];
let platforms: FakePlatform[] = [];
afterEach(async () => {
  await Promise.all(agents.map((a) => a.close({ graceMs: 0 })));
  await Promise.all(platforms.map((p) => p.close()));
  agents = [];
  platforms = [];
});

async function say(a: TestAgent, text: string): Promise<Json> {
  const res = await fetch(a.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } } }),
  });
  return ((await res.json()) as Json).result;
}
const replyOf = (result: Json): string => result.status?.message?.parts?.[0]?.text ?? result.parts?.[0]?.text;

/** Installs a registry plugin the way the platform does: a copy under <configs>/plugins/<name>/. */
const installFromRegistry = (a: TestAgent, name: string) => cp(path.join(REGISTRY, name), path.join(a.dir, 'plugins', name), { recursive: true });

describe('plugin manifests', () => {
  it('a manifest needs a valid name and commands that each match something; unknown keys are ignored', () => {
    expect(parsePluginManifest({ name: 'ok', extra: { from: 'elsewhere' } }).manifest).toMatchObject({ name: 'ok', version: '0.0.0', runtimes: [], commands: [] });
    expect(parsePluginManifest({ name: '../x' }).issues[0]!.message).toMatch(/invalid plugin name/);
    expect(parsePluginManifest({ name: 'x', commands: [{ steps: [{ reply: 'all' }] }] }).issues).toEqual([{ field: 'plugin.yaml commands.0.match', message: 'is required: a command answers only the messages it matches' }]);
    expect(parsePluginManifest({ name: 'x', commands: [{ match: '(', steps: [{ reply: 'a' }] }] }).issues[0]!.message).toBe('not a valid regular expression');
    expect(parsePluginManifest({ name: 'x', commands: [{ reply: 'a' }] }).issues[0]!.message).toBe('must be a list of {match, steps} rules');
    expect(parsePluginManifest(['x']).issues[0]!.message).toBe('must be a YAML mapping');
  });

  it('script texts fill {{input}}, {{now}} and the groups the match captured', () => {
    const m = /^\/ask (\S+) (.+)$/.exec('/ask bob what now');
    expect(expand('{{1}} <- {{2}} ({{input}}) {{3}}', '/ask bob what now', m)).toBe('bob <- what now (/ask bob what now) ');
    expect(expand('{{now}}', '')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('loads the installed plugins in name order, skipping (with a warning) a folder whose manifest is broken or names another plugin', async () => {
    const a = await startTestAgent();
    agents.push(a);
    await installFromRegistry(a, 'team-ask');
    await installFromRegistry(a, 'clock');
    await mkdir(path.join(a.dir, 'plugins', 'broken'), { recursive: true });
    await writeFile(path.join(a.dir, 'plugins', 'broken', 'plugin.yaml'), 'name: broken\ncommands: [{ steps: [{ reply: x }] }]\n');
    await mkdir(path.join(a.dir, 'plugins', 'renamed'), { recursive: true });
    await writeFile(path.join(a.dir, 'plugins', 'renamed', 'plugin.yaml'), 'name: other\n');
    await mkdir(path.join(a.dir, 'plugins', 'empty'), { recursive: true });
    const { logger, lines } = captureLogger();
    expect((await loadPlugins(a.dir, logger)).map((p) => p.name)).toEqual(['clock', 'team-ask']);
    expect(lines().map((l) => [l.plugin, l.msg])).toEqual([
      ['broken', 'plugin skipped: its plugin.yaml is not valid'],
      ['empty', "plugin skipped: its plugin.yaml cannot be read"],
      ['renamed', 'plugin skipped: its folder and its plugin.yaml name differ'],
    ]);
  });
});

describe('plugins in molecule-agent', () => {
  it('a plugin installed at start answers its command, reports which plugin answered, and leaves other messages to the adapter; its skills join the card', async () => {
    const first = await startTestAgent({ yaml: 'name: Clocked\nadapter: echo\nskills: [Echo]\n' });
    await installFromRegistry(first, 'clock');
    await first.close({ graceMs: 0 });
    const a = await startTestAgent({ dir: first.dir });
    agents.push(a);
    expect(replyOf(await say(a, '/time'))).toMatch(/^It is \d{4}-\d\d-\d\dT[\d:.]+Z \(UTC\)\.$/);
    expect(replyOf(await say(a, 'hello'))).toBe('echo: hello');
    const card = (await (await fetch(`${a.url}/.well-known/agent-card.json`)).json()) as Json;
    expect(card.skills.map((s: Json) => [s.name, s.tags])).toEqual([
      ['Echo', []],
      ['Clock', ['utility', 'plugin:clock']],
    ]);
  });

  it('POST /internal/plugins/reload (inbound secret) loads a newly installed plugin: the next message uses it, the card shows it, and the platform gets the new card', async () => {
    const platform = await startFakePlatform({ secret: SECRET, responder: (r) => (r.path === '/registry/update-card' ? { status: 200, body: { status: 'updated' } } : undefined) });
    platforms.push(platform);
    const a = await startTestAgent({ env: { PLATFORM_URL: platform.url, WORKSPACE_ID, MOLECULE_WORKSPACE_TOKEN: 'tok' }, files: { '.platform_inbound_secret': SECRET } });
    agents.push(a);
    expect(replyOf(await say(a, '/time'))).toBe('echo: /time');
    await installFromRegistry(a, 'clock');

    for (const headers of [{}, { authorization: 'Bearer wrong' }] as Record<string, string>[]) {
      expect((await fetch(`${a.url}/internal/plugins/reload`, { method: 'POST', headers })).status).toBe(401);
    }
    expect(replyOf(await say(a, '/time'))).toBe('echo: /time');

    const r = await fetch(`${a.url}/internal/plugins/reload`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' }, body: '{}' });
    expect([r.status, await r.json()]).toEqual([200, { plugins: ['clock'] }]);
    expect(replyOf(await say(a, '/time'))).toMatch(/^It is /);
    expect((a.card.skills as Json[]).map((s) => s.name)).toContain('Clock');
    const update = platform.requests.find((q) => q.path === '/registry/update-card');
    expect(update?.body.workspace_id).toBe(WORKSPACE_ID);
    expect(((update?.body.agent_card as Json).skills as Json[]).map((s) => s.name)).toContain('Clock');

    // Removed and reloaded: gone again.
    await rm(path.join(a.dir, 'plugins', 'clock'), { recursive: true });
    expect(await a.reloadPlugins()).toEqual([]);
    expect(replyOf(await say(a, '/time'))).toBe('echo: /time');
    expect((a.card.skills as Json[]).map((s) => s.name)).not.toContain('Clock');
  });

  it('team-ask hands "/ask <peer> <question>" to the peer through the platform tools, so even an echo agent can delegate', async () => {
    const a = await startTestAgent();
    agents.push(a);
    await installFromRegistry(a, 'team-ask');
    await a.reloadPlugins();
    // Standalone (no platform): the delegate step says exactly what it needs.
    const result = await say(a, '/ask worker summarise this');
    expect(result.status.state).toBe('failed');
    expect(replyOf(result)).toMatch(/the delegate step needs the platform tools/);
  });
});
