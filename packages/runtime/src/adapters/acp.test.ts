import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type TestApp, createExternal, startTestApp } from '@molecule/server/testing';
import { loadConfig } from '../config.js';
import { startAgent } from '../agent.js';
import { captureLogger, startTestAgent, type Json, type TestAgent } from '../test-support/agent.js';
import { AcpAdapter } from './acp.js';
import type { AdapterEvent } from './types.js';

// The acp adapter against a small ACP agent written with the same SDK's agent side
// (test-support/fake-acp-agent.mjs), run as a child process over stdio, and the real platform
// (PGlite, in-process) for the platform tools it reaches through molecule-mcp (built: dist/).
const FAST = { heartbeatIntervalMs: 60_000, registerBackoff: { initialMs: 20, maxMs: 80 }, requestTimeoutMs: 5000 };
const FAKE_AGENT = fileURLToPath(new URL('../test-support/fake-acp-agent.mjs', import.meta.url));
const yaml = (extra = '') => `name: ACP\nadapter: acp\nacp:\n  command: ${JSON.stringify(process.execPath)}\n  args: [${JSON.stringify(FAKE_AGENT)}]\n${extra}`;

let t: TestApp;
let platformUrl: string;
let parent: { id: string; token: string };
let child: { id: string; token: string };
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  t = await startTestApp();
  platformUrl = await t.app.listen({ host: '127.0.0.1', port: 0 });
  parent = await createExternal(t, { name: 'front' });
  child = await createExternal(t, { name: 'writer', role: 'worker', parent_id: parent.id });
}, 60_000);
afterAll(async () => {
  await t?.close();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Dirs {
  configs?: string;
  workspace: string;
}

async function acpAgent(dirs: Dirs, extra = '', platform = true): Promise<TestAgent> {
  const env: Record<string, string> = { MOLECULE_WORKSPACE_DIR: dirs.workspace };
  if (platform) Object.assign(env, { PLATFORM_URL: platformUrl, WORKSPACE_ID: parent.id, MOLECULE_WORKSPACE_TOKEN: parent.token });
  const a = await startTestAgent({ ...FAST, yaml: yaml(extra), ...(dirs.configs ? { dir: dirs.configs } : {}), env });
  dirs.configs = a.dir;
  cleanups.push(() => a.close({ graceMs: 0 }));
  return a;
}

async function send(a: TestAgent, text: string, contextId = randomUUID()): Promise<Json> {
  const res = await fetch(a.url, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', messageId: randomUUID(), contextId, parts: [{ kind: 'text', text }] } } }),
  });
  return ((await res.json()) as Json).result;
}

const reply = (task: Json) => ({ state: task.status.state as string, text: String(task.status.message?.parts?.[0]?.text ?? '') });
const workspaceDir = () => mkdtemp(path.join(os.tmpdir(), 'molecule-ws-'));

async function toolRows(marker: string): Promise<Json[]> {
  const r = await t.app.inject({ method: 'GET', url: `/workspaces/${parent.id}/activity?type=agent_log&limit=100`, headers: t.admin });
  return (r.json() as Json[]).filter((row) => JSON.stringify(row).includes(marker));
}

describe('acp adapter (an ACP agent as a child process over stdio)', () => {
  it('streams the agent message chunks as the reply, one session per context, with the workspace dir as cwd; a restart loads the session', async () => {
    const dirs: Dirs = { workspace: await workspaceDir() };
    const a = await acpAgent(dirs, '', false);
    const ctx = randomUUID();
    expect(reply(await send(a, 'hello', ctx))).toEqual({ state: 'completed', text: 'acp: hello (turn 1)' });
    expect(reply(await send(a, 'again', ctx))).toEqual({ state: 'completed', text: 'acp: again (turn 2)' });
    expect(reply(await send(a, 'other'))).toEqual({ state: 'completed', text: 'acp: other (turn 1)' });
    // The fake agent keeps its sessions under its cwd: the workspace directory.
    const map = JSON.parse(await readFile(path.join(dirs.workspace, '.molecule', 'acp', 'sessions.json'), 'utf8')) as Record<string, string>;
    expect(JSON.parse(await readFile(path.join(dirs.workspace, '.fake-acp', `${map[ctx]}.json`), 'utf8'))).toMatchObject({ turns: 2 });

    await a.close({ graceMs: 0 });
    const b = await acpAgent(dirs, '', false);
    // session/load replays history as updates: none of it leaks into the new reply.
    expect(reply(await send(b, 'after restart', ctx))).toEqual({ state: 'completed', text: 'acp: after restart (turn 3)' });
  });

  it('C037 answers permission requests by the template policy (default read_only) and reports each tool call', async () => {
    const dirs: Dirs = { workspace: await workspaceDir() };
    const a = await acpAgent(dirs);
    const marker = randomUUID().slice(0, 8);
    expect(reply(await send(a, `read ${marker}.md`))).toEqual({ state: 'completed', text: 'read done' });
    expect(reply(await send(a, `edit ${marker}.md`))).toEqual({ state: 'completed', text: 'edit was not allowed' });
    await expect.poll(async () => (await toolRows(marker)).length).toBe(2);
    const rows = await toolRows(marker);
    // Reported by ACP tool kind, with the agent's raw input.
    expect(rows.find((r) => r.method === 'read')).toMatchObject({ status: 'ok', request_body: { tool: 'read', input: JSON.stringify({ path: `${marker}.md` }) }, response_body: { output: `did read ${marker}.md` } });
    expect(rows.find((r) => r.method === 'edit')).toMatchObject({ status: 'error', error_detail: 'permission denied' });

    const all = await acpAgent({ workspace: await workspaceDir() }, '  permissions: allow_all\n');
    expect(reply(await send(all, 'edit x.md'))).toEqual({ state: 'completed', text: 'edit done' });
    const none = await acpAgent({ workspace: await workspaceDir() }, '  permissions: deny_all\n');
    expect(reply(await send(none, 'read x.md'))).toEqual({ state: 'completed', text: 'read was not allowed' });
  });

  it('offers the platform tools as the molecule-mcp stdio server: the agent lists its peers through it', async () => {
    const a = await acpAgent({ workspace: await workspaceDir() });
    const r = reply(await send(a, 'peers'));
    expect(r.state).toBe('completed');
    expect(r.text).toContain(child.id);
    expect(r.text).toContain('writer');
    await expect.poll(async () => (await toolRows('list_peers')).some((row) => row.method === 'list_peers' && row.status === 'ok')).toBe(true);
  });

  it('without molecule-mcp beside the agent (the single-file image) the ACP agent answers without the platform tools, and the agent log says why', async () => {
    const { logger, lines } = captureLogger();
    const a = await AcpAdapter.start({
      command: process.execPath,
      args: [FAKE_AGENT],
      env: {},
      permissions: 'read_only',
      platform_tools: true,
      workspaceDir: await workspaceDir(),
      configsDir: await workspaceDir(),
      idleMs: 30_000,
      platformUrl,
      workspaceId: parent.id,
      token: parent.token,
      log: logger,
      mcpBin: path.join(os.tmpdir(), 'no-such-dir', 'mcp-main.js'),
    });
    cleanups.push(() => a.close());
    let text = '';
    for await (const ev of a.run({ text: 'peers', files: [], data: [], taskId: 't', contextId: randomUUID(), messageId: 'm', metadata: {} }, { signal: new AbortController().signal, log: logger }) as AsyncIterable<AdapterEvent>) {
      if (ev.type === 'text') text += ev.text;
    }
    expect(text).toBe('no MCP server');
    expect(lines().some((l) => l.msg === 'molecule-mcp is not installed beside molecule-agent: the ACP agent gets no platform tools')).toBe(true);
  });

  it('an agent that exits mid-turn fails the message with a safe error (heartbeat sample too) and the next message starts it again', async () => {
    const a = await acpAgent({ workspace: await workspaceDir() }, '', false);
    const crashed = reply(await send(a, 'crash'));
    expect(crashed).toEqual({ state: 'failed', text: 'Agent error: the ACP agent exited (code 1)' });
    expect(a.tracker.snapshot().sampleError).toBe('the ACP agent exited (code 1)');
    expect(reply(await send(a, 'hello'))).toEqual({ state: 'completed', text: 'acp: hello (turn 1)' });
  });

  it('an agent that goes silent fails the message after model_timeout_seconds and the conversation goes on', async () => {
    const a = await acpAgent({ workspace: await workspaceDir() }, 'model_timeout_seconds: 2\n', false);
    const ctx = randomUUID();
    expect(reply(await send(a, 'hang', ctx))).toEqual({ state: 'failed', text: 'Agent error: the ACP agent did not answer for 2 s; giving up on this message' });
    expect(reply(await send(a, 'hello', ctx))).toEqual({ state: 'completed', text: 'acp: hello (turn 2)' });
  });

  it('a command that does not exist stops the agent at startup with a message naming it', async () => {
    const cfgDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-agent-'));
    await writeFile(path.join(cfgDir, 'config.yaml'), 'adapter: acp\nacp:\n  command: molecule-no-such-acp-agent\n');
    const config = await loadConfig({ PORT: '0', MOLECULE_CONFIGS_DIR: cfgDir, MOLECULE_WORKSPACE_DIR: await workspaceDir() });
    await expect(startAgent({ config, logger: captureLogger().logger })).rejects.toThrow('acp.command "molecule-no-such-acp-agent" was not found (is it installed and on PATH?)');
  });

  it('a command that is not an ACP agent (prints something else and exits) stops the agent at startup', async () => {
    const cfgDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-agent-'));
    await writeFile(path.join(cfgDir, 'config.yaml'), `adapter: acp\nacp:\n  command: ${JSON.stringify(process.execPath)}\n  args: ["-e", "process.stdout.write('Usage: not-an-agent [options]\\\\n')"]\n`);
    const config = await loadConfig({ PORT: '0', MOLECULE_CONFIGS_DIR: cfgDir, MOLECULE_WORKSPACE_DIR: await workspaceDir() });
    await expect(startAgent({ config, logger: captureLogger().logger })).rejects.toThrow(/did not answer the ACP initialize request/);
  });

  it('config.yaml: adapter acp without acp.command, or with a bad permissions value, is refused naming the field', async () => {
    for (const [text, field] of [
      ['adapter: acp\n', 'acp.command'],
      ['adapter: acp\nacp:\n  command: x\n  permissions: maybe\n', 'acp.permissions'],
      ['adapter: acp\nacp:\n  command: ""\n', 'acp.command'],
    ] as const) {
      const cfgDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-agent-'));
      await writeFile(path.join(cfgDir, 'config.yaml'), text);
      await expect(loadConfig({ MOLECULE_CONFIGS_DIR: cfgDir })).rejects.toThrow(field);
    }
  });
});
