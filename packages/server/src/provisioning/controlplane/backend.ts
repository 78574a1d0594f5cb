import { z } from 'zod';
import { readCapped } from '../../net/read-capped.js';
import type { WorkspaceFiles } from '../files.js';
import type { WorkspaceTerminal } from '../terminal.js';
import type { WorkspaceRow } from '../../workspaces/read.js';
import type { Provisioner, RunningState, StartSpec, StopRetryPolicy } from '../port.js';

/**
 * The backend has no control plane to talk to (CP_URL unset): every call that needs one fails with
 * this typed error instead of reaching for a default host (C105).
 */
export class ControlPlaneNotConfiguredError extends Error {
  readonly code = 'ERR_NO_BACKEND';
  constructor(workspaceId: string) {
    super(`control plane not configured (CP_URL unset); cannot reach workspace ${workspaceId}'s instance`);
    this.name = 'ControlPlaneNotConfiguredError';
  }
}

/**
 * The control plane answered, but not with what the protocol promises (a non-2xx status, a body
 * that is not the expected JSON, or one over the size cap), or could not be reached. The message
 * names the workspace, the status and a bounded body excerpt: it is for the log, never for users.
 */
export class ControlPlaneError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ControlPlaneError';
  }
}

/** How much of an error body goes into an error message (C106). */
export const ERROR_EXCERPT_BYTES = 512;
/** The largest answer read from the control plane; a bigger one is a bad response. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Restart stops: 3 attempts, waiting 1 s then 2 s (the schedule doubles from 1 s: 1, 2, 4 s...; a
 * third wait would only precede a fourth attempt) (C146).
 */
export const CONTROL_PLANE_STOP_RETRY: StopRetryPolicy = { attempts: 3, backoffMs: (n) => 1000 * 2 ** (n - 1) };

export interface ControlPlaneBackendOptions {
  /** The control plane's base URL (CP_URL); unset makes every remote call a typed error (C105). */
  baseUrl: string | undefined;
  /** Bearer token for `/cp/workspaces` calls; never logged. */
  token?: string | undefined;
  /** Sent as `org_id`. */
  orgId?: string | undefined;
  /** Overrides `CONTROL_PLANE_STOP_RETRY` (tests shorten the waits). */
  stopRetry?: StopRetryPolicy;
  /** The Files API's port: the instances' files, reached through their agents (AgentFiles). */
  files?: WorkspaceFiles;
  /** The terminal's port: a shell on the instance, reached through its agent (AgentTerminal). */
  terminal?: WorkspaceTerminal;
}

const ProvisionAnswer = z.object({
  instance_id: z.string().trim().min(1).max(256),
  url: z.string().max(2048).optional(),
});

const StatusAnswer = z.object({ state: z.string().max(64) });

/** Instance states (EC2 names and the control plane's own) that mean the instance is gone or going. */
const STOPPED_STATES = new Set(['stopped', 'stopping', 'terminated', 'shutting-down', 'not_found']);
/** A `pending` instance is booting: alive, so the health sweep must not restart it. */
const RUNNING_STATES = new Set(['running', 'pending']);

/**
 * The `controlplane` backend: a control plane runs each workspace's instance (upstream's "CP/EC2"
 * mode), spoken to over HTTP (wire-compatible with upstream):
 * - start: `POST /cp/workspaces/provision` with the workspace, its environment and its files,
 *   answering `{ instance_id, url? }`;
 * - stop: `DELETE /cp/workspaces/:id?instance_id=`; any 2xx, or 404 (already gone), is success;
 * - isRunning: `GET /cp/workspaces/:id/status` answering `{ state }`.
 * Every call sends the bearer token when one is configured and is bounded by its AbortSignal.
 */
export class ControlPlaneBackend implements Provisioner {
  readonly backend = 'controlplane' as const;
  readonly stopRetry: StopRetryPolicy;
  readonly files: WorkspaceFiles | undefined;
  readonly terminal: WorkspaceTerminal | undefined;
  private readonly base: string | undefined;

  constructor(private readonly opts: ControlPlaneBackendOptions) {
    this.base = opts.baseUrl?.replace(/\/+$/, '');
    this.files = opts.files;
    this.terminal = opts.terminal;
    this.stopRetry = opts.stopRetry ?? CONTROL_PLANE_STOP_RETRY;
  }

