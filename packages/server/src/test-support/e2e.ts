import { mkdtemp } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { Status } from '@molecule/contracts';
import { loadConfig, type ConfigWarning } from '../config.js';
import { createLogger } from '../log.js';
import { healthSweep, RestartBackoff } from '../loops/sweeps.js';
import { startServer, type RunningServer } from '../main.js';

export const E2E_ADMIN_TOKEN = 'e2e-admin-token-0123456789';

/**
 * A template for end-to-end tests: one task slot; each message reports a `Work` tool use (an
 * agent_log row that tells a test the work ran), stays quiet for 4 s, then answers "done: <text>".
 */
export const SLOW_WORKER_TEMPLATE = `name: Slow worker
adapter: script
max_concurrent_tasks: 1
script:
  - steps:
      - tool: { name: Work, input: "{{input}}" }
      - delay_ms: 4000
      - reply: "done: {{input}}"
`;

/**
 * The platform as users run it (`startServer`: real listener, loops, backend) for end-to-end
 * tests: a free port, a fresh data dir, the admin token, plus `env`. Returns the warnings the
 * configuration produced so a test can insist there are none.
 */
export async function startE2eServer(env: Record<string, string | undefined>, dataDirPrefix = 'molecule-e2e-'): Promise<{ server: RunningServer; warnings: ConfigWarning[] }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), dataDirPrefix));
  const { config, warnings } = loadConfig({ PORT: '0', MOLECULE_DATA_DIR: dir, ADMIN_TOKEN: E2E_ADMIN_TOKEN, ...env });
  const server = await startServer(config, [], createLogger({ level: 'silent', pretty: false }));
  return { server, warnings };
}

type Reply = { result?: { status?: { message?: { parts?: { text?: string }[] } }; parts?: { text?: string }[] } };

/** What the end-to-end flows do over HTTP, as the admin, against `server()` (read when called). */
export function e2eClient(server: () => RunningServer) {
  const admin = { authorization: `Bearer ${E2E_ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const get = async (id: string) => (await fetch(`${server().url}/workspaces/${id}`, { headers: admin })).json() as Promise<Record<string, unknown>>;
  return {
    admin,
    get,
    /** Creates a workspace from `template` (under `parentId` when given); the answer's status must be 201. */
    async create(name: string, template: string, parentId?: string): Promise<string> {
      const created = await fetch(`${server().url}/workspaces`, { method: 'POST', headers: admin, body: JSON.stringify({ name, template, ...(parentId ? { parent_id: parentId } : {}) }) });
      expect(created.status).toBe(201);
      return ((await created.json()) as { id: string }).id;
    },
    /** Waits for `online`; a workspace that goes `failed` ends the wait at once, with its sample error. */
    async waitOnline(id: string, timeout: number): Promise<void> {
      const deadline = Date.now() + timeout;
      for (;;) {
        const w = await get(id);
        if (w.status === Status.Online) return;
        if (w.status === Status.Failed || Date.now() > deadline) {
          expect({ id, status: w.status, error: w.last_sample_error }).toEqual({ id, status: Status.Online, error: w.last_sample_error });
        }
        await sleep(100);
      }
    },
    /** Runs the health sweep until the workspace is no longer online (its instance was killed). */
    waitNoticedDead: (id: string, timeout: number) =>
      expect
        .poll(
          async () => {
            await healthSweep(server().deps, server().deps.db, new RestartBackoff());
            return (await get(id)).status;
          },
          { timeout, interval: 200 },
        )
        .not.toBe(Status.Online),
    /** `message/send` straight to an agent URL (in `contextId`'s conversation when given); the reply's first text part. */
    async sendDirect(url: string, text: string, contextId?: string): Promise<string | undefined> {
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), ...(contextId ? { contextId } : {}), parts: [{ kind: 'text', text }] } } }),
      });
      const reply = (await r.json()) as Reply;
      return reply.result?.status?.message?.parts?.[0]?.text ?? reply.result?.parts?.[0]?.text;
    },
    /**
     * `message/send` through the platform's A2A proxy as the admin (in `contextId`'s conversation):
     * the task's final state and the first text part of its status message.
     */
    async sendViaProxy(id: string, text: string, contextId: string): Promise<{ state?: string; text: string }> {
      const r = await fetch(`${server().url}/workspaces/${id}/a2a`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), contextId, parts: [{ kind: 'text', text }] } } }),
      });
      expect(r.status).toBe(200);
      const result = ((await r.json()) as { result?: { status?: { state?: string; message?: { parts?: { text?: string }[] } } } }).result;
      return { state: result?.status?.state, text: result?.status?.message?.parts?.[0]?.text ?? '' };
    },
    /** `POST /workspaces/:id/restart` as the admin, then waits until a new instance is online. */
    async restart(id: string, timeout: number): Promise<void> {
      const before = String((await get(id)).instance_id);
      const r = await fetch(`${server().url}/workspaces/${id}/restart`, { method: 'POST', headers: admin, body: '{}' });
      expect(r.status).toBeLessThan(300);
      await expect
        .poll(async () => {
          const w = await get(id);
          return w.status === Status.Online && String(w.instance_id) !== before;
        }, { timeout, interval: 200 })
        .toBe(true);
    },
    /** The workspace's agent_log activity rows whose JSON mentions `marker`. */
    async toolRows(id: string, marker: string): Promise<Record<string, unknown>[]> {
      const r = await fetch(`${server().url}/workspaces/${id}/activity?type=agent_log&limit=200`, { headers: admin });
      return ((await r.json()) as Record<string, unknown>[]).filter((row) => JSON.stringify(row).includes(marker));
    },
    /** DELETE as the admin; the HTTP status. */
    remove: async (id: string) => (await fetch(`${server().url}/workspaces/${id}`, { method: 'DELETE', headers: { authorization: admin.authorization } })).status,
  };
}

/**
 * JSON calls to a running platform over HTTP (as the admin unless other headers are given), and an
 * external workspace with its token: what the suites driving a real server over the network share.
 */
export function httpApi(server: () => RunningServer) {
  const admin = { authorization: `Bearer ${E2E_ADMIN_TOKEN}` };
  const api = async (method: string, url: string, body?: unknown, headers: Record<string, string> = admin) => {
    const r = await fetch(`${server().url}${url}`, { method, headers: { 'content-type': 'application/json', ...headers }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
  };
  const external = async (name: string) => {
    const r = await api('POST', '/workspaces', { name, runtime: 'external' });
    expect(r.status).toBe(201);
    return { id: r.body.id as string, token: (r.body.connection as { auth_token: string }).auth_token };
  };
  return { admin, api, external };
}
