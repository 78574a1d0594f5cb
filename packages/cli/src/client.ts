import { isRecord, type BudgetView, type CreateWorkspaceBody, type ExternalConnection, type OrgImportResult, type OrgTemplateSummary, type PatchBudgetBody, type PlatformEvent, type Schedule, type ScheduleRun, type SecretChange, type SecretView, type WorkspaceView } from '@molecule/contracts';

/** A workspace as `POST /workspaces` answers it; `connection` is present for runtime `external` only. */
export type CreatedWorkspace = WorkspaceView & { connection?: ExternalConnection };

export interface DeleteWorkspaceResult {
  status: 'removed' | 'purged';
  /** Descendants removed with it (the workspace itself not counted). */
  cascade_deleted: number;
}

export interface CreatedToken {
  id: string;
  auth_token: string;
  prefix: string;
  workspace_id: string;
  message: string;
}

/** The server answered with an error status; `message` is the server's own `error` text. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | undefined,
    readonly body: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** No HTTP answer at all: connection refused, unknown host, reset, or timeout. */
export class PlatformUnreachableError extends Error {
  override name = 'PlatformUnreachableError';
  constructor(
    readonly baseUrl: string,
    /** The system error code (ECONNREFUSED, ENOTFOUND, …) or `timeout`. */
    readonly reason: string,
  ) {
    super(`cannot reach the Molecule platform at ${baseUrl} (${reason})`);
  }
}

export interface ClientOptions {
  /** The platform's base URL, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  /** Admin token, org token (mol_org_…) or workspace token (mol_ws_…). */
  token: string;
  /** Per-request limit; defaults to 30 s. */
  timeoutMs?: number;
}

/** A typed client for the control plane's admin HTTP API, over the global `fetch`. */
export class MoleculeClient {
  readonly baseUrl: string;
  private readonly token: string;
  private readonly timeoutMs: number;

