import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { createWs, eventsOf, json } from '../test-support/api.js';
import { startWithFakeBackend, type FakeBackend } from '../test-support/fake-provisioner.js';
import type { TestApp } from '../test-support/harness.js';
import { getWorkspace } from '../workspaces/repo.js';

describe('what a start needs before it begins', () => {
  let t: TestApp;
  let fake: FakeBackend;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-required-env-'));
    await mkdir(path.join(dir, 'needs-key'));
    await writeFile(path.join(dir, 'needs-key', 'config.yaml'), 'name: Needs a key\nruntime: molecule\nruntime_config:\n  required_env: [VENDOR_API_KEY, VENDOR_REGION]\n');
    await mkdir(path.join(dir, 'needs-openai'));
    await writeFile(path.join(dir, 'needs-openai', 'config.yaml'), 'name: Needs OpenAI\nruntime: molecule\nruntime_config:\n  required_env: [OPENAI_API_KEY]\n');
    ({ t, fake } = await startWithFakeBackend({ config: { templatesDir: dir } }));
  });
  afterAll(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });
  const put = (url: string, payload: object) => t.app.inject({ method: 'PUT', url, headers: { ...t.admin, ...json }, payload });

  it('C119 a template\'s required_env missing from the secrets fails the start at once, naming the keys in the message and the failure event', async () => {
    expect((await put('/settings/secrets', { key: 'VENDOR_REGION', value: 'eu' })).statusCode).toBe(200);
    const ws = await createWs(t, { name: 'needs-key', template: 'needs-key' });
    await expect.poll(async () => (await getWorkspace(t.db, ws.id))!.status).toBe(Status.Failed);
    expect(fake.calls.start).not.toContain('needs-key');
    expect((await getWorkspace(t.db, ws.id))!.last_sample_error).toBe(
      'missing required environment variables: VENDOR_API_KEY. Set them as secrets (org-wide, or on the workspace or an ancestor) and restart it.',
    );
    const failed = (await eventsOf(t, ws.id)).find((e) => e.event_type === 'WORKSPACE_PROVISION_FAILED')!;
    expect(failed.payload).toEqual({ missing: ['VENDOR_API_KEY'], error: expect.stringContaining('VENDOR_API_KEY') });
    // Given the key (here on the workspace itself), a restart starts it.
    expect((await put(`/workspaces/${ws.id}/secrets`, { key: 'VENDOR_API_KEY', value: 'k-1' })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/restart`, headers: t.admin })).statusCode).toBeLessThan(300);
    await expect.poll(() => fake.calls.start.includes('needs-key')).toBe(true);
    expect(fake.specs.find((s) => s.workspace.id === ws.id)!.env).toMatchObject({ VENDOR_API_KEY: 'k-1', VENDOR_REGION: 'eu' });
  });

  it('C119 a required LLM provider key the server itself has counts on a backend that hands it on (npm start with the key exported), not on one that does not; a secret of the same name wins', async () => {
    const saved = process.env.OPENAI_API_KEY;
    process.env.OPENAI_API_KEY = 'sk-from-server-env';
    try {
      const restart = async (id: string) => expect((await t.app.inject({ method: 'POST', url: `/workspaces/${id}/restart`, headers: t.admin })).statusCode).toBeLessThan(300);
      const started = (id: string) => fake.specs.filter((s) => s.workspace.id === id).at(-1)?.env;
      // A backend that does not pass the server's provider settings on (a remote control plane).
      const ws = await createWs(t, { name: 'needs-openai', template: 'needs-openai' });
      await expect.poll(async () => (await getWorkspace(t.db, ws.id))!.last_sample_error).toMatch(/^missing required environment variables: OPENAI_API_KEY\./);
      expect(started(ws.id)).toBeUndefined();
      // One that does (process, Docker): the key is there, in the agent's environment.
      Object.assign(fake.prov, { passesProviderEnv: true });
      await restart(ws.id);
      await expect.poll(() => started(ws.id)?.OPENAI_API_KEY).toBe('sk-from-server-env');
      // The workspace's own secret wins over the server's.
      expect((await put(`/workspaces/${ws.id}/secrets`, { key: 'OPENAI_API_KEY', value: 'sk-own' })).statusCode).toBe(200);
      await restart(ws.id);
      await expect.poll(() => started(ws.id)?.OPENAI_API_KEY).toBe('sk-own');
    } finally {
      Object.assign(fake.prov, { passesProviderEnv: undefined });
      if (saved === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = saved;
    }
  });

  it('C118 a global secret in an unknown envelope version fails the start early, with the canned message', async () => {
    expect((await put('/settings/secrets', { key: 'FUTURE_FORMAT', value: 'x' })).statusCode).toBe(200);
    await t.db.query("UPDATE global_secrets SET value = 'v9.whatever.comes.next' WHERE key = 'FUTURE_FORMAT'");
    const ws = await createWs(t, { name: 'future-format' });
    await expect.poll(async () => (await getWorkspace(t.db, ws.id))!.status).toBe(Status.Failed);
    expect(fake.calls.start).not.toContain('future-format');
    expect((await getWorkspace(t.db, ws.id))!.last_sample_error).toMatch(/a secret could not be decrypted/);
    await t.db.query("DELETE FROM global_secrets WHERE key = 'FUTURE_FORMAT'");
  });
});
