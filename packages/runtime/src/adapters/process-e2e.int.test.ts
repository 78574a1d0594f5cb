import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { e2eClient, eventually, isAlive, startE2eServer } from '@molecule/server/testing';
import { startFakeLlm, type FakeLlm, type FakeTurn } from '../test-support/fake-llm.js';

// Issue 16's end-to-end per adapter on the process backend, with real molecule-agent processes
// (packages/runtime/dist, built first): create from the repository's template, online, a message
// that makes the model (a fake OpenAI-compatible server) or the ACP agent (a fake one written with
// the SDK) use a platform tool against an echo child, the answer through the platform's proxy, the
// tool use in the activity log, and a restart that keeps the conversation.

const REPO_TEMPLATES = fileURLToPath(new URL('../../../../templates/', import.meta.url));
const FAKE_ACP_AGENT = fileURLToPath(new URL('../test-support/fake-acp-agent.mjs', import.meta.url));

let server: Awaited<ReturnType<typeof startE2eServer>>['server'];
const llms: FakeLlm[] = [];
const created: string[] = [];
const PROVIDER_ENV = ['OPENAI_BASE_URL', 'OPENAI_API_KEY'] as const;
const saved = Object.fromEntries(PROVIDER_ENV.map((k) => [k, process.env[k]]));
const c = e2eClient(() => server);
const { get } = c;

/** A parent from `template` with an echo worker child, both online. */
async function team(template: string): Promise<{ parent: string; worker: string }> {
  const parent = await c.create(`${template}-${randomUUID().slice(0, 6)}`, template);
  created.push(parent);
  const worker = await c.create('worker', 'echo', parent);
  await c.waitOnline(parent, 90_000);
  await c.waitOnline(worker, 90_000);
  return { parent, worker };
}

beforeAll(async () => {
  // The process backend hands the server's provider settings on to the agents it starts
  // (AGENT_ENV_PASSTHROUGH), and they count for a template's required_env, as with `npm start`.
  process.env.OPENAI_API_KEY = 'sk-e2e';
  const templates = await mkdtemp(path.join(os.tmpdir(), 'molecule-adapter-templates-'));
  for (const name of ['echo', 'openai-agents', 'langgraph', 'codex']) await cp(path.join(REPO_TEMPLATES, name), path.join(templates, name), { recursive: true });
  // templates/gemini-cli with the fake ACP agent in place of `gemini`.
  await mkdir(path.join(templates, 'acp-fake'));
  await writeFile(
    path.join(templates, 'acp-fake', 'config.yaml'),
    `name: ACP\nruntime: gemini-cli\nadapter: acp\nacp:\n  command: ${JSON.stringify(process.execPath)}\n  args: [${JSON.stringify(FAKE_ACP_AGENT)}]\n`,
  );
  await mkdir(path.join(templates, 'acp-missing'));
  await writeFile(path.join(templates, 'acp-missing', 'config.yaml'), 'name: ACP\nruntime: gemini-cli\nadapter: acp\nacp:\n  command: molecule-no-such-acp-agent\n');
  ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'process', MOLECULE_TEMPLATES_DIR: templates }));
}, 60_000);