  constructor(opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** `GET /workspaces`: live workspaces (removed ones excluded). */
  listWorkspaces(): Promise<WorkspaceView[]> {
    return this.request('GET', '/workspaces');
  }

  /** `GET /workspaces/:id`. A removed workspace is an ApiError 410. */
  getWorkspace(id: string): Promise<WorkspaceView> {
    return this.request('GET', `/workspaces/${encodeURIComponent(id)}`);
  }

  /** `POST /workspaces`. An external workspace's answer carries its connection (token shown once). */
  createWorkspace(body: CreateWorkspaceBody): Promise<CreatedWorkspace> {
    return this.request('POST', '/workspaces', body);
  }

  /**
   * `DELETE /workspaces/:id`. Without `confirm`, a workspace with live children is an ApiError 409
   * with code `confirmation_required` and the children in `body.children`.
   */
  deleteWorkspace(id: string, opts: { confirm?: boolean; purge?: boolean } = {}): Promise<DeleteWorkspaceResult> {
    const q = new URLSearchParams();
    if (opts.confirm) q.set('confirm', 'true');
    if (opts.purge) q.set('purge', 'true');
    const qs = q.size > 0 ? `?${q.toString()}` : '';
    return this.request('DELETE', `/workspaces/${encodeURIComponent(id)}${qs}`);
  }

  /** `GET /events/:workspaceId`: the workspace's recorded events, newest first. */
  workspaceEvents(id: string, limit: number): Promise<PlatformEvent[]> {
    return this.request('GET', `/events/${encodeURIComponent(id)}?limit=${limit}`);
  }

  /** `POST /workspaces/:id/tokens`: mints a workspace token, shown once. */
  /** An external workspace's connect snippets: `mint` answers them with a fresh token (POST), otherwise with a placeholder (GET). */
  workspaceConnection(workspaceId: string, mint: boolean): Promise<ExternalConnection> {
    return this.request(mint ? 'POST' : 'GET', `/workspaces/${encodeURIComponent(workspaceId)}/connection`);
  }

  createWorkspaceToken(workspaceId: string): Promise<CreatedToken> {
    return this.request('POST', `/workspaces/${encodeURIComponent(workspaceId)}/tokens`);
  }

  /** Org-wide secrets (`/settings/secrets`), or one workspace's (`/workspaces/:id/secrets`, with provenance). */
  listSecrets(workspaceId?: string): Promise<SecretView[]> {
    return this.request('GET', secretsPath(workspaceId));
  }

  setSecret(key: string, value: string, opts: { workspaceId?: string; restart?: boolean } = {}): Promise<SecretChange> {
    return this.request('PUT', `${secretsPath(opts.workspaceId)}${opts.restart ? '?restart=true' : ''}`, { key, value });
  }

  deleteSecret(key: string, opts: { workspaceId?: string; restart?: boolean } = {}): Promise<SecretChange> {
    return this.request('DELETE', `${secretsPath(opts.workspaceId)}/${encodeURIComponent(key)}${opts.restart ? '?restart=true' : ''}`);
  }

  /** `GET /workspaces/:id/schedules`: the workspace's cron schedules, oldest first. */
  listSchedules(workspaceId: string): Promise<Schedule[]> {
    return this.request('GET', `/workspaces/${encodeURIComponent(workspaceId)}/schedules`);
  }

  createSchedule(workspaceId: string, body: { name: string; cron_expr: string; timezone?: string; prompt: string; enabled?: boolean }): Promise<Schedule> {
    return this.request('POST', `/workspaces/${encodeURIComponent(workspaceId)}/schedules`, body);
  }

  deleteSchedule(workspaceId: string, scheduleId: string): Promise<{ status: string }> {
    return this.request('DELETE', `/workspaces/${encodeURIComponent(workspaceId)}/schedules/${encodeURIComponent(scheduleId)}`);
  }

  /** `POST .../schedules/:scheduleId/run`: fires it now (the run as it starts). */
  runSchedule(workspaceId: string, scheduleId: string): Promise<{ status: string; run: ScheduleRun }> {
    return this.request('POST', `/workspaces/${encodeURIComponent(workspaceId)}/schedules/${encodeURIComponent(scheduleId)}/run`);
  }

  /** `GET /workspaces/:id/budget`: limits, spend this period, the team's, and what blocks calls. */
  getBudget(workspaceId: string): Promise<BudgetView> {
    return this.request('GET', `/workspaces/${encodeURIComponent(workspaceId)}/budget`);
  }

  /** `PATCH /workspaces/:id/budget` (admin): sets or (null) clears limits and the period. */
  setBudget(workspaceId: string, body: PatchBudgetBody): Promise<BudgetView> {
    return this.request('PATCH', `/workspaces/${encodeURIComponent(workspaceId)}/budget`, body);
  }

  /** `GET /org/templates`: the org templates on the platform, with the keys each lacks. */
  listOrgTemplates(): Promise<OrgTemplateSummary[]> {
    return this.request('GET', '/org/templates');
  }

  /**
   * `POST /org/import`: a template folder on the platform by name, or an inline template. A 412
   * (ApiError code `precondition_failed`) carries `missing_env` in its body.
   */
  importOrg(source: { dir: string } | { template: unknown }): Promise<OrgImportResult> {
    return this.request('POST', '/org/import', source);
  }

  /** `GET /admin/memories/export`: every memory; `incomplete` counts namespaces the store could not read. */
  async exportMemories(): Promise<{ entries: MemoryExportEntry[]; incomplete: number }> {
    let incomplete = 0;
    const entries = await this.request<MemoryExportEntry[]>('GET', '/admin/memories/export', undefined, (h) => void (incomplete = Number(h.get('x-molecule-export-incomplete') ?? 0)));
    return { entries, incomplete };
  }

  /** `POST /admin/memories/import?mode=`: stores (or, dry_run, counts; verify, checks) an export's entries. */
  importMemories(entries: unknown[], mode: MemoryImportMode): Promise<MemoryImportResult> {
    return this.request('POST', `/admin/memories/import?mode=${mode}`, entries);
  }

  private async request<T>(method: string, path: string, body?: unknown, onHeaders?: (h: Headers) => void): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    // No content-type without a body: Fastify rejects an empty body declared as JSON.
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new PlatformUnreachableError(this.baseUrl, networkReason(err));
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // Not JSON: something other than the platform answered (a proxy, another service).
      throw new ApiError(res.status, `unexpected non-JSON answer (HTTP ${res.status}) from ${this.baseUrl}`, undefined, {});
    }
    if (!res.ok) {
      const obj = isRecord(parsed) ? parsed : {};
      const message = typeof obj.error === 'string' ? obj.error : `HTTP ${res.status}`;
      throw new ApiError(res.status, message, typeof obj.code === 'string' ? obj.code : undefined, obj);
    }
    onHeaders?.(res.headers);
    return parsed as T;
  }
}

export interface MemoryExportEntry {
  id: string;
  content: string;
  scope: 'LOCAL' | 'TEAM' | 'GLOBAL';
  namespace: string;
  created_at: string;
  workspace_name: string;
  workspace_id: string;
}
export type MemoryImportMode = 'apply' | 'dry_run' | 'verify';
export interface MemoryImportResult {
  mode: MemoryImportMode;
  total: number;
  imported: number;
  skipped: number;
  errors: number;
  skipped_by_reason: Record<string, number>;
  missing?: number[];
}

const secretsPath = (workspaceId?: string) => (workspaceId ? `/workspaces/${encodeURIComponent(workspaceId)}/secrets` : '/settings/secrets');

/** undici wraps the system error in `cause` (often an AggregateError for multi-address hosts). */
function networkReason(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timeout';
  let cause: unknown = err instanceof Error ? err.cause : undefined;
  if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0];
  const code = isRecord(cause) && typeof cause.code === 'string' ? cause.code : undefined;
  if (code) return code;
  return err instanceof Error ? err.message : String(err);
}
