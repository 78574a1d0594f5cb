import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { validateWorkspaceToken } from '../auth/repo.js';
import { loadConfig, UNLIMITED_PROVISIONS } from '../config.js';
import type { Db } from '../db/port.js';
import { createWs, eventsOf } from '../test-support/api.js';
import { fakeProvisioner } from '../test-support/fake-provisioner.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';
import { getWorkspace } from '../workspaces/repo.js';
import { PROVISION_FAILED } from './pipeline.js';
import pLimit from 'p-limit';

describe('provisioning pipeline', () => {
  let t: TestApp;
  let fake: ReturnType<typeof fakeProvisioner>;
  const logLines: Record<string, unknown>[] = [];
  let failTokenInsert = false;

  beforeAll(async () => {
    fake = fakeProvisioner();
    t = await startTestApp({
      config: { provisioner: 'docker', templatesDir: undefined },
      tweak: (deps) => {
        deps.provisioner = fake.prov;
        deps.platformUrl = () => 'http://platform.test:8080';
        deps.log = pino(
          { level: 'info' },
          new Writable({
            write(chunk, _e, cb) {
              logLines.push(JSON.parse(String(chunk)));
              cb();
            },
          }),
        );
        const real = deps.db;
        const wrapped: Db = {
          ...real,
          tx: (fn) =>
            real.tx((q) =>
              fn({
                ...q,
                query: (sql, params) =>
                  failTokenInsert && sql.includes('INSERT INTO workspace_auth_tokens')
                    ? Promise.reject(new Error('duplicate key value violates unique constraint "workspace_auth_tokens_token_hash_key"'))
                    : q.query(sql, params),
              }),
            ),
        };
        deps.db = wrapped;
      },
    });
  });
  afterAll(async () => t.close());

  const started = (name: string) => expect.poll(() => fake.specs.find((s) => s.workspace.name === name)).toBeDefined();
  const specOf = (name: string) => fake.specs.find((s) => s.workspace.name === name)!;
  const settled = async (id: string) => {
    await expect.poll(async () => (await getWorkspace(t.db, id))!.instance_id ?? (await getWorkspace(t.db, id))!.status).not.toBe(Status.Provisioning);
    return (await getWorkspace(t.db, id))!;
  };

  it('C112 C113 C114 every start gets a fresh token (older ones revoked) and an inbound secret stored on the row', async () => {
    const ws = await createWs(t, { name: 'p-secrets' });
    await started('p-secrets');
    const first = specOf('p-secrets');
    const token = first.secretFiles['.auth_token']!;
    expect(await validateWorkspaceToken(t.db, token)).toMatchObject({ workspaceId: ws.id });
    const row = await settled(ws.id);
    expect(row.platform_inbound_secret).toBe(first.secretFiles['.platform_inbound_secret']);
    expect(row.instance_id).toBe(`inst-${ws.id}`);

    // A re-provision rotates both and revokes the old token.
    const { runPipeline } = await import('./pipeline.js');
    await runPipeline(t.deps, fake.prov, row);
    const second = fake.specs.filter((s) => s.workspace.name === 'p-secrets').at(-1)!;
    expect(second.secretFiles['.auth_token']).not.toBe(token);
    expect(await validateWorkspaceToken(t.db, token)).toBeNull();
    expect(await validateWorkspaceToken(t.db, second.secretFiles['.auth_token']!)).toMatchObject({ workspaceId: ws.id });
    expect((await getWorkspace(t.db, ws.id))!.platform_inbound_secret).toBe(second.secretFiles['.platform_inbound_secret']);
  });

  it('C115 PARENT_ID and MODEL are set only when the workspace has them', async () => {
    const parent = await createWs(t, { name: 'p-parent', model: 'openai/gpt-4o' });
    await createWs(t, { name: 'p-child', parent_id: parent.id });
    await started('p-parent');
    await started('p-child');
    // The platform's variables, plus the model choice kept as secrets (C126).
    expect(specOf('p-parent').env).toEqual({
      WORKSPACE_ID: parent.id,
      PLATFORM_URL: 'http://platform.test:8080',
      MODEL: 'openai/gpt-4o',
      MOLECULE_MAX_CONCURRENT_TASKS: '1',
      MOLECULE_RUNTIME: 'molecule',
      MODEL_PROVIDER: 'openai/gpt-4o',
      LLM_PROVIDER: 'openrouter',
    });
    expect(specOf('p-child').env).toMatchObject({ PARENT_ID: parent.id });
    expect(specOf('p-child').env).not.toHaveProperty('MODEL');
    expect(specOf('p-parent').env).not.toHaveProperty('PARENT_ID');
  });

  it('without a template the agent gets a minimal echo config', async () => {
    await createWs(t, { name: 'p-plain' });
    await started('p-plain');
    expect(specOf('p-plain').templateFiles['config.yaml']).toMatch(/adapter: echo/);
  });

  it('an unknown template is a 400 before anything is created', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/workspaces', headers: { ...t.admin, 'content-type': 'application/json' }, payload: { name: 'p-tpl', template: 'no-such-template' } });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatch(/unknown template/);
  });

  it('C116 C117 a backend failure marks the workspace failed with a canned message; no internal text reaches the event', async () => {
    fake.failStart.set('p-fails', new Error('dial unix /var/run/docker.sock: connect: permission denied; key SECRET_API_KEY version=99'));
    const ws = await createWs(t, { name: 'p-fails' });
    await expect.poll(async () => (await getWorkspace(t.db, ws.id))!.status).toBe(Status.Failed);
    const row = (await getWorkspace(t.db, ws.id))!;
    expect(row.last_sample_error).toBe(PROVISION_FAILED.start);
    const failed = (await eventsOf(t, ws.id)).find((e) => e.event_type === 'WORKSPACE_PROVISION_FAILED')!;
    expect(failed.payload).toEqual({ error: PROVISION_FAILED.start });
    expect(JSON.stringify(failed)).not.toMatch(/docker\.sock|SECRET_API_KEY|version=99/);
  });

  it('C121 an unexpected error anywhere in the pipeline still ends in failed, never in provisioning limbo', async () => {
    failTokenInsert = true;
    try {
      const ws = await createWs(t, { name: 'p-crash' });
      await expect.poll(async () => (await getWorkspace(t.db, ws.id))!.status).toBe(Status.Failed);
      expect((await getWorkspace(t.db, ws.id))!.last_sample_error).toBe(PROVISION_FAILED.crashed);
      expect(JSON.stringify(await eventsOf(t, ws.id))).not.toMatch(/duplicate key|workspace_auth_tokens/);
    } finally {
      failTokenInsert = false;
    }
  });

  it('C120 the pipeline logs an entry line naming the workspace before anything else', async () => {
    const ws = await createWs(t, { name: 'p-logged' });
    await started('p-logged');
    const entry = logLines.findIndex((l) => l.workspace_id === ws.id && l.msg === 'provisioning started');
    expect(entry).toBeGreaterThanOrEqual(0);
    expect(logLines.findIndex((l) => l.workspace_id === ws.id)).toBe(entry);
  });

  it('C122 seven concurrent failing provisions each reach the backend and each records its own failure', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `p-burst-${i}`);
    for (const n of names) fake.failStart.set(n, new Error('boom'));
    const created = await Promise.all(names.map((name) => createWs(t, { name })));
    await expect.poll(async () => {
      const rows = await Promise.all(created.map((w) => getWorkspace(t.db, w.id)));
      return rows.every((r) => r!.status === Status.Failed);
    }).toBe(true);
    for (const n of names) expect(fake.calls.start).toContain(n);
    for (const w of created) {
      expect((await eventsOf(t, w.id)).filter((e) => e.event_type === 'WORKSPACE_PROVISION_FAILED')).toHaveLength(1);
    }
  });
});

describe('provision concurrency', () => {
  it.each([
    [undefined, 3, false],
    ['0', UNLIMITED_PROVISIONS, false],
    ['5', 5, false],
    [' 7 ', 7, false],
    ['-2', 3, true],
    ['lots', 3, true],
  ])('C123 MOLECULE_PROVISION_CONCURRENCY=%s resolves to %s (warning: %s)', (value, expected, warns) => {
    const { config, warnings } = loadConfig(value === undefined ? {} : { MOLECULE_PROVISION_CONCURRENCY: value });
    expect(config.provisionConcurrency).toBe(expected);
    expect(warnings.some((w) => w.variable === 'MOLECULE_PROVISION_CONCURRENCY')).toBe(warns);
  });

  it('the provision slots (p-limit) never let more than their limit run at once, and run every job', async () => {
    const sem = pLimit(2);
    let running = 0;
    let peak = 0;
    const done = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        sem(async () => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((r) => setTimeout(r, 5)); // simulated work, not a wait for state
          running--;
          return i;
        }),
      ),
    );
    expect(done).toEqual([0, 1, 2, 3, 4, 5]);
    expect(peak).toBe(2);
    expect(sem.activeCount).toBe(0);
  });
});
