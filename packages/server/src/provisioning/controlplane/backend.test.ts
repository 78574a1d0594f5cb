import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { freePort } from '../../test-support/net.js';
import { startFakeControlPlane, type FakeControlPlane } from '../../test-support/fake-control-plane.js';
import type { WorkspaceRow } from '../../workspaces/repo.js';
import { stopWorkspace } from '../pipeline.js';
import type { StartSpec } from '../port.js';
import { CONTROL_PLANE_STOP_RETRY, ControlPlaneBackend, ControlPlaneError, ControlPlaneNotConfiguredError } from './backend.js';

const TOKEN = 'cp-shared-secret-0123456789';

const row = (extra: Partial<WorkspaceRow> = {}): WorkspaceRow =>
  ({
    id: crypto.randomUUID(),
    name: 'cp-ws',
    runtime: 'molecule',
    tier: 2,
    model: 'openai:gpt-4o-mini',
    status: Status.Provisioning,
    instance_id: null,
    runtime_image_digest: null,
    ...extra,
  }) as WorkspaceRow;

const specFor = (ws: WorkspaceRow): StartSpec => ({
  workspace: ws,
  env: { WORKSPACE_ID: ws.id, PLATFORM_URL: 'http://platform.test:8080', MODEL: 'openai:gpt-4o-mini' },
  secretFiles: { '.auth_token': 'mol_ws_tok', '.platform_inbound_secret': 'mol_in_sec' },
  templateFiles: { 'config.yaml': 'name: x\nadapter: echo\n' },
  applyTemplate: true,
});

const signal = () => AbortSignal.timeout(10_000);

