import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TERMINAL_MAX_FRAME_BYTES } from '@molecule/contracts';
import { startTestAgent, WORKSPACE_ID, type TestAgent } from './test-support/agent.js';
import { agentTerminalRefusal, connectAgentTerminal, openAgentTerminal, type AgentTerminalClient } from './test-support/terminal.js';

const SECRET = 'inbound-secret-terminal-0123456789';
const TOKEN = 'workspace-token-never-in-the-shell';
const auth = { authorization: `Bearer ${SECRET}` };

const agents: TestAgent[] = [];
const terminals: AgentTerminalClient[] = [];
afterEach(async () => {
  for (const t of terminals.splice(0)) t.ws.terminate();
  await Promise.all(agents.splice(0).map((a) => a.close({ graceMs: 0 })));
});

/** An agent with a workspace dir, the inbound secret (unless `secret` is undefined) and a workspace token in its env. */
async function agentWithTerminal(opts: { secret?: string | undefined; env?: Record<string, string> } = { secret: SECRET }) {
  const workspace = await realpath(await mkdtemp(path.join(os.tmpdir(), 'molecule-term-ws-')));
  const a = await startTestAgent({
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MOLECULE_WORKSPACE_DIR: workspace, WORKSPACE_ID, MOLECULE_WORKSPACE_TOKEN: TOKEN, OPENAI_API_KEY: 'sk-passed-through', ...opts.env },
    files: opts.secret === undefined ? {} : { '.platform_inbound_secret': opts.secret },
  });
  agents.push(a);
  return { a, workspace };
}

const open = async (a: TestAgent, query = '') => {
  const t = await openAgentTerminal(a.url, auth, query);
  terminals.push(t);
  return t;
};

/** The pty helpers this test process has started and that still run (each is one shell). */
async function ptyHelpers(): Promise<number> {
  let n = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== process.pid) continue;
    if ((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes('pty.fork')) n++;
  }
  return n;
}