  /**
   * Asks the control plane for an instance. Rejects with `ControlPlaneNotConfiguredError` when
   * unconfigured, and with `ControlPlaneError` on a transport error, a non-2xx answer, or an answer
   * that is not JSON with a non-empty `instance_id` (and, if any, an http(s) `url`) within 64 KiB.
   */
  async start(spec: StartSpec, signal: AbortSignal): Promise<{ instanceId: string; url?: string }> {
    const ws = spec.workspace;
    const body = {
      workspace_id: ws.id,
      ...(this.opts.orgId ? { org_id: this.opts.orgId } : {}),
      name: ws.name,
      runtime: ws.runtime,
      tier: ws.tier,
      model: ws.model,
      platform_url: spec.env.PLATFORM_URL ?? '',
      ...(ws.runtime_image_digest ? { image_digest: ws.runtime_image_digest } : {}),
      env: spec.env,
      secret_files: spec.secretFiles,
      template_files: spec.templateFiles,
      apply_template: spec.applyTemplate,
    };
    const res = await this.call(ws.id, 'POST', '/cp/workspaces/provision', signal, body);
    const { bytes, truncated } = await readBody(res, MAX_ANSWER_BYTES);
    if (!res.ok) throw this.statusError(ws.id, 'provision', res.status, bytes);
    if (truncated) throw new ControlPlaneError(`control plane provision for workspace ${ws.id}: answer larger than ${MAX_ANSWER_BYTES} bytes`, res.status);
    const answer = parseJson(bytes, ProvisionAnswer);
    if (!answer.ok) {
      throw new ControlPlaneError(`control plane provision for workspace ${ws.id}: unexpected answer (${answer.reason}): ${excerpt(bytes)}`, res.status);
    }
    const { instance_id: instanceId, url } = answer.value;
    if (url !== undefined && url !== '' && !isHttpUrl(url)) {
      throw new ControlPlaneError(`control plane provision for workspace ${ws.id}: url is not an http(s) URL: ${excerpt(Buffer.from(url))}`, res.status);
    }
    return { instanceId, ...(url ? { url } : {}) };
  }

  /**
   * Terminates the workspace's instance. No instance id: nothing to stop, success without a call
   * (C105). Any 2xx and 404 (already gone) are success, so stops are safe to retry (C157); any
   * other status rejects with an error naming the workspace, the status and at most 512 bytes of
   * the body (C106).
   */
  async stop(ws: WorkspaceRow, signal: AbortSignal): Promise<void> {
    const instanceId = ws.instance_id ?? '';
    if (instanceId === '') return;
    const res = await this.call(ws.id, 'DELETE', `/cp/workspaces/${encodeURIComponent(ws.id)}?instance_id=${encodeURIComponent(instanceId)}`, signal);
    const { bytes } = await readBody(res, ERROR_EXCERPT_BYTES + 1);
    if (res.ok || res.status === 404) return;
    throw this.statusError(ws.id, 'terminate', res.status, bytes);
  }

  /**
   * Reads the instance's state (C107): `running`/`pending` -> running; `stopped`, `stopping`,
   * `terminated`, `shutting-down`, `not_found` -> stopped. No instance id -> stopped without a call
   * (C105). Anything else (a transport error, any non-2xx including 404, an unparseable answer, an
   * unknown state) -> unknown: a misrouted CP_URL must not make every workspace look dead.
   */
  async isRunning(ws: WorkspaceRow, signal: AbortSignal): Promise<RunningState> {
    const instanceId = ws.instance_id ?? '';
    if (instanceId === '') return { state: 'stopped' };
    try {
      const res = await this.call(ws.id, 'GET', `/cp/workspaces/${encodeURIComponent(ws.id)}/status?instance_id=${encodeURIComponent(instanceId)}`, signal);
      const { bytes, truncated } = await readBody(res, MAX_ANSWER_BYTES);
      if (!res.ok) return { state: 'unknown', error: this.statusError(ws.id, 'status', res.status, bytes) };
      const answer = truncated ? ({ ok: false, reason: 'oversize' } as const) : parseJson(bytes, StatusAnswer);
      if (!answer.ok) {
        return { state: 'unknown', error: new ControlPlaneError(`control plane status for workspace ${ws.id}: unexpected answer (${answer.reason})`, res.status) };
      }
      const state = answer.value.state.toLowerCase();
      if (RUNNING_STATES.has(state)) return { state: 'running' };
      if (STOPPED_STATES.has(state)) return { state: 'stopped' };
      return { state: 'unknown', error: new ControlPlaneError(`control plane status for workspace ${ws.id}: unknown state ${JSON.stringify(state)}`, res.status) };
    } catch (error) {
      return { state: 'unknown', error };
    }
  }

  private async call(workspaceId: string, method: string, path: string, signal: AbortSignal, body?: unknown): Promise<Response> {
    if (this.base === undefined) throw new ControlPlaneNotConfiguredError(workspaceId);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(`${this.base}${path}`, { method, headers, signal, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new ControlPlaneError(`control plane ${method} for workspace ${workspaceId} failed: ${err instanceof Error ? err.message : String(err)}`, undefined, {
        cause: err,
      });
    }
  }

  private statusError(workspaceId: string, what: string, status: number, body: Buffer): ControlPlaneError {
    return new ControlPlaneError(`control plane ${what} for workspace ${workspaceId} answered HTTP ${status}: ${excerpt(body)}`, status);
  }
}

/** At most `maxBytes` of a response body, and whether there was more (the rest is not read; the connection is released). */
async function readBody(res: Response, maxBytes: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  return res.body ? readCapped(res.body, maxBytes) : { bytes: Buffer.alloc(0), truncated: false };
}

/** A body excerpt for an error message: at most 512 bytes (C106). */
function excerpt(bytes: Buffer): string {
  const cut = bytes.subarray(0, ERROR_EXCERPT_BYTES).toString('utf8');
  return bytes.length > ERROR_EXCERPT_BYTES ? `${cut}...` : cut;
}

function parseJson<T>(bytes: Buffer, schema: z.ZodType<T>): { ok: true; value: T } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') };
  return { ok: true, value: parsed.data };
}

function isHttpUrl(raw: string): boolean {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