afterAll(async () => {
  const pids: number[] = [];
  for (const id of created) {
    const w = await get(id).catch(() => undefined);
    const pid = Number(String(w?.instance_id ?? '').split(':')[1]);
    if (pid) pids.push(pid);
    await fetch(`${server.url}/workspaces/${id}?confirm=true`, { method: 'DELETE', headers: c.admin });
  }
  await eventually(async () => pids.every((pid) => !isAlive(pid)), 30_000);
  await server?.close();
  await Promise.all(llms.map((l) => l.close()));
  for (const k of PROVIDER_ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
}, 90_000);

/** The texts the user said in a model request, in order: Chat Completions `messages` or Responses `input`. */
function userTexts(body: Record<string, unknown>): string[] {
  const items = (body.messages ?? body.input) as { role?: string; content: unknown }[];
  return items
    .filter((m) => m.role === 'user')
    .flatMap((m) => (typeof m.content === 'string' ? [m.content] : (m.content as { type?: string; text?: string }[]).flatMap((p) => (p.text === undefined ? [] : [p.text]))));
}

/**
 * For a failed tool-use check: the tools each model request offered, what came back to the model
 * for its tool call, and the end of the agent's log (a flake in CI leaves nothing else to read).
 */
async function whatTheModelSaw(llm: FakeLlm, id: string): Promise<string> {
  const lines = llm.requests.map((r, i) => {
    const tools = ((r.body.tools ?? []) as { name?: string; function?: { name?: string }; tools?: { name?: string }[] }[]).flatMap((t) => [t.name ?? t.function?.name ?? '?', ...(t.tools ?? []).map((n) => `  ${n.name ?? '?'}`)]);
    const items = (r.body.messages ?? r.body.input ?? []) as { type?: string; role?: string; output?: unknown; content?: unknown }[];
    const outputs = items.filter((m) => m.type === 'function_call_output' || m.role === 'tool').map((m) => JSON.stringify(m.output ?? m.content).slice(0, 500));
    return `request ${i + 1}: tools [${tools.join(', ')}]; tool outputs ${JSON.stringify(outputs)}`;
  });
  const log = await readFile(path.join(server.deps.config.dataDir, 'workspaces', id, 'agent.log'), 'utf8').catch((e: Error) => `(no agent log: ${e.message})`);
  return `${lines.join('\n')}\nagent log (end):\n${log.slice(-6000)}`;
}

// Codex offers the platform's tools to the model as the Responses namespace `mcp__platform`, and adds
// a user turn of its own (the environment context), so the test looks for the two it sent.
// (claude-code has its own: packages/server/src/provisioning/process/claude-code.int.test.ts.)
describe.each([
  { template: 'openai-agents', tool: { name: 'delegate_task' } },
  { template: 'langgraph', tool: { name: 'delegate_task' } },
  { template: 'codex', tool: { name: 'delegate_task', namespace: 'mcp__platform' } },
])('$template on the process backend', ({ template, tool }) => {
  it('C037 the model delegates to the echo child through delegate_task, answers, the tool use is in the activity log, and a restart keeps the conversation', async () => {
    // A model server of this test's own; its answers are filled in once the worker's id is known.
    const turns: FakeTurn[] = [];
    const llm = await startFakeLlm({ turns });
    llms.push(llm);
    process.env.OPENAI_BASE_URL = `${llm.url}/v1`;
    const { parent, worker } = await team(template);
    const marker = `job-${randomUUID().slice(0, 8)}`;
    turns.push({ toolCalls: [{ ...tool, args: { workspace_id: worker, task: marker } }] }, { chunks: ['The worker said: ', `echo: ${marker}`] });
    const ctx = randomUUID();
    const first = `please have the worker do ${marker}`;
    expect(await c.sendViaProxy(parent, first, ctx)).toEqual({ state: 'completed', text: `The worker said: echo: ${marker}` });
    await expect
      .poll(async () => (await c.toolRows(parent, marker)).map((r) => `${String(r.method)}:${String(r.status)}`), { timeout: 15_000 })
      .toEqual(['delegate_task:ok'])
      .catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await whatTheModelSaw(llm, parent)}`, { cause: err });
      });

    await c.restart(parent, 90_000);
    turns.push({ chunks: ['still here'] });
    expect(await c.sendViaProxy(parent, 'do you remember?', ctx)).toEqual({ state: 'completed', text: 'still here' });
    const said = userTexts(llm.requests.at(-1)!.body).filter((t) => t === first || t === 'do you remember?');
    expect(said).toEqual([first, 'do you remember?']);
  }, 240_000);
});

describe('acp (templates/gemini-cli with a fake ACP agent) on the process backend', () => {
  it('C037 the agent lists its peers through the molecule-mcp server, the tool use is in the activity log, and a restart loads the session', async () => {
    const { parent, worker } = await team('acp-fake');
    const ctx = randomUUID();
    const peers = await c.sendViaProxy(parent, 'peers', ctx);
    expect(peers.state).toBe('completed');
    expect(peers.text).toContain(worker);
    await expect.poll(async () => (await c.toolRows(parent, 'list_peers')).some((r) => r.method === 'list_peers' && r.status === 'ok'), { timeout: 15_000 }).toBe(true);
    expect(await c.sendViaProxy(parent, 'hello', ctx)).toEqual({ state: 'completed', text: 'acp: hello (turn 2)' });

    await c.restart(parent, 90_000);
    expect(await c.sendViaProxy(parent, 'after restart', ctx)).toEqual({ state: 'completed', text: 'acp: after restart (turn 3)' });
  }, 240_000);

  it('a template naming an ACP command that does not exist fails the workspace with a safe message, well before its provision timeout', async () => {
    const id = await c.create(`acp-missing-${randomUUID().slice(0, 6)}`, 'acp-missing');
    created.push(id);
    await expect.poll(async () => (await get(id)).status, { timeout: 60_000, interval: 200 }).toBe(Status.Failed);
    // The agent logs the command it could not find (agent.log); the platform shows the exit, nothing internal.
    expect((await get(id)).last_sample_error).toBe('the agent process exited before it registered (exit code 1); see the platform log');
  }, 120_000);
});
