import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm, type FakeTurn } from '../../../../runtime/src/test-support/fake-llm.js';
import type { RunningServer } from '../../main.js';
import { e2eClient, startE2eServer } from '../../test-support/e2e.js';

// The claude-code runtime end to end on the process backend: the real molecule-agent runs the
// Claude Agent SDK (its bundled Claude Code binary) against a local fake Anthropic Messages server.
describe('claude-code runtime on the process backend (issue #16)', () => {
  let server: RunningServer;
  let llm: FakeLlm;
  const turns: FakeTurn[] = [{ chunks: ['hello'] }];
  const c = e2eClient(() => server);

  beforeAll(async () => {
    llm = await startFakeLlm({ turns });
    ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'process' }));
    for (const [key, value] of [
      ['ANTHROPIC_API_KEY', 'sk-fake'],
      ['ANTHROPIC_BASE_URL', llm.url],
    ]) {
      const r = await fetch(`${server.url}/settings/secrets`, { method: 'PUT', headers: c.admin, body: JSON.stringify({ key, value }) });
      expect(r.status).toBeLessThan(300);
    }
  });
  afterAll(async () => {
    await server?.close();
    await llm?.close();
  });

  it('C045 created from its template it comes online as claude-code, delegates to an echo child through delegate_task, shows the tool use in activity, and keeps the session over a restart', async () => {
    const id = await c.create('cc', 'claude-code');
    expect((await c.get(id)).runtime).toBe('claude-code');
    const child = await fetch(`${server.url}/workspaces`, { method: 'POST', headers: c.admin, body: JSON.stringify({ name: 'echo-child', template: 'echo', parent_id: id }) });
    expect(child.status).toBe(201);
    const childId = ((await child.json()) as { id: string }).id;
    await c.waitOnline(id, 60_000);
    await c.waitOnline(childId, 60_000);
    // The runtime declared native session ownership, so a busy answer is not queued (C045).
    await expect.poll(() => server.deps.runtimeOverrides.hasCapability(id, 'session'), { timeout: 30_000 }).toBe(true);

    turns.splice(0, turns.length, { toolCalls: [{ id: 'toolu_1', name: 'mcp__platform__delegate_task', args: { workspace_id: childId, task: 'ping' } }] }, { chunks: ['child answered'] });
    const url = String((await c.get(id)).url);
    const contextId = randomUUID();
    expect(await c.sendDirect(url, 'ask the child', contextId)).toContain('child answered');
    const toolResult = llm.requests.filter((r) => r.path === '/v1/messages').map((r) => JSON.stringify(r.body.messages)).find((m) => m.includes('tool_result'));
    expect(toolResult).toContain('echo: ping');
    await expect
      .poll(async () => {
        const r = await fetch(`${server.url}/workspaces/${id}/activity?type=agent_log`, { headers: c.admin });
        return JSON.stringify(await r.json());
      }, { timeout: 15_000 })
      .toContain('delegate_task');

    // A restart keeps the session: the same A2A context resumes, so the model sees the first turn again.
    const first = String((await c.get(id)).instance_id);
    const restart = await fetch(`${server.url}/workspaces/${id}/restart`, { method: 'POST', headers: c.admin, body: '{}' });
    expect(restart.status).toBeLessThan(300);
    await expect.poll(async () => String((await c.get(id)).instance_id), { timeout: 60_000 }).not.toBe(first);
    await c.waitOnline(id, 60_000);
    turns.splice(0, turns.length, { chunks: ['still here'] });
    const seen = llm.requests.length;
    expect(await c.sendDirect(String((await c.get(id)).url), 'remember?', contextId)).toContain('still here');
    const resumed = llm.requests.slice(seen).filter((r) => r.path === '/v1/messages').map((r) => JSON.stringify(r.body.messages));
    expect(resumed.some((m) => m.includes('ask the child') && m.includes('remember?'))).toBe(true);
  }, 180_000);
});