describe('GET /internal/terminal on molecule-agent', () => {
  it('C035 refuses a missing, wrong or non-bearer secret with 401 before the upgrade, and fails closed without a secret file; no shell is started', async () => {
    const { a } = await agentWithTerminal();
    const before = await ptyHelpers();
    for (const [what, headers] of [
      ['no bearer', {}],
      ['a wrong bearer', { authorization: 'Bearer nope' }],
      ['another scheme', { authorization: `Basic ${SECRET}` }],
    ] as const) {
      const r = await agentTerminalRefusal(a.url, headers);
      expect(r.status, what).toBe(401);
      expect(r.body, what).toEqual({ error: 'unauthorized' });
    }
    const { a: noSecret } = await agentWithTerminal({ secret: undefined });
    for (const headers of [{ authorization: 'Bearer ' }, { authorization: 'Bearer undefined' }]) expect((await agentTerminalRefusal(noSecret.url, headers)).status).toBe(401);
    expect(await ptyHelpers()).toBe(before);
    expect([...a.logs(), ...noSecret.logs()].some((l) => l.msg === 'terminal opened')).toBe(false);
  });

  it('refuses a bad size (400) and a GET without an upgrade (426) with the right secret; no shell is started', async () => {
    const { a } = await agentWithTerminal();
    const before = await ptyHelpers();
    for (const q of ['?cols=0&rows=24', '?cols=80&rows=1001', '?cols=abc&rows=24', '?cols=1.5&rows=24']) {
      const r = await agentTerminalRefusal(a.url, auth, q);
      expect(r.status, q).toBe(400);
      expect(r.body.error, q).toBe('cols and rows must be whole numbers from 1 to 1000');
    }
    const plain = await fetch(`${a.url}/internal/terminal`, { headers: auth });
    expect(plain.status).toBe(426);
    expect(((await plain.json()) as { error: string }).error).toMatch(/WebSocket/);
    expect(await ptyHelpers()).toBe(before);
  });

  it('answers 503 with the reason when the shell cannot start (the workspace dir is gone)', async () => {
    const { a, workspace } = await agentWithTerminal();
    await rm(workspace, { recursive: true, force: true });
    const r = await agentTerminalRefusal(a.url, auth);
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ error: 'the workspace dir does not exist' });
  });

  it('opens a real shell in the workspace dir: echo, the asked size and a resize reach stty, exit sends the exit frame and closes 1000', async () => {
    const { a, workspace } = await agentWithTerminal();
    const t = await open(a, '?cols=100&rows=30');
    expect(await ptyHelpers()).toBe(1);
    t.type('pwd; stty size\r');
    let at = await t.waitFor(new RegExp(`${workspace}\\r\\n30 100\\r\\n`));
    t.type('echo hi\r');
    at = await t.waitFor(/[\r\n]hi\r\n/, at);
    t.resize(123, 45);
    t.type('stty size\r');
    await t.waitFor(/45 123\r\n/, at);
    t.type('exit 7\r');
    expect(await t.waitControl('exit')).toEqual({ type: 'exit', code: 7 });
    expect(await t.closed).toEqual({ code: 1000, reason: 'shell exited' });
    await expect.poll(() => ptyHelpers()).toBe(0);
  });

  it("keeps the agent's secrets out of the shell: no workspace token, no inbound secret; the workspace's id, dirs and pass-through keys are there", async () => {
    const { a, workspace } = await agentWithTerminal({ secret: SECRET, env: { GITHUB_TOKEN: 'ghp-workspace-secret', PARENT_ID: WORKSPACE_ID } });
    const t = await open(a);
    t.type('env; echo env-"done"\r');
    await t.waitFor(/[\r\n]env-done\r\n/);
    const env = t.output();
    expect(env).toContain(`WORKSPACE_ID=${WORKSPACE_ID}`);
    expect(env).toContain(`MOLECULE_WORKSPACE_DIR=${workspace}`);
    expect(env).toContain('OPENAI_API_KEY=sk-passed-through');
    expect(env).toContain('TERM=xterm-256color');
    expect(env).not.toContain(TOKEN);
    expect(env).not.toContain(SECRET);
    expect(env).not.toMatch(/MOLECULE_WORKSPACE_TOKEN|GITHUB_TOKEN|PARENT_ID/);
  });

  it('answers a bad control message with an error frame and goes on', async () => {
    const { a } = await agentWithTerminal();
    const t = await open(a, '?cols=90&rows=20');
    for (const bad of ['{"type":"resize","cols":0,"rows":10}', '{"type":"nope"}', '{not json']) t.ws.send(bad);
    await expect.poll(() => t.controls.length).toBe(3);
    expect(t.controls).toEqual([
      { type: 'error', error: expect.stringMatching(/resize.*1-1000/) },
      { type: 'error', error: expect.stringMatching(/resize.*1-1000/) },
      { type: 'error', error: 'control message is not valid JSON' },
    ]);
    t.type('stty size\r');
    await t.waitFor(/[\r\n]20 90\r\n/);
  });

  it(`closes a frame over ${TERMINAL_MAX_FRAME_BYTES} bytes with 1009; nothing of it reaches the shell`, async () => {
    const { a, workspace } = await agentWithTerminal();
    const marker = path.join(workspace, 'big-frame-ran');
    const t = await open(a);
    t.ws.send(Buffer.concat([Buffer.from(`touch ${marker}\r`), Buffer.alloc(TERMINAL_MAX_FRAME_BYTES, 0x20)]), { binary: true });
    expect((await t.closed).code).toBe(1009);
    await expect.poll(() => ptyHelpers()).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  it('closes a terminal with no input for MOLECULE_TERMINAL_IDLE_MS with 4000 and ends its shell', async () => {
    const { a } = await agentWithTerminal({ secret: SECRET, env: { MOLECULE_TERMINAL_IDLE_MS: '1000' } });
    // Connected only: waiting for the prompt could outlast the idle time on a loaded machine.
    const t = await connectAgentTerminal(a.url, auth);
    terminals.push(t);
    expect(await t.closed).toEqual({ code: 4000, reason: 'idle: no input for 1 s' });
    await expect.poll(() => ptyHelpers()).toBe(0);
  });
});
