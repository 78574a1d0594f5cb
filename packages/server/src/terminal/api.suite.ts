import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { Status, TERMINAL_MAX_FRAME_BYTES } from '@molecule/contracts';
import { DockerTerminal } from '../provisioning/docker/terminal.js';
import { ProcessTerminal } from '../provisioning/process/terminal.js';
import type { WorkspaceTerminal } from '../provisioning/terminal.js';
import { bearer, createExternal, createWs } from '../test-support/api.js';
import { fakeProvisioner, onlineWorkspace, type FakeBackend } from '../test-support/fake-provisioner.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';
import { connect, openTerminal as open, terminalRefusal, terminalRoundTrip, type TerminalClient } from '../test-support/terminal.js';
import { getWorkspace, setStatus } from '../workspaces/repo.js';

/**
 * The terminal API on a backend whose terminal is the process backend's real pty (the fake backend
 * only says whether an agent runs), so every session here is a real shell. On PGlite (api.test.ts)
 * and PostgreSQL (api.int.test.ts).
 */
export function terminalApiSuite(kind: DbKind): void {
  describe(`terminal API on ${kind}`, () => {
    let t: TestApp;
    let fake: FakeBackend;
    let base: string;
    let dataDir: string;
    /** Shells opened by the backend since the suite began: a refusal must not open one. */
    let opened = 0;
    const dirOf = (id: string) => path.join(dataDir, 'workspaces', id);
    const counted = (real: WorkspaceTerminal): WorkspaceTerminal => ({
      open: async (...args) => {
        opened++;
        return real.open(...args);
      },
      diagnose: real.diagnose.bind(real),
    });
    /** A workspace the fake backend runs, with the working dir the process backend would have made. */
    const running = async (name: string, extra: Record<string, unknown> = {}) => {
      const ws = await onlineWorkspace(t, name, extra);
      await mkdir(path.join(dirOf(ws.id), 'workspace'), { recursive: true });
      return ws;
    };
    /** Every terminal a test opened, closed after it (a failed test must not hold its credential's slot). */
    const clients: TerminalClient[] = [];
    const openTerminal = async (...args: Parameters<typeof open>) => {
      const c = await open(...args);
      clients.push(c);
      return c;
    };
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((c) => c.close()));
    });
    const listen = async (app: TestApp) => app.app.listen({ port: 0, host: '127.0.0.1' });

    beforeAll(async () => {
      dataDir = await mkdtemp(path.join(tmpdir(), 'terminal-api-'));
      fake = fakeProvisioner();
      t = await startTestApp({ kind, config: { provisioner: 'docker' }, tweak: (deps) => void (deps.provisioner = { ...fake.prov, terminal: counted(new ProcessTerminal(dirOf)) }) });
      base = await listen(t);
    });
    afterAll(async () => {
      await t.close();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('opens a real shell in the workspace dir: echo hi, Ctrl-C interrupts sleep, a resize reaches stty, exit sends the exit frame and closes 1000', async () => {
      const ws = await running('term-basic');
      const term = await openTerminal(base, ws.id, t.admin, '?cols=100&rows=30');
      term.type('pwd; stty size\r');
      await term.waitFor(`${path.join(dirOf(ws.id), 'workspace')}\r\n30 100\r\n`);
      await terminalRoundTrip(term, { stty: true });
    });

    it("keeps the server's environment out of the shell: no admin token, no database URL", async () => {
      const ws = await running('term-env');
      const term = await openTerminal(base, ws.id, t.admin);
      term.type('env; echo env-"done"\r');
      await term.waitFor(/[\r\n]env-done\r\n/);
      expect(term.output()).toContain(`WORKSPACE_ID=${ws.id}`);
      expect(term.output()).not.toContain(t.adminToken);
      expect(term.output()).not.toMatch(/ADMIN_TOKEN|DATABASE_URL|SECRETS_ENCRYPTION_KEY/);
      await term.close();
    });

    it('refuses every bad request before the upgrade, with a clear status, and opens no shell', async () => {
      const ws = await running('term-refusals');
      const other = await running('term-other');
      const otherToken = (await t.app.inject({ method: 'POST', url: `/workspaces/${other.id}/tokens`, headers: t.admin })).json().auth_token as string;
      const removed = await running('term-removed');
      expect((await t.app.inject({ method: 'DELETE', url: `/workspaces/${removed.id}?confirm=true`, headers: t.admin })).statusCode).toBe(200);
      await expect.poll(async () => (await getWorkspace(t.db, removed.id))!.status).toBe(Status.Removed);
      const ext = await createExternal(t);
      const stopped = await running('term-stopped');
      fake.states.set('term-stopped', { state: 'stopped' });
      const unknown = await running('term-unknown');
      fake.states.set('term-unknown', { state: 'unknown', error: new Error('engine timeout') });
      const before = opened;

      const cases: [string, string, Record<string, string>, number, RegExp, string?][] = [
        ['bad id', 'not-a-uuid', t.admin, 400, /invalid workspace ID/],
        ['unknown id', '00000000-0000-4000-8000-000000000000', t.admin, 404, /workspace not found/],
        ['removed', removed.id, t.admin, 410, /workspace removed/],
        ['no credential', ws.id, {}, 401, /workspace auth required/],
        ['bad bearer', ws.id, bearer('not-a-token'), 401, /invalid auth token/],
        ["another workspace's token", ws.id, bearer(otherToken), 403, /does not grant access/],
        ['a foreign Origin', ws.id, { ...t.admin, origin: 'http://localhost:1' }, 403, /Origin/],
        ['external', ext.id, t.admin, 422, /external workspace/],
        ['not running', stopped.id, t.admin, 503, /^workspace not running$/],
        ['state unknown', unknown.id, t.admin, 503, /could not tell whether/],
        ['cols out of range', ws.id, t.admin, 400, /cols/, '?cols=0&rows=24'],
        ['rows out of range', ws.id, t.admin, 400, /rows/, '?cols=80&rows=1001'],
        ['a malformed X-Workspace-ID', ws.id, { ...t.admin, 'x-workspace-id': 'nope' }, 400, /X-Workspace-ID/],
      ];
      for (const [what, id, headers, status, error, query] of cases) {
        const r = await terminalRefusal(base, id, headers, query);
        expect(r.status, what).toBe(status);
        expect(r.body.error, what).toMatch(error);
      }
      // A plain GET (no upgrade) is told to upgrade, and holds no slot.
      const plain = await t.app.inject({ method: 'GET', url: `/workspaces/${ws.id}/terminal`, headers: t.admin });
      expect(plain.statusCode).toBe(426);
      expect(plain.json().error).toMatch(/WebSocket/);
      expect(opened).toBe(before);
      // Nothing changed: the refused workspaces keep their state, and a good request still opens.
      expect((await getWorkspace(t.db, stopped.id))!.status).toBe(Status.Online);
      const ok = await openTerminal(base, ws.id, t.admin);
      await ok.close();
      expect(opened).toBe(before + 1);
    });

    it('C214 applies the hierarchy rule to a claimed caller before the target is looked up: an unrelated workspace gets 403 (a removed target too, not 410), its parent opens; a workspace token cannot claim another', async () => {
      const parent = await running('term-parent');
      const child = await running('term-child', { parent_id: parent.id });
      const stranger = await running('term-stranger', { parent_id: (await createWs(t, { name: 'term-elsewhere', runtime: 'external' })).id });
      const before = opened;
      const r = await terminalRefusal(base, child.id, { ...t.admin, 'x-workspace-id': stranger.id });
      expect(r.status).toBe(403);
      expect(r.body.error).toBe("not authorized to access this workspace's terminal");
      const diag = await t.app.inject({ method: 'GET', url: `/workspaces/${child.id}/terminal/diagnose`, headers: { ...t.admin, 'x-workspace-id': stranger.id } });
      expect(diag.statusCode).toBe(403);
      const gone = await running('term-gone-child', { parent_id: parent.id });
      expect((await t.app.inject({ method: 'DELETE', url: `/workspaces/${gone.id}?confirm=true`, headers: t.admin })).statusCode).toBe(200);
      await expect.poll(async () => (await getWorkspace(t.db, gone.id))!.status).toBe(Status.Removed);
      expect((await terminalRefusal(base, gone.id, { ...t.admin, 'x-workspace-id': stranger.id })).status).toBe(403);
      const childToken = (await t.app.inject({ method: 'POST', url: `/workspaces/${child.id}/tokens`, headers: t.admin })).json().auth_token as string;
      const claim = await terminalRefusal(base, child.id, { ...bearer(childToken), 'x-workspace-id': parent.id });
      expect(claim.status).toBe(401);
      expect(claim.body.error).toBe('invalid token for claimed workspace');
      expect(opened).toBe(before);

      const term = await openTerminal(base, child.id, { ...t.admin, 'x-workspace-id': parent.id });
      term.type('echo from-"parent"\r');
      await term.waitFor(/[\r\n]from-parent\r\n/);
      await term.close();
      // The workspace's own token opens its terminal too.
      const own = await openTerminal(base, child.id, bearer(childToken));
      await own.close();
    });

    it('the canvas session cookie opens a terminal from the platform’s own origin, never from another one', async () => {
      const ws = await running('term-cookie');
      const login = await t.app.inject({ method: 'POST', url: '/auth/login', payload: { token: t.adminToken } });
      const cookie = { cookie: `molecule_session=${login.cookies.find((c) => c.name === 'molecule_session')!.value}` };
      const host = new URL(base).host;
      const term = await openTerminal(base, ws.id, { ...cookie, origin: `http://${host}` });
      term.type('echo cookie-"ok"\r');
      await term.waitFor(/[\r\n]cookie-ok\r\n/);
      await term.close();
      for (const origin of ['http://localhost:5173', `http://evil.example`, 'null']) {
        const r = await terminalRefusal(base, ws.id, { ...cookie, origin });
        expect(r.status, origin).toBe(403);
      }
    });

    it('allows one terminal per credential: a second from the same token is 409 before the upgrade; another credential opens; closing frees it', async () => {
      const ws = await running('term-one');
      const first = await openTerminal(base, ws.id, t.admin);
      const before = opened;
      const second = await terminalRefusal(base, ws.id, t.admin);
      expect(second.status).toBe(409);
      expect(second.body.error).toMatch(/already open with this credential/);
      expect(opened).toBe(before);
      const token = (await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/tokens`, headers: t.admin })).json().auth_token as string;
      const other = await openTerminal(base, ws.id, bearer(token));
      await other.close();
      // The first one still works, and once it is closed the credential opens again.
      first.type('echo still-"here"\r');
      await first.waitFor(/[\r\n]still-here\r\n/);
      await first.close();
      await expect.poll(async () => {
        try {
          const again = await openTerminal(base, ws.id, t.admin);
          await again.close();
          return 'opened';
        } catch (err) {
          return String(err);
        }
      }).toBe('opened');
    });

    it('answers a bad control message with an error frame and ignores it; the session goes on', async () => {
      const ws = await running('term-resize');
      const term = await openTerminal(base, ws.id, t.admin, '?cols=90&rows=20');
      for (const bad of ['{"type":"resize","cols":0,"rows":10}', '{"type":"resize","cols":10,"rows":1001}', '{"type":"resize","cols":"80","rows":24}', '{"type":"nope"}', '{not json']) term.ws.send(bad);
      await expect.poll(() => term.controls.length).toBe(5);
      expect(term.controls.every((c) => c.type === 'error')).toBe(true);
      expect(term.controls[0]).toMatchObject({ error: expect.stringMatching(/resize.*1-1000/) });
      expect(term.controls[4]).toMatchObject({ error: 'control message is not valid JSON' });
      term.type('stty size\r');
      await term.waitFor(/[\r\n]20 90\r\n/);
      await term.close();
    });

    it(`closes a frame over ${TERMINAL_MAX_FRAME_BYTES} bytes with 1009; nothing of it reaches the shell`, async () => {
      const ws = await running('term-big');
      const marker = path.join(dirOf(ws.id), 'workspace', 'big-frame-ran');
      const term = await openTerminal(base, ws.id, t.admin);
      term.type('echo ready\r');
      await term.waitFor(/[\r\n]ready\r\n/);
      term.ws.send(Buffer.concat([Buffer.from(`touch ${marker}\r`), Buffer.alloc(TERMINAL_MAX_FRAME_BYTES, 0x20)]), { binary: true });
      expect((await term.closed).code).toBe(1009);
      expect(existsSync(marker)).toBe(false);
    });

    it('refuses input once the session is closed: the socket is closed and nothing is written', async () => {
      const ws = await running('term-after');
      const marker = path.join(dirOf(ws.id), 'workspace', 'after-close');
      const term = await openTerminal(base, ws.id, t.admin);
      term.type('exit 0\r');
      expect(await term.waitControl('exit')).toEqual({ type: 'exit', code: 0 });
      await term.closed;
      const sent = await new Promise<Error | undefined>((resolve) => term.ws.send(Buffer.from(`touch ${marker}\r`), (err) => resolve(err ?? undefined)));
      expect(sent).toBeInstanceOf(Error);
      expect(term.ws.readyState).toBe(WebSocket.CLOSED);
      expect(existsSync(marker)).toBe(false);
    });

    it('C228 diagnose runs the process pipeline: workspace-dir, agent-running, pty-probe, all ok, no first_failure', async () => {
      const ws = await running('term-diag');
      const r = await t.app.inject({ method: 'GET', url: `/workspaces/${ws.id}/terminal/diagnose`, headers: t.admin });
      expect(r.statusCode).toBe(200);
      const body = r.json();
      expect(body).toMatchObject({ workspace_id: ws.id, backend: 'docker' });
      expect(body.steps.map((s: { name: string; ok: boolean }) => [s.name, s.ok])).toEqual([
        ['workspace-dir', true],
        ['agent-running', true],
        ['pty-probe', true],
      ]);
      expect(body.first_failure).toBeUndefined();
      for (const s of body.steps) expect(s.duration_ms).toBeGreaterThanOrEqual(0);
    });

    it('C228 diagnose of a stopped agent is still 200 and names agent-running as the first failure; later steps are skipped', async () => {
      const ws = await running('term-diag-stopped');
      fake.states.set('term-diag-stopped', { state: 'stopped' });
      const r = await t.app.inject({ method: 'GET', url: `/workspaces/${ws.id}/terminal/diagnose`, headers: t.admin });
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({
        first_failure: 'agent-running',
        steps: [
          { name: 'workspace-dir', ok: true },
          { name: 'agent-running', ok: false, error: 'the agent is not running (stopped)' },
          { name: 'pty-probe', ok: false, error: 'skipped: an earlier step failed' },
        ],
      });
      const ext = await createExternal(t);
      const e = await t.app.inject({ method: 'GET', url: `/workspaces/${ext.id}/terminal/diagnose`, headers: t.admin });
      expect(e.statusCode).toBe(200);
      expect(e.json()).toMatchObject({ backend: 'external', first_failure: 'backend', steps: [{ name: 'backend', ok: false, error: expect.stringMatching(/external workspace/) }] });
      for (const [id, status] of [['nope', 400], ['00000000-0000-4000-8000-000000000000', 404]] as const) {
        expect((await t.app.inject({ method: 'GET', url: `/workspaces/${id}/terminal/diagnose`, headers: t.admin })).statusCode).toBe(status);
      }
      expect((await t.app.inject({ method: 'GET', url: `/workspaces/${ws.id}/terminal/diagnose` })).statusCode).toBe(401);
    });
  });

  describe(`terminal on other backends (${kind})`, () => {
    it('C230 diagnose on a Docker backend with no engine client reports "docker client not configured on this workspace-server"; opening answers a clear error frame', async () => {
      const fake = fakeProvisioner();
      const t = await startTestApp({ kind, config: { provisioner: 'docker' }, tweak: (deps) => void (deps.provisioner = { ...fake.prov, terminal: new DockerTerminal(() => undefined) }) });
      try {
        const ws = await onlineWorkspace(t, 'no-engine');
        const r = await t.app.inject({ method: 'GET', url: `/workspaces/${ws.id}/terminal/diagnose`, headers: t.admin });
        expect(r.statusCode).toBe(200);
        expect(r.json()).toMatchObject({
          backend: 'docker',
          first_failure: 'docker-client',
          steps: [
            { name: 'docker-client', ok: false, error: 'docker client not configured on this workspace-server' },
            { name: 'container-found', ok: false },
            { name: 'container-running', ok: false },
            { name: 'exec-probe', ok: false },
          ],
        });
        const term = await connect(await t.app.listen({ port: 0, host: '127.0.0.1' }), ws.id, t.admin);
        expect(await term.waitControl('error')).toEqual({ type: 'error', error: 'docker client not configured on this workspace-server' });
        expect((await term.closed).code).toBe(1011);
      } finally {
        await t.close();
      }
    }, 60_000);

    // Each of these builds an app of its own (a fresh database each): they get the hook's time.
    it('a backend without a terminal port answers 501 before the upgrade; diagnose says the same with 200 (the control plane has one now: controlplane/platform.test.ts)', async () => {
      const fake = fakeProvisioner();
      const bare = await startTestApp({ kind, config: { provisioner: 'docker' }, tweak: (deps) => void (deps.provisioner = fake.prov) });
      try {
        const ws = await onlineWorkspace(bare, 'no-terminal-port');
        const r = await terminalRefusal(await bare.app.listen({ port: 0, host: '127.0.0.1' }), ws.id, bare.admin);
        expect(r.status).toBe(501);
        expect(r.body.error).toBe('terminal not supported on this backend');
        const d = await bare.app.inject({ method: 'GET', url: `/workspaces/${ws.id}/terminal/diagnose`, headers: bare.admin });
        expect(d.json()).toMatchObject({ first_failure: 'backend', steps: [{ error: 'terminal not supported on this backend' }] });
      } finally {
        await bare.close();
      }
    }, 60_000);

    it('no backend at all (MOLECULE_PROVISIONER=none) answers 503 before the upgrade; diagnose says so with 200', async () => {
      const none = await startTestApp({ kind });
      try {
        const w = await createWs(none, { name: 'nothing-runs-me' });
        await setStatus(none.db, w.id, Status.Online);
        const n = await terminalRefusal(await none.app.listen({ port: 0, host: '127.0.0.1' }), w.id, none.admin);
        expect(n.status).toBe(503);
        expect(n.body.error).toMatch(/MOLECULE_PROVISIONER=none/);
        expect((await none.app.inject({ method: 'GET', url: `/workspaces/${w.id}/terminal/diagnose`, headers: none.admin })).json()).toMatchObject({ backend: 'none', first_failure: 'backend' });
      } finally {
        await none.close();
      }
    }, 60_000);

    it('closes a terminal with no input for MOLECULE_TERMINAL_IDLE_MS with a 4000 code and the reason', async () => {
      const fake = fakeProvisioner();
      const dir = await mkdtemp(path.join(tmpdir(), 'terminal-idle-'));
      const t = await startTestApp({ kind, config: { provisioner: 'docker', terminalIdleMs: 1000 }, tweak: (deps) => void (deps.provisioner = { ...fake.prov, terminal: new ProcessTerminal((id) => path.join(dir, id)) }) });
      try {
        const ws = await onlineWorkspace(t, 'idle');
        await mkdir(path.join(dir, ws.id, 'workspace'), { recursive: true });
        // Connected only: waiting for the prompt could outlast the idle time on a loaded machine.
        const term = await connect(await t.app.listen({ port: 0, host: '127.0.0.1' }), ws.id, t.admin);
        expect(await term.closed).toEqual({ code: 4000, reason: 'idle: no input for 1 s' });
      } finally {
        await t.close();
        await rm(dir, { recursive: true, force: true });
      }
    }, 60_000);
  });
}