/** A logger whose lines the test can read. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _e, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    }),
  );
  return { log, lines };
}

describe('control-plane backend', () => {
  let cp: FakeControlPlane;
  let backend: ControlPlaneBackend;
  const callsFor = (id: string) => cp.requests.filter((r) => r.path.includes(id));

  beforeAll(async () => {
    cp = await startFakeControlPlane({ token: TOKEN });
    backend = new ControlPlaneBackend({ baseUrl: `${cp.url}/`, token: TOKEN, orgId: 'org-1' });
  });
  afterAll(async () => cp.close());

  /** A workspace with a live instance on the fake control plane. */
  const provisioned = async (extra: Partial<WorkspaceRow> = {}) => {
    const ws = row(extra);
    const { instanceId } = await backend.start(specFor(ws), signal());
    return { ...ws, instance_id: instanceId };
  };

  describe('C105 without a control plane or an instance', () => {
    const unconfigured = new ControlPlaneBackend({ baseUrl: undefined });

    it('C105 an unconfigured backend fails start, and stop or isRunning of a real instance, with the typed error', async () => {
      await expect(unconfigured.start(specFor(row()), signal())).rejects.toBeInstanceOf(ControlPlaneNotConfiguredError);
      await expect(unconfigured.stop(row({ instance_id: 'i-0abc' }), signal())).rejects.toMatchObject({ code: 'ERR_NO_BACKEND' });
      const state = await unconfigured.isRunning(row({ instance_id: 'i-0abc' }), signal());
      expect(state.state).toBe('unknown');
      expect(state.state === 'unknown' && state.error).toBeInstanceOf(ControlPlaneNotConfiguredError);
    });

    it('C105 with no instance id, stop is a no-op success and isRunning says stopped, configured or not, without any call', async () => {
      const before = cp.requests.length;
      for (const b of [unconfigured, backend]) {
        for (const instance_id of [null, '']) {
          await expect(b.stop(row({ instance_id }), signal())).resolves.toBeUndefined();
          expect(await b.isRunning(row({ instance_id }), signal())).toEqual({ state: 'stopped' });
        }
      }
      expect(cp.requests.length).toBe(before);
    });
  });

  describe('start', () => {
    it('sends the workspace, its environment and files with the bearer token, and returns the instance id', async () => {
      const ws = row({ runtime_image_digest: 'sha256:abc' });
      const { instanceId } = await backend.start(specFor(ws), signal());
      expect(instanceId).toBe(cp.instances.get(ws.id)!.instanceId);
      const req = cp.requests.find((r) => r.route === 'provision' && (r.body as { workspace_id?: string }).workspace_id === ws.id);
      expect(req).toMatchObject({
        method: 'POST',
        path: '/cp/workspaces/provision',
        authorization: `Bearer ${TOKEN}`,
        body: {
          workspace_id: ws.id,
          org_id: 'org-1',
          name: 'cp-ws',
          runtime: 'molecule',
          tier: 2,
          model: 'openai:gpt-4o-mini',
          platform_url: 'http://platform.test:8080',
          image_digest: 'sha256:abc',
          env: specFor(ws).env,
          secret_files: specFor(ws).secretFiles,
          template_files: specFor(ws).templateFiles,
          apply_template: true,
        },
      });
    });

    it('a control plane that wants a token refuses a backend without it, and the error carries the status', async () => {
      const anonymous = new ControlPlaneBackend({ baseUrl: cp.url });
      await expect(anonymous.start(specFor(row()), signal())).rejects.toMatchObject({ name: 'ControlPlaneError', status: 401 });
    });

    it.each([
      ['a 500', { status: 500, body: 'internal error: arn:aws:iam::1234 AccessDenied' }, /answered HTTP 500: internal error: arn:aws/],
      ['a non-JSON 201', { status: 201, body: '<html>gateway</html>', contentType: 'text/html' }, /not JSON/],
      ['a 201 without instance_id', { status: 201, body: '{"id":"i-1"}' }, /instance_id/],
      ['a 201 with an empty instance_id', { status: 201, body: '{"instance_id":"  "}' }, /instance_id/],
      ['a 201 whose url is not http(s)', { status: 201, body: '{"instance_id":"i-1","url":"file:///etc/passwd"}' }, /not an http\(s\) URL/],
      ['an oversize 201', { status: 201, body: `{"instance_id":"i-1","pad":"${'x'.repeat(70 * 1024)}"}` }, /larger than 65536 bytes/],
    ])('%s is a ControlPlaneError naming the workspace', async (_name, fault, message) => {
      const ws = row();
      cp.fail('provision', fault);
      const err = await backend.start(specFor(ws), signal()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ControlPlaneError);
      expect((err as Error).message).toContain(ws.id);
      expect((err as Error).message).toMatch(message);
    });

    it('a control plane slower than the signal is abandoned when the signal fires', async () => {
      cp.fail('provision', { delayMs: 5000 });
      await expect(backend.start(specFor(row()), AbortSignal.timeout(100))).rejects.toMatchObject({ name: 'TimeoutError' });
    });

    it('an unreachable control plane is a ControlPlaneError', async () => {
      const nowhere = new ControlPlaneBackend({ baseUrl: `http://127.0.0.1:${await freePort()}` });
      await expect(nowhere.start(specFor(row()), signal())).rejects.toBeInstanceOf(ControlPlaneError);
    });
  });

  describe('C106 stop', () => {
    it.each([200, 202, 204])('C106 HTTP %i is success', async (status) => {
      const ws = await provisioned();
      cp.fail('terminate', { status, body: status === 204 ? '' : '{}' });
      await expect(backend.stop(ws, signal())).resolves.toBeUndefined();
    });

    it('C106 C157 terminates the instance named by instance_id; a second stop (404, already gone) also succeeds', async () => {
      const ws = await provisioned();
      await backend.stop(ws, signal());
      expect(cp.instances.get(ws.id)!.state).toBe('terminated');
      const del = callsFor(ws.id).find((r) => r.route === 'terminate')!;
      expect(del).toMatchObject({ method: 'DELETE', path: `/cp/workspaces/${ws.id}?instance_id=${ws.instance_id}`, authorization: `Bearer ${TOKEN}` });
      await expect(backend.stop(ws, signal())).resolves.toBeUndefined();
      expect(callsFor(ws.id).filter((r) => r.route === 'terminate')).toHaveLength(2);
    });

    it.each([500, 403, 409])('C106 HTTP %i is an error naming the workspace, the status and at most 512 bytes of the body', async (status) => {
      const ws = await provisioned();
      const body = `${'e'.repeat(512)}TAIL-NOT-SHOWN`;
      cp.fail('terminate', { status, body, contentType: 'text/plain' });
      const err = (await backend.stop(ws, signal()).catch((e: unknown) => e)) as ControlPlaneError;
      expect(err).toBeInstanceOf(ControlPlaneError);
      expect(err.status).toBe(status);
      expect(err.message).toContain(ws.id);
      expect(err.message).toContain(`HTTP ${status}`);
      expect(err.message).toContain('e'.repeat(512));
      expect(err.message).not.toContain('e'.repeat(513));
      expect(err.message).not.toContain('TAIL');
      expect(cp.instances.get(ws.id)!.state).toBe('running');
    });
  });

  describe('C107 isRunning', () => {
    it('C107 reads the state through GET /cp/workspaces/:id/status', async () => {
      const ws = await provisioned();
      expect(await backend.isRunning(ws, signal())).toEqual({ state: 'running' });
      expect(callsFor(ws.id).at(-1)).toMatchObject({ method: 'GET', path: `/cp/workspaces/${ws.id}/status?instance_id=${ws.instance_id}`, authorization: `Bearer ${TOKEN}` });
      await cp.kill(ws.id);
      expect(await backend.isRunning(ws, signal())).toEqual({ state: 'stopped' });
      await backend.stop(ws, signal());
      expect(await backend.isRunning(ws, signal())).toEqual({ state: 'stopped' });
    });

    it.each([
      ['pending', 'running'],
      ['RUNNING', 'running'],
      ['stopping', 'stopped'],
      ['shutting-down', 'stopped'],
      ['not_found', 'stopped'],
      ['rebooting', 'unknown'],
    ])('C107 state %s maps to %s', async (state, expected) => {
      const ws = await provisioned();
      cp.fail('status', { status: 200, body: JSON.stringify({ state }) });
      expect((await backend.isRunning(ws, signal())).state).toBe(expected);
    });

    it.each([
      ['a 500', { status: 500, body: 'boom' }],
      ['a 503', { status: 503, body: '' }],
      ['a 404 (a misrouted CP_URL must not make workspaces look dead)', { status: 404, body: '{"error":"not found"}' }],
      ['a non-JSON 200', { status: 200, body: 'ok' }],
      ['a 200 without state', { status: 200, body: '{"status":"running"}' }],
    ])('C107 %s is unknown', async (_name, fault) => {
      const ws = await provisioned();
      cp.fail('status', fault);
      const state = await backend.isRunning(ws, signal());
      expect(state.state).toBe('unknown');
    });

    it('C107 network errors and timeouts are unknown, never stopped', async () => {
      const ws = await provisioned();
      const nowhere = new ControlPlaneBackend({ baseUrl: `http://127.0.0.1:${await freePort()}` });
      expect((await nowhere.isRunning(ws, signal())).state).toBe('unknown');
      cp.fail('status', { delayMs: 5000 });
      expect((await backend.isRunning(ws, AbortSignal.timeout(100))).state).toBe('unknown');
    });
  });

  describe('C146 the stop before a reprovision', () => {
    const retrying = (waits: number[], backoff = 1) =>
      new ControlPlaneBackend({ baseUrl: cp.url, token: TOKEN, stopRetry: { attempts: 3, backoffMs: (n) => (waits.push(n), backoff) } });
    const depsWith = (prov: ControlPlaneBackend) => {
      const { log, lines } = capturingLogger();
      return { deps: { provisioner: prov, log }, lines };
    };
    const terminates = (id: string) => callsFor(id).filter((r) => r.route === 'terminate').length;
    const leakLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l.event === 'LEAK-SUSPECT');

    it('C146 the default policy is 3 attempts, waiting 1 s then 2 s (doubling: 1, 2, 4 s)', () => {
      expect(CONTROL_PLANE_STOP_RETRY.attempts).toBe(3);
      expect([1, 2, 3].map((n) => CONTROL_PLANE_STOP_RETRY.backoffMs(n))).toEqual([1000, 2000, 4000]);
      expect(new ControlPlaneBackend({ baseUrl: cp.url }).stopRetry).toBe(CONTROL_PLANE_STOP_RETRY);
    });

    it('C146 a first-try success makes one call and waits for nothing', async () => {
      const waits: number[] = [];
      const { deps, lines } = depsWith(retrying(waits));
      const ws = await provisioned();
      expect(await stopWorkspace(deps, ws, signal(), { reprovision: true, removeVolumes: false })).toEqual({ id: ws.id, ok: true });
      expect(terminates(ws.id)).toBe(1);
      expect(waits).toEqual([]);
      expect(leakLines(lines)).toEqual([]);
    });

    it('C146 transient failures are retried with the backoff until the stop succeeds', async () => {
      const waits: number[] = [];
      const { deps, lines } = depsWith(retrying(waits));
      const ws = await provisioned();
      cp.fail('terminate', { status: 502, body: 'bad gateway' }, 2);
      expect(await stopWorkspace(deps, ws, signal(), { reprovision: true, removeVolumes: false })).toEqual({ id: ws.id, ok: true });
      expect(terminates(ws.id)).toBe(3);
      expect(waits).toEqual([1, 2]);
      expect(cp.instances.get(ws.id)!.state).toBe('terminated');
      expect(leakLines(lines)).toEqual([]);
    });

    it('C146 after 3 failed attempts a structured LEAK-SUSPECT line is logged and the outcome says so', async () => {
      const waits: number[] = [];
      const { deps, lines } = depsWith(retrying(waits));
      const ws = await provisioned();
      cp.fail('terminate', { status: 500, body: 'aws said no' }, 3);
      expect(await stopWorkspace(deps, ws, signal(), { reprovision: true, removeVolumes: false })).toEqual({ id: ws.id, ok: false });
      expect(terminates(ws.id)).toBe(3);
      expect(waits).toEqual([1, 2]);
      const leak = leakLines(lines);
      expect(leak).toHaveLength(1);
      expect(leak[0]).toMatchObject({ workspace_id: ws.id, instance_id: ws.instance_id, backend: 'controlplane', attempts: 3 });
      expect(String(leak[0]!.msg)).toMatch(/^LEAK-SUSPECT/);
    });

    it('C146 a cancelled signal ends the retries at once, without waiting, with its own line and no LEAK-SUSPECT', async () => {
      // A minute's backoff: the test would time out if the wait were not cut short.
      const waits: number[] = [];
      const { deps, lines } = depsWith(retrying(waits, 60_000));
      const ws = await provisioned();
      cp.fail('terminate', { status: 500, body: 'aws said no' }, 3);
      const ctl = new AbortController();
      const out = stopWorkspace(deps, ws, ctl.signal, { reprovision: true, removeVolumes: false });
      await expect.poll(() => waits.length).toBe(1);
      ctl.abort(new Error('shutting down'));
      expect(await out).toEqual({ id: ws.id, ok: false });
      expect(terminates(ws.id)).toBe(1);
      expect(leakLines(lines)).toEqual([]);
      expect(lines.some((l) => /stop cancelled/.test(String(l.msg)))).toBe(true);

      // Already cancelled: no call, no wait.
      const before = terminates(ws.id);
      const waitsBefore = waits.length;
      const aborted = AbortSignal.abort(new Error('gone'));
      expect(await stopWorkspace(deps, ws, aborted, { reprovision: true })).toEqual({ id: ws.id, ok: false });
      expect(terminates(ws.id)).toBe(before);
      expect(waits.length).toBe(waitsBefore);
      expect(leakLines(lines)).toEqual([]);
    });

    it('C146 a stop that is not followed by a reprovision (delete) is tried once and is no leak suspect', async () => {
      const waits: number[] = [];
      const { deps, lines } = depsWith(retrying(waits));
      const ws = await provisioned();
      cp.fail('terminate', { status: 500, body: 'aws said no' });
      expect(await stopWorkspace(deps, ws, signal())).toEqual({ id: ws.id, ok: false });
      expect(terminates(ws.id)).toBe(1);
      expect(waits).toEqual([]);
      expect(leakLines(lines)).toEqual([]);
    });
  });
});
