import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../log.js';
import { DEFAULT_AGENT_BIN } from '../provisioning/index.js';
import { ProcessBackend } from '../provisioning/process/backend.js';
import type { WorkspaceRow } from '../workspaces/repo.js';

/** The three control-plane calls the `controlplane` backend makes. */
export type CpRoute = 'provision' | 'terminate' | 'status';

/** An injected answer: a status, a raw body, and/or a delay before answering. */
export interface CpFault {
  status?: number;
  body?: string;
  contentType?: string;
  delayMs?: number;
}

export interface CpRequest {
  route: CpRoute | 'unknown';
  method: string;
  path: string;
  authorization: string | undefined;
  body: unknown;
}

export interface CpInstance {
  instanceId: string;
  /** `memory` instances carry their state here; `process` ones read it from the agent process. */
  state: 'running' | 'stopped' | 'terminated';
  /** The agent's pid (`process` agents). */
  pid?: number;
  /** What the provision call carried. */
  spec: Record<string, unknown>;
}

export interface FakeControlPlaneOptions {
  /** When set, every call must carry `Authorization: Bearer <token>` (401 otherwise). */
  token?: string;
  /**
   * `memory`: instances are records only (fast unit tests). `process`: each instance is the real
   * `molecule-agent` run by a ProcessBackend, so the workspace registers and answers A2A.
   */
  agents?: 'memory' | 'process';
  agentBin?: string;
}

export interface FakeControlPlane {
  url: string;
  requests: CpRequest[];
  /** The current instance of each workspace id. */
  instances: Map<string, CpInstance>;
  /** The next `times` calls of `route` answer with `fault` instead of the normal answer. */
  fail(route: CpRoute, fault: CpFault, times?: number): void;
  /** Drops the injected answers not used yet. */
  clearFaults(): void;
  /** The workspace's instance dies under the platform (its agent is SIGKILLed). */
  kill(workspaceId: string): Promise<void>;
  close(): Promise<void>;
}

const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

/**
 * A local control plane speaking the protocol of `provisioning/controlplane/backend.ts` over real
 * HTTP on loopback, with knobs to inject failures. Workspace ids in paths are taken as given.
 */
export async function startFakeControlPlane(opts: FakeControlPlaneOptions = {}): Promise<FakeControlPlane> {
  const requests: CpRequest[] = [];
  const instances = new Map<string, CpInstance>();
  const faults: Record<CpRoute, CpFault[]> = { provision: [], terminate: [], status: [] };
  /** Pending injected delays, cut short by `close`. */
  const delays = new Set<() => void>();
  const dataDir = opts.agents === 'process' ? await mkdtemp(path.join(os.tmpdir(), 'molecule-fake-cp-')) : undefined;
  const runner =
    dataDir === undefined
      ? undefined
      : new ProcessBackend({ dataDir, agentBin: opts.agentBin ?? DEFAULT_AGENT_BIN, log: createLogger({ level: 'silent', pretty: false }) });
  const asRow = (id: string) => ({ id }) as WorkspaceRow;

  const stateOf = async (id: string, inst: CpInstance): Promise<CpInstance['state']> => {
    if (!runner || inst.state === 'terminated') return inst.state;
    return (await runner.isRunning(asRow(id))).state === 'running' ? 'running' : 'stopped';
  };

  const send = (res: ServerResponse, status: number, body: unknown, contentType = 'application/json') => {
    res.writeHead(status, { 'content-type': contentType });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake-cp');
    const raw = await readBody(req);
    let body: unknown;
    try {
      body = raw.length > 0 ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const m = /^\/cp\/workspaces\/([^/]+)(\/status)?$/.exec(url.pathname);
    const route: CpRequest['route'] =
      req.method === 'POST' && url.pathname === '/cp/workspaces/provision'
        ? 'provision'
        : req.method === 'DELETE' && m && !m[2]
          ? 'terminate'
          : req.method === 'GET' && m?.[2]
            ? 'status'
            : 'unknown';
    requests.push({ route, method: req.method ?? '', path: url.pathname + url.search, authorization: req.headers.authorization, body });
    if (route === 'unknown') return send(res, 404, { error: 'no such route' });
    if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) return send(res, 401, { error: 'unauthorized' });

    const fault = faults[route].shift();
    if (fault) {
      if (fault.delayMs) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            delays.delete(done);
            resolve();
          };
          const timer = setTimeout(done, fault.delayMs);
          delays.add(done);
        });
      }
      if (fault.status !== undefined || fault.body !== undefined) {
        return send(res, fault.status ?? 200, fault.body ?? '', fault.contentType ?? 'application/json');
      }
    }

    if (route === 'provision') {
      const spec = body as Record<string, unknown> | undefined;
      const id = spec?.workspace_id;
      if (typeof id !== 'string' || typeof spec?.env !== 'object' || spec.env === null) return send(res, 400, { error: 'workspace_id and env are required' });
      const instanceId = `i-${randomBytes(8).toString('hex')}`;
      const inst: CpInstance = { instanceId, state: 'running', spec };
      if (runner) {
        const started = await runner.start(
          {
            workspace: asRow(id),
            env: spec.env as Record<string, string>,
            secretFiles: (spec.secret_files ?? {}) as Record<string, string>,
            templateFiles: (spec.template_files ?? {}) as Record<string, string>,
            applyTemplate: spec.apply_template === true,
          },
          AbortSignal.timeout(30_000),
        );
        inst.pid = Number(started.instanceId.split(':')[1]);
      }
      instances.set(id, inst);
      return send(res, 201, { instance_id: instanceId });
    }

    const id = decodeURIComponent(m![1]!);
    const inst = instances.get(id);
    if (route === 'terminate') {
      const wanted = url.searchParams.get('instance_id');
      if (!inst || inst.state === 'terminated' || (wanted !== null && wanted !== inst.instanceId)) return send(res, 404, { error: 'instance not found' });
      if (runner) await runner.stop(asRow(id), AbortSignal.timeout(30_000));
      inst.state = 'terminated';
      return send(res, 200, { status: 'terminated' });
    }
    if (!inst) return send(res, 404, { error: 'workspace not found' });
    return send(res, 200, { state: await stateOf(id, inst), instance_id: inst.instanceId });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: `fake control plane: ${err instanceof Error ? err.message : String(err)}` });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (typeof addr !== 'object' || addr === null) throw new Error('fake control plane did not bind');

  return {
    url: `http://127.0.0.1:${addr.port}`,
    requests,
    instances,
    fail(route, fault, times = 1) {
      for (let i = 0; i < times; i++) faults[route].push(fault);
    },
    clearFaults() {
      for (const list of Object.values(faults)) list.length = 0;
    },
    async kill(workspaceId) {
      const inst = instances.get(workspaceId);
      if (!inst) throw new Error(`fake control plane: no instance for ${workspaceId}`);
      if (inst.pid !== undefined) process.kill(-inst.pid, 'SIGKILL');
      else inst.state = 'stopped';
    },
    async close() {
      for (const done of [...delays]) done();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (runner) await runner.stopAll();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
