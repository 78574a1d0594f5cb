import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { PlatformEvent } from '@molecule/contracts';
import { startTestAgent, WORKSPACE_ID, type Json, type TestAgent } from './test-support/agent.js';
import { startFakePlatform, type FakePlatform } from './test-support/fake-platform.js';
import { type TestApp, createExternal, startTestApp } from '@molecule/server/testing';

const FAST = { heartbeatIntervalMs: 200, registerBackoff: { initialMs: 20, maxMs: 80 }, requestTimeoutMs: 5000 };
const TOOLING = `
name: Tooling
adapter: script
script:
  - match: "^build"
    steps:
      - tool: { name: Bash, input: "make {{input}}", error: "exit status 2" }
      - reply: "the build failed"
  - steps:
      - tool: { name: Read, input: "README.md", output: "# Molecule" }
      - reply: "read it"
`;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function agent(env: Record<string, string>): Promise<TestAgent> {
  const a = await startTestAgent({ ...FAST, yaml: TOOLING, env });
  cleanups.push(() => a.close({ graceMs: 0 }));
  return a;
}

const send = (a: TestAgent, text: string) =>
  fetch(a.url, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } } }),
  }).then((r) => r.json() as Promise<Json>);

describe('the agent reports its own tool use (C037)', () => {
  it('C037 each tool use lands in the real platform as an agent_log row whose source and target are the workspace itself', async () => {
    const t: TestApp = await startTestApp();
    cleanups.push(() => t.close());
    const seen: PlatformEvent[] = [];
    t.bus.subscribe((e) => void seen.push(e));
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = t.app.server.address() as { port: number };
    const ws = await createExternal(t);
    const a = await agent({ PLATFORM_URL: `http://127.0.0.1:${addr.port}`, WORKSPACE_ID: ws.id, MOLECULE_WORKSPACE_TOKEN: ws.token });
    await expect.poll(() => a.platform?.state).toBe('registered');

    expect((await send(a, 'what does the readme say?')).result.status.state).toBe('completed');
    expect((await send(a, 'build it')).result.status.state).toBe('completed');

    const rows = async () => {
      const r = await t.app.inject({ method: 'GET', url: `/workspaces/${ws.id}/activity?type=agent_log`, headers: t.admin });
      return r.json() as Json[];
    };
    await expect.poll(async () => (await rows()).length).toBe(2);
    const all = await rows();
    const read = all.find((r) => r.method === 'Read');
    const bash = all.find((r) => r.method === 'Bash');
    expect(read).toMatchObject({
      workspace_id: ws.id,
      source_id: ws.id,
      target_id: ws.id,
      method: 'Read',
      summary: 'Read: README.md',
      status: 'ok',
      error_detail: null,
      request_body: { tool: 'Read', input: 'README.md' },
      response_body: { output: '# Molecule' },
    });
    expect(bash).toMatchObject({
      source_id: ws.id,
      target_id: ws.id,
      method: 'Bash',
      summary: 'Bash: make build it',
      status: 'error',
      error_detail: 'exit status 2',
      request_body: { tool: 'Bash', input: 'make build it' },
    });
    expect(bash).not.toHaveProperty('response_body');
    // The same rows reached the workspace's event stream, which also feeds the A2A idle timer.
    expect(seen.filter((e) => e.type === 'ACTIVITY_LOGGED' && e.workspace_id === ws.id).map((e) => e.payload.method).sort()).toEqual(['Bash', 'Read']);
  });

  it('a platform that refuses reports never fails the task; the failure is logged once, not per report', async () => {
    const p: FakePlatform = await startFakePlatform({
      responder: (req) => (req.path.endsWith('/activity') ? { status: 500, body: { error: 'internal error' } } : undefined),
    });
    cleanups.push(() => p.close());
    const a = await agent({ PLATFORM_URL: p.url, WORKSPACE_ID, MOLECULE_WORKSPACE_TOKEN: 'tok' });
    await expect.poll(() => a.platform?.state).toBe('registered');
    for (const text of ['one', 'two', 'three']) expect((await send(a, text)).result.status.state).toBe('completed');
    const reports = () => p.requests.filter((r) => r.path === `/workspaces/${WORKSPACE_ID}/activity`);
    await expect.poll(() => reports().length).toBe(3);
    expect(reports()[0]).toMatchObject({
      method: 'POST',
      headers: { authorization: 'Bearer tok' },
      body: { activity_type: 'agent_log', method: 'Read', target_id: WORKSPACE_ID },
    });
    await expect.poll(() => a.logs().filter((l) => l.msg === 'could not report activity to the platform').length).toBe(3);
    const failures = a.logs().filter((l) => l.msg === 'could not report activity to the platform');
    expect(failures.map((l) => l.level)).toEqual([40, 20, 20]);
    expect(failures[0]).toMatchObject({ reason: 'HTTP 500: internal error', failed_reports: 1 });
  });
});
