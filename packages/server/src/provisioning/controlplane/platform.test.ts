import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { validateWorkspaceToken } from '../../auth/repo.js';
import { healthSweep, RestartBackoff } from '../../loops/sweeps.js';
import { createWs, eventsOf } from '../../test-support/api.js';
import { startFakeControlPlane, type FakeControlPlane } from '../../test-support/fake-control-plane.js';
import { startTestApp, type TestApp } from '../../test-support/harness.js';
import { connect } from '../../test-support/terminal.js';
import { getWorkspace, recordInstance, setStatus } from '../../workspaces/repo.js';
import { AGENT_TERMINAL_ERRORS, AgentTerminal } from '../agent-terminal.js';
import { createProvisioner } from '../index.js';
import { PROVISION_FAILED } from '../pipeline.js';
import { ControlPlaneBackend } from './backend.js';

const TOKEN = 'cp-shared-secret-platform-test';

/** A logger that appends its JSON lines to `lines`. */
const capture = (lines: Record<string, unknown>[]) =>
  pino(
    { level: 'info' },
    new Writable({
      write(chunk, _e, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    }),
  );

// The platform with MOLECULE_PROVISIONER=controlplane against the fake control plane over HTTP
// (instances are records here; e2e.int.test.ts runs real agents).
describe('the platform on the control-plane backend', () => {
  let cp: FakeControlPlane;
  let t: TestApp;
  let base: string;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    cp = await startFakeControlPlane({ token: TOKEN });
    t = await startTestApp({
      config: { provisioner: 'controlplane', controlPlaneUrl: cp.url, controlPlaneToken: TOKEN },
      tweak: (deps) => {
        deps.log = capture(lines);
        // Milliseconds instead of seconds between stop attempts; the policy itself is tested in backend.test.ts.
        deps.provisioner = new ControlPlaneBackend({ baseUrl: cp.url, token: TOKEN, stopRetry: { attempts: 3, backoffMs: () => 5 }, terminal: new AgentTerminal(() => deps) });
      },
    });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await t?.close();
    await cp?.close();
  });

  const row = async (id: string) => (await getWorkspace(t.db, id))!;
  const provisions = (id: string) => cp.requests.filter((r) => r.route === 'provision' && (r.body as { workspace_id?: string }).workspace_id === id);
  const terminates = (id: string) => cp.requests.filter((r) => r.route === 'terminate' && r.path.includes(id));
  /** A workspace the control plane started, marked online as if its agent had registered. */
  const online = async (name: string) => {
    const ws = await createWs(t, { name });
    await expect.poll(async () => (await row(ws.id)).instance_id ?? undefined).toBeDefined();
    expect((await row(ws.id)).instance_id).toBe(cp.instances.get(ws.id)!.instanceId);
    await setStatus(t.db, ws.id, Status.Online);
    return ws;
  };

  it('createProvisioner wires the control-plane backend from the config: CP_URL and its bearer token; files and the terminal through the agent', async () => {
    const prov = createProvisioner(t.deps, { agentReach: () => t.deps });
    expect(prov).toBeInstanceOf(ControlPlaneBackend);
    expect(prov!.terminal).toBeInstanceOf(AgentTerminal);
    const state = await prov!.isRunning({ id: crypto.randomUUID(), instance_id: 'i-none' } as never, AbortSignal.timeout(5000));
    // The fake refuses calls without the token with 401; a 404 (no such workspace) proves the token went along.
    expect(state.state).toBe('unknown');
    expect(cp.requests.at(-1)!.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('C112 create sends the start spec to the control plane and records the instance it answers', async () => {
    const ws = await createWs(t, { name: 'cp-create', template: 'echo', tier: 3, model: 'openai:gpt-4o-mini' });
    await expect.poll(async () => (await row(ws.id)).instance_id).not.toBeNull();
    expect((await row(ws.id)).instance_id).toBe(cp.instances.get(ws.id)!.instanceId);
    const body = provisions(ws.id)[0]!.body as Record<string, unknown> & { env: Record<string, string>; secret_files: Record<string, string>; template_files: Record<string, string> };
    expect(body).toMatchObject({ workspace_id: ws.id, runtime: 'molecule', tier: 3, model: 'openai:gpt-4o-mini', apply_template: false });
    expect(body.env).toMatchObject({ WORKSPACE_ID: ws.id, MODEL: 'openai:gpt-4o-mini' });
    expect(body.platform_url).toBe(body.env.PLATFORM_URL);
    expect(body.template_files['config.yaml']).toMatch(/adapter: echo/);
    // The token the instance gets is the workspace's live token.
    expect(await validateWorkspaceToken(t.db, body.secret_files['.auth_token']!)).toMatchObject({ workspaceId: ws.id });
    expect((await row(ws.id)).status).toBe(Status.Provisioning);
  });

  it.each([
    ['a 500 whose body holds internals', { status: 500, body: 'AccessDenied: arn:aws:iam::123456789012:role/cp version=99' }],
    ['a non-JSON answer', { status: 201, body: '<html>bad gateway</html>', contentType: 'text/html' }],
    ['an answer without instance_id', { status: 201, body: '{"instance":"i-1","detail":"arn:aws:iam::123456789012"}' }],
    ['an oversize answer', { status: 201, body: `{"instance_id":"i-1","pad":"${'arn:aws:iam '.repeat(8000)}"}` }],
  ])('C116 C117 %s from the control plane ends in failed with the canned message and event', async (_name, fault) => {
    cp.fail('provision', fault);
    const ws = await createWs(t, { name: 'cp-bad-answer' });
    await expect.poll(async () => (await row(ws.id)).status).toBe(Status.Failed);
    const r = await row(ws.id);
    expect(r.last_sample_error).toBe(PROVISION_FAILED.start);
    expect(r.instance_id).toBeNull();
    const failed = (await eventsOf(t, ws.id)).filter((e) => e.event_type === 'WORKSPACE_PROVISION_FAILED');
    expect(failed).toEqual([{ event_type: 'WORKSPACE_PROVISION_FAILED', payload: { error: PROVISION_FAILED.start } }]);
    expect(JSON.stringify(failed)).not.toMatch(/arn:aws|version=99|html/);
    // The detail is in the log, with the workspace id.
    expect(lines.some((l) => l.workspace_id === ws.id && /control plane provision/.test(JSON.stringify(l.err)))).toBe(true);
  });

  it('an instance URL the control plane reports is recorded only when the agent-URL policy allows it', async () => {
    cp.fail('provision', { status: 201, body: '{"instance_id":"i-url-ok","url":"http://127.0.0.1:9/"}' });
    const ok = await createWs(t, { name: 'cp-url-ok' });
    await expect.poll(async () => (await row(ok.id)).instance_id).toBe('i-url-ok');
    expect((await row(ok.id)).url).toBe('http://127.0.0.1:9/');
    cp.fail('provision', { status: 201, body: '{"instance_id":"i-url-metadata","url":"http://169.254.169.254/latest/"}' });
    const metadata = await createWs(t, { name: 'cp-url-metadata' });
    await expect.poll(async () => (await row(metadata.id)).instance_id).toBe('i-url-metadata');
    expect((await row(metadata.id)).url).toBe('');
    expect((await row(metadata.id)).status).toBe(Status.Provisioning);
    expect(lines.some((l) => l.workspace_id === metadata.id && l.reason === 'blocked')).toBe(true);
  });

  it('C105 C116 with CP_URL unset every start fails with the canned message; the typed error is logged', async () => {
    const logged: Record<string, unknown>[] = [];
    const u = await startTestApp({
      config: { provisioner: 'controlplane', controlPlaneUrl: undefined },
      tweak: (deps) => {
        deps.log = capture(logged);
        deps.provisioner = createProvisioner(deps);
      },
    });
    try {
      const ws = await createWs(u, { name: 'cp-unconfigured' });
      await expect.poll(async () => (await getWorkspace(u.db, ws.id))!.status).toBe(Status.Failed);
      expect((await getWorkspace(u.db, ws.id))!.last_sample_error).toBe(PROVISION_FAILED.start);
      expect(logged).toContainEqual(expect.objectContaining({ workspace_id: ws.id, err: expect.objectContaining({ code: 'ERR_NO_BACKEND' }) }));
    } finally {
      await u.close();
    }
  });

  it('restart terminates the old instance by its id, then provisions a new one', async () => {
    const ws = await online('cp-restart');
    const first = (await row(ws.id)).instance_id!;
    expect((await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/restart`, headers: t.admin })).statusCode).toBe(200);
    await expect.poll(async () => (await row(ws.id)).instance_id).not.toBe(first);
    expect(terminates(ws.id).map((r) => r.path)).toEqual([`/cp/workspaces/${ws.id}?instance_id=${first}`]);
    expect(provisions(ws.id)).toHaveLength(2);
  });

  it('C146 a restart whose stop keeps failing retries 3 times, logs LEAK-SUSPECT and reprovisions anyway', async () => {
    const ws = await online('cp-leak');
    const first = (await row(ws.id)).instance_id!;
    cp.fail('terminate', { status: 503, body: 'ec2 api throttled' }, 3);
    expect((await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/restart`, headers: t.admin })).statusCode).toBe(200);
    await expect.poll(() => provisions(ws.id).length).toBe(2);
    expect(terminates(ws.id)).toHaveLength(3);
    expect(lines.filter((l) => l.event === 'LEAK-SUSPECT' && l.workspace_id === ws.id)).toEqual([
      expect.objectContaining({ instance_id: first, attempts: 3, backend: 'controlplane' }),
    ]);
    await expect.poll(async () => (await row(ws.id)).instance_id).not.toBe(first);
  });

  it('C107 C177 an instance that dies is seen through the status call: offline, then restarted on the control plane', async () => {
    const ws = await online('cp-dies');
    const first = (await row(ws.id)).instance_id!;
    await cp.kill(ws.id);
    expect(await healthSweep(t.deps, t.db, new RestartBackoff())).toMatchObject({ offline: 1, restarted: 1 });
    expect((await eventsOf(t, ws.id)).map((e) => e.event_type)).toContain('WORKSPACE_OFFLINE');
    await expect.poll(async () => (await row(ws.id)).instance_id).not.toBe(first);
    expect(cp.instances.get(ws.id)!.state).toBe('running');
  });

  it('C099 C107 a control plane that cannot answer leaves online workspaces alone', async () => {
    const ws = await online('cp-blip');
    cp.fail('status', { status: 502, body: 'bad gateway' }, 1_000);
    try {
      await healthSweep(t.deps, t.db, new RestartBackoff());
      expect((await row(ws.id)).status).toBe(Status.Online);
    } finally {
      cp.clearFaults();
    }
  });

  it('C106 C157 delete terminates the instance; a failed terminate is a 500 without the control plane answer, and a retry succeeds', async () => {
    const ws = await online('cp-delete');
    cp.fail('terminate', { status: 500, body: 'TerminateInstances: UnauthorizedOperation arn:aws:iam::123456789012' });
    const r = await t.app.inject({ method: 'DELETE', url: `/workspaces/${ws.id}`, headers: t.admin });
    expect(r.statusCode).toBe(500);
    expect(r.body).not.toMatch(/arn:aws|Unauthorized|HTTP 500/);
    expect(cp.instances.get(ws.id)!.state).toBe('running');
    const again = await t.app.inject({ method: 'DELETE', url: `/workspaces/${ws.id}`, headers: t.admin });
    expect(again.statusCode).toBe(200);
    expect(cp.instances.get(ws.id)!.state).toBe('terminated');
  });

  /** A stand-in for an instance's agent: answers /health, and refuses every terminal upgrade with `status`; records what it was sent. */
  const refusingAgent = async (status: number, body: string) => {
    const seen: { url: string; authorization: string | undefined }[] = [];
    const server: Server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    });
    server.on('upgrade', (req, socket) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
      socket.end(`HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  };
  const setUrl = async (id: string, url: string) => recordInstance(t.db, id, { instanceId: (await row(id)).instance_id!, url, imageDigest: undefined });
  const diagnose = async (id: string) => (await t.app.inject({ method: 'GET', url: `/workspaces/${id}/terminal/diagnose`, headers: t.admin })).json();

  it('C228 the terminal goes through the instance\'s agent: before its agent registers (no URL) diagnose fails at agent-reachable and opening answers an error frame and 1011', async () => {
    const ws = await online('cp-term-no-url');
    expect(await diagnose(ws.id)).toMatchObject({
      backend: 'controlplane',
      first_failure: 'agent-reachable',
      steps: [
        { name: 'agent-running', ok: true },
        { name: 'agent-reachable', ok: false, error: AGENT_TERMINAL_ERRORS.noUrl },
        { name: 'pty-probe', ok: false, error: 'skipped: an earlier step failed' },
      ],
    });
    const term = await connect(base, ws.id, t.admin);
    expect(await term.waitControl('error')).toEqual({ type: 'error', error: AGENT_TERMINAL_ERRORS.noUrl });
    expect((await term.closed).code).toBe(1011);
  });

  it('C228 a stopped instance is refused before the upgrade (503) and diagnose names agent-running', async () => {
    const ws = await online('cp-term-stopped');
    await cp.kill(ws.id);
    const term = await connect(base, ws.id, t.admin).catch((err: unknown) => err as { status: number; body: { error: string } });
    expect(term).toMatchObject({ status: 503, body: { error: 'workspace not running' } });
    expect(await diagnose(ws.id)).toMatchObject({ first_failure: 'agent-running', steps: [{ name: 'agent-running', ok: false, error: 'the agent is not running (stopped)' }, {}, {}] });
  });

  it("C050 an agent URL outside the agent-URL policy is never dialled: the terminal says so, diagnose fails at agent-reachable", async () => {
    const ws = await online('cp-term-metadata');
    await setUrl(ws.id, 'http://169.254.169.254/latest');
    const term = await connect(base, ws.id, t.admin);
    expect(await term.waitControl('error')).toEqual({ type: 'error', error: AGENT_TERMINAL_ERRORS.unsafeUrl });
    expect((await term.closed).code).toBe(1011);
    expect(await diagnose(ws.id)).toMatchObject({ first_failure: 'agent-reachable', steps: [{ ok: true }, { ok: false, error: AGENT_TERMINAL_ERRORS.unsafeUrl }, { ok: false }] });
  });

  it("sends the workspace's inbound secret to its agent; an agent that refuses it (401) or cannot start a shell (503) is reported with a canned message, its detail kept out", async () => {
    const ws = await online('cp-term-refused');
    const { secret } = await t.deps.inboundSecrets.readOrHeal(ws.id);
    const agent = await refusingAgent(401, '{"error":"unauthorized"}');
    try {
      await setUrl(ws.id, `${agent.url}/`);
      const term = await connect(base, ws.id, t.admin, '?cols=90&rows=20');
      expect(await term.waitControl('error')).toEqual({ type: 'error', error: AGENT_TERMINAL_ERRORS.credentials });
      expect((await term.closed).code).toBe(1011);
      expect(agent.seen).toEqual([{ url: '/internal/terminal?cols=90&rows=20', authorization: `Bearer ${secret}` }]);
      // Reachable (it answers /health), but the probe's terminal is refused.
      const d = await diagnose(ws.id);
      expect(d).toMatchObject({ first_failure: 'pty-probe', steps: [{ ok: true }, { ok: true }, { name: 'pty-probe', ok: false, error: AGENT_TERMINAL_ERRORS.credentials }] });
    } finally {
      await agent.close();
    }
    const broken = await refusingAgent(503, '{"error":"python3 is needed for the terminal and was not found on PATH"}');
    try {
      await setUrl(ws.id, broken.url);
      const term = await connect(base, ws.id, t.admin);
      expect(await term.waitControl('error')).toEqual({ type: 'error', error: "the workspace's agent could not start a shell: python3 is needed for the terminal and was not found on PATH" });
    } finally {
      await broken.close();
    }
    expect((await row(ws.id)).status).toBe(Status.Online);
  });
});
