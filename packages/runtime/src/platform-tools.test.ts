import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AUTH_TOKEN_FILE } from './config.js';
import { PlatformClient } from './platform.js';
import { McpPlatformTools, PlatformToolsError, type TokenSource } from './platform-tools.js';
import { captureLogger, configsDir, startTestAgent, WORKSPACE_ID, type Json } from './test-support/agent.js';
import { startFakeMcp, type FakeMcp } from './test-support/fake-mcp.js';
import { freePort } from '@molecule/server/testing';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A platform offering two tools: `echo` (answers its text) and `refuse` (a tool error). */
async function platform(opts: { token?: string; port?: number; hang?: Promise<void> } = {}): Promise<FakeMcp> {
  const p = await startFakeMcp({
    ...opts,
    setup: (s) => {
      s.registerTool('echo', { description: 'Repeats text.', inputSchema: { text: z.string() } }, async ({ text }) => {
        if (opts.hang) await opts.hang;
        return { content: [{ type: 'text', text: `echo: ${text}` }] };
      });
      s.registerTool('refuse', { description: 'Always refuses.', inputSchema: {} }, async () => ({ content: [{ type: 'text', text: 'not allowed' }], isError: true }));
    },
  });
  cleanups.push(() => p.close());
  return p;
}

const fixedToken = (token: string): TokenSource => ({ current: () => token, reload: async () => false });

function tools(url: string, token: TokenSource = fixedToken('tok'), extra: Partial<ConstructorParameters<typeof McpPlatformTools>[0]> = {}) {
  const t = new McpPlatformTools({ platformUrl: url, workspaceId: WORKSPACE_ID, token, log: captureLogger().logger, ...extra });
  cleanups.push(() => t.close());
  return t;
}

