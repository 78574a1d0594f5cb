import { expect } from 'vitest';
import { RUNTIMES, Status } from '@molecule/contracts';
import type { Provisioner, RunningState, StartSpec } from '../provisioning/port.js';
import { getWorkspace, setStatus } from '../workspaces/repo.js';
import { createWs } from './api.js';
import { startTestApp, type TestApp, type TestAppOptions } from './harness.js';

/** A test backend: records calls, and fails or hangs on demand per workspace name. */
export function fakeProvisioner() {
  const calls = { start: [] as string[], stop: [] as string[], removeVolumes: [] as string[] };
  const specs: StartSpec[] = [];
  const failStart = new Map<string, unknown>();
  const failStop = new Set<string>();
  const hangStop = new Set<string>();
  const gates = new Map<string, Promise<void>>();
  /** isRunning answers by workspace name; `running` unless set. */
  const states = new Map<string, RunningState>();
  /** What listManaged reports (workspace ids or arbitrary names). */
  const managed: string[] = [];
  const prov: Provisioner = {
    backend: 'docker',
    async start(spec) {
      const ws = spec.workspace;
      calls.start.push(ws.name);
      specs.push(spec);
      if (failStart.has(ws.name)) throw failStart.get(ws.name);
      return { instanceId: `inst-${ws.id}` };
    },
    async isRunning(ws) {
      return states.get(ws.name) ?? { state: 'running' };
    },
    async listManaged() {
      return [...managed];
    },
    async stop(ws, signal) {
      calls.stop.push(ws.name);
      const gate = gates.get(ws.name);
      if (gate) await gate;
      if (hangStop.has(ws.name)) {
        await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
      }
      if (failStop.has(ws.name)) throw new Error('instance i-0abc terminate failed: AccessDenied for role arn:aws:iam::1234');
    },
    async removeVolumes(ws) {
      calls.removeVolumes.push(ws.name);
    },
  };
  return { prov, calls, specs, failStart, failStop, hangStop, gates, states, managed };
}

export type FakeBackend = ReturnType<typeof fakeProvisioner>;

/** An app whose configured backend is the fake one (see `fakeProvisioner`). */
export async function startWithFakeBackend(opts: Omit<TestAppOptions, 'tweak' | 'config'> & { config?: TestAppOptions['config'] } = {}) {
  const fake = fakeProvisioner();
  const t = await startTestApp({
    ...opts,
    // Like a Docker platform whose operator mapped every runtime to an image, so any runtime can be created.
    config: { provisioner: 'docker', runtimeImages: Object.fromEntries(RUNTIMES.map((r) => [r, `molecule/test-${r}:1`])), ...opts.config },
    tweak: (deps) => {
      deps.provisioner = fake.prov;
    },
  });
  return { t, fake };
}

/** A workspace the fake backend has started, then marked online as if its agent had registered. */
export async function onlineWorkspace(t: TestApp, name: string, extra: Record<string, unknown> = {}): Promise<{ id: string }> {
  const ws = await createWs(t, { name, ...extra });
  await expect.poll(async () => (await getWorkspace(t.db, ws.id))!.instance_id).not.toBeNull();
  await setStatus(t.db, ws.id, Status.Online);
  return ws;
}
