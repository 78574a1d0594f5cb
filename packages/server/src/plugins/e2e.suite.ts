import { expect } from 'vitest';
import type { RunningServer } from '../main.js';
import { E2E_ADMIN_TOKEN } from '../test-support/e2e.js';

type Json = Record<string, unknown>;

/** The plugins API over HTTP against a running platform, as the admin. */
export function pluginsClient(server: () => RunningServer) {
  const headers = { authorization: `Bearer ${E2E_ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${server().url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: r.status, body: (await r.json()) as Json & Json[] };
  };
  return {
    install: (id: string, source: string) => call('POST', `/workspaces/${id}/plugins`, { source }),
    uninstall: (id: string, name: string) => call('DELETE', `/workspaces/${id}/plugins/${name}`),
    installed: async (id: string) => (await call('GET', `/workspaces/${id}/plugins`)).body as unknown as { name: string }[],
    /** `message/send` through the platform's A2A proxy, as the canvas; the reply's text. */
    async say(id: string, text: string): Promise<string> {
      const r = await call('POST', `/workspaces/${id}/a2a`, {
        jsonrpc: '2.0',
        id: 1,
        method: 'message/send',
        params: { message: { kind: 'message', role: 'user', messageId: crypto.randomUUID(), parts: [{ kind: 'text', text }] } },
      });
      const result = (r.body as { result?: { status?: { message?: { parts?: { text?: string }[] } }; parts?: { text?: string }[] } }).result;
      return result?.status?.message?.parts?.[0]?.text ?? result?.parts?.[0]?.text ?? JSON.stringify(r.body);
    },
    /** The skill names on the agent card the platform holds for the workspace. */
    async cardSkills(id: string): Promise<string[]> {
      const ws = (await call('GET', `/workspaces/${id}`)).body as { agent_card?: { skills?: { name: string }[] } };
      return (ws.agent_card?.skills ?? []).map((s) => s.name);
    },
  };
}

/**
 * What every backend with files must do with plugins for a running echo agent: install `clock` from
 * the registry, have the agent load it without a restart (its command answers through the proxy,
 * its skill reaches the card the platform holds), then uninstall it the same way.
 */
export async function pluginsRoundTrip(p: ReturnType<typeof pluginsClient>, id: string): Promise<void> {
  expect(await p.say(id, '/time')).toBe('echo: /time');
  const r = await p.install(id, 'clock');
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body).toMatchObject({ status: 'installed', plugin: 'clock', applied: 'hot_loaded' });
  expect(await p.say(id, '/time')).toMatch(/^It is \d{4}-\d\d-\d\dT[\d:.]+Z \(UTC\)\.$/);
  expect(await p.say(id, 'hello')).toBe('echo: hello');
  await expect.poll(() => p.cardSkills(id)).toContain('Clock');
  expect((await p.installed(id)).map((x) => x.name)).toEqual(['clock']);

  expect((await p.uninstall(id, 'clock')).body).toMatchObject({ status: 'uninstalled', applied: 'hot_loaded' });
  expect(await p.say(id, '/time')).toBe('echo: /time');
  await expect.poll(() => p.cardSkills(id)).not.toContain('Clock');
  expect(await p.installed(id)).toEqual([]);
}