describe('platform tools client (official MCP client, Streamable HTTP)', () => {
  it('connects on first use as the workspace, lists the tools once, and calls them', async () => {
    const p = await platform({ token: 'tok' });
    const t = tools(p.url);
    expect(p.requests).toHaveLength(0);

    const listed = await t.list();
    expect(listed.map((x) => x.name)).toEqual(['echo', 'refuse']);
    expect(listed[0]).toMatchObject({ description: 'Repeats text.', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } });
    expect(await t.call('echo', { text: 'hi' })).toEqual({ text: 'echo: hi', isError: false });
    expect(await t.call('refuse', {})).toEqual({ text: 'not allowed', isError: true });
    await t.list();

    expect(p.requests[0]).toMatchObject({ path: `/workspaces/${WORKSPACE_ID}/mcp`, method: 'initialize', headers: { authorization: 'Bearer tok' } });
    expect(p.requests.filter((r) => r.method === 'initialize')).toHaveLength(1);
    expect(p.requests.filter((r) => r.method === 'tools/list')).toHaveLength(1);
    expect(p.calls()).toEqual(['echo', 'refuse']);
  });

  it('a call the platform refuses (unknown tool, bad arguments) is a tool error, not an outage', async () => {
    const p = await platform();
    const t = tools(p.url);
    const unknown = await t.call('no_such_tool', {});
    expect(unknown.isError).toBe(true);
    expect(unknown.text).toContain('no_such_tool');
    const bad = await t.call('echo', { text: 42 });
    expect(bad.isError).toBe(true);
    expect(bad.text).toMatch(/text/);
  });

  it('after a 401 re-reads the token file the registry client uses, and retries with the new token', async () => {
    const dir = await configsDir('adapter: echo\n', { [AUTH_TOKEN_FILE]: 'old-token' });
    const p = await platform({ token: 'new-token' });
    const client = new PlatformClient({
      platformUrl: p.url,
      workspaceId: WORKSPACE_ID,
      configsDir: dir,
      token: 'old-token',
      tokenSource: 'file',
      registerBody: () => ({ id: WORKSPACE_ID, url: 'http://127.0.0.1:1', agent_card: {}, delivery_mode: 'push' }),
      heartbeatBody: () => ({ workspace_id: WORKSPACE_ID }) as never,
      heartbeatIntervalMs: 60_000,
      log: captureLogger().logger,
    });
    const t = tools(p.url, client.tokens);
    // The platform re-issued the token into the configs dir.
    await writeFile(path.join(dir, AUTH_TOKEN_FILE), 'new-token\n');
    expect(await t.call('echo', { text: 'x' })).toEqual({ text: 'echo: x', isError: false });
    expect(client.tokens.current()).toBe('new-token');
    expect(p.requests.map((r) => r.headers.authorization).slice(0, 2)).toEqual(['Bearer old-token', 'Bearer new-token']);
  });

  it('a token the platform keeps refusing is a PlatformToolsError that says so, without the token', async () => {
    const p = await platform({ token: 'the-real-one' });
    const t = tools(p.url, fixedToken('revoked-token'));
    const err = await t.call('echo', { text: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformToolsError);
    expect((err as Error).message).toMatch(/HTTP 401.*refused this workspace's token/);
    expect((err as Error).message).not.toContain('revoked-token');
  });

  it('an unreachable platform is a PlatformToolsError; the next use connects again once it is up', async () => {
    const port = await freePort();
    const t = tools(`http://127.0.0.1:${port}`);
    const err = await t.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformToolsError);
    expect((err as Error).message).toContain('ECONNREFUSED');
    await platform({ port });
    expect((await t.list()).map((x) => x.name)).toEqual(['echo', 'refuse']);
  });

  it('a call with no answer ends at the call timeout', async () => {
    const p = await platform({ hang: new Promise(() => undefined) });
    const t = tools(p.url, fixedToken('tok'), { callTimeoutMs: 300 });
    const err = await t.call('echo', { text: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformToolsError);
    expect((err as Error).message).toContain('no answer in time');
  });

  it('an aborted call rejects with the abort reason at once', async () => {
    const p = await platform({ hang: new Promise(() => undefined) });
    const t = tools(p.url);
    const ac = new AbortController();
    const call = t.call('echo', { text: 'x' }, ac.signal);
    await expect.poll(() => p.calls()).toEqual(['echo']);
    ac.abort(new Error('task canceled'));
    await expect(call).rejects.toThrow('task canceled');
  });

  it('after close no call is made', async () => {
    const p = await platform();
    const t = tools(p.url);
    await t.close();
    await expect(t.list()).rejects.toBeInstanceOf(PlatformToolsError);
    expect(p.requests).toHaveLength(0);
  });
});

describe('the agent hands the platform tools to its adapter', () => {
  it('a standalone agent has no platform tools; a script delegate step fails the task saying why', async () => {
    const a = await startTestAgent({ yaml: 'adapter: script\nscript:\n  - delegate: { to: worker }\n' });
    cleanups.push(() => a.close({ graceMs: 0 }));
    expect(a.tools).toBeUndefined();
    const res = await fetch(a.url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { content: 'hi' } } }) });
    const task = ((await res.json()) as Json).result;
    expect(task.status.state).toBe('failed');
    expect(task.status.message.parts[0].text).toBe('Agent error: the delegate step needs the platform tools: this agent runs without a platform (no PLATFORM_URL)');
  });

  it('an agent with a platform gets tools for its own workspace, connected only when first used', async () => {
    const p = await platform({ token: 'tok' });
    const a = await startTestAgent({ env: { PLATFORM_URL: p.url, WORKSPACE_ID, MOLECULE_WORKSPACE_TOKEN: 'tok' } });
    cleanups.push(() => a.close({ graceMs: 0 }));
    expect(p.requests.filter((r) => r.path.endsWith('/mcp'))).toHaveLength(0);
    expect(await a.tools?.call('echo', { text: 'ok' })).toEqual({ text: 'echo: ok', isError: false });
    expect(p.requests.find((r) => r.method === 'tools/call')).toMatchObject({ path: `/workspaces/${WORKSPACE_ID}/mcp`, headers: { authorization: 'Bearer tok' } });
  });
});
