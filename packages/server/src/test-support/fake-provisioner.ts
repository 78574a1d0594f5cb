import type { Provisioner, RunningState, StartSpec } from '../provisioning/port.js';

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
