import {
  isRecord,
  parseJson,
  type ActivityEntry,
  type Bundle,
  type BudgetView,
  type CanvasViewport,
  type CreateWorkspaceBody,
  type FileRoot,
  type FileTree,
  type InstallPluginResult,
  type PluginInfo,
  type UninstallPluginResult,
  type TerminalDiagnosis,
  type ExternalConnection,
  type OrgImportResult,
  type OrgTemplateSummary,
  type PatchBudgetBody,
  type PlatformEvent,
  type QueueItemView,
  type Schedule,
  type ScheduleRun,
  type SecretChange,
  type SecretView,
  type RuntimeSupportView,
  type TemplateSummary,
  type TokenView,
  type UpdateWorkspaceBody,
  type WorkspaceView,
} from '@molecule/contracts';
import { describeAnswer } from './answers.js';

/** A refused or failed API call: the HTTP status, the platform's error code and its safe message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
    /** For a refused request body: which field was wrong and why (`path` is like `/name`). */
    readonly details: readonly { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The platform answered 503 `platform_unavailable` (its database is down), or could not be reached. */
export class PlatformUnavailableError extends ApiError {
  constructor(message = 'The platform cannot be reached.') {
    super(503, 'platform_unavailable', message);
    this.name = 'PlatformUnavailableError';
  }
}

export interface ApiOptions {
  fetchImpl?: typeof fetch;
  timeoutMs?: number;
  /** How long to wait before the one retry of a GET answered 429, when Retry-After says nothing. */
  retryAfterMs?: number;
  /** A call was refused 401 (the session expired or was revoked): the page goes back to sign-in. */
  onUnauthorized?: () => void;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** A response's JSON body; undefined when it is empty or not JSON. */
async function jsonBody(r: Response): Promise<unknown> {
  return parseJson(await r.text());
}
const MAX_RETRY_WAIT_MS = 5_000;
const schedulesPath = (workspaceId: string) => `/workspaces/${encodeURIComponent(workspaceId)}/schedules`;
/** The URL of a workspace file (`/configs/a.md`), each segment encoded: also a download link (the session cookie authenticates it). */
export const fileUrl = (workspaceId: string, path: string) => `/workspaces/${encodeURIComponent(workspaceId)}/files${path.split('/').map(encodeURIComponent).join('/')}`;
const secretsPath = (workspaceId?: string) => (workspaceId ? `/workspaces/${encodeURIComponent(workspaceId)}/secrets` : '/settings/secrets');

/**
 * The canvas's API client: same-origin calls with the session cookie, JSON in and out, a timeout,
 * one retry of a GET answered 429 (after its Retry-After, at most 5 s), and typed errors: 401 is
 * ApiError('unauthorized'), 503 platform_unavailable or no answer at all is PlatformUnavailableError.
 */
export function createApi(opts: ApiOptions = {}) {
  const fetchImpl = opts.fetchImpl ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  /** A call whose body (sent or answered) is not JSON: the response when it is OK, else the same typed errors as `call`. */
  async function rawCall(method: string, path: string, body?: Blob | string): Promise<Response> {
    let r: Response;
    try {
      r = await fetchImpl(path, { method, credentials: 'same-origin', headers: body === undefined ? {} : { 'content-type': 'application/octet-stream' }, body, signal: AbortSignal.timeout(timeoutMs * 6) });
    } catch {
      throw new PlatformUnavailableError();
    }
    if (r.ok) return r;
    const err = (await jsonBody(r)) as { error?: unknown; code?: unknown } | undefined;
    const message = typeof err?.error === 'string' ? err.error : `HTTP ${r.status}`;
    if (r.status === 503 && err?.code === 'platform_unavailable') throw new PlatformUnavailableError(message);
    if (r.status === 401) opts.onUnauthorized?.();
    throw new ApiError(r.status, r.status === 401 ? 'unauthorized' : typeof err?.code === 'string' ? err.code : undefined, message);
  }

  async function call<T>(method: string, path: string, body?: unknown, retried = false): Promise<T> {
    let r: Response;
    try {
      r = await fetchImpl(path, {
        method,
        credentials: 'same-origin',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch {
      throw new PlatformUnavailableError();
    }
    if (r.status === 429 && method === 'GET' && !retried) {
      const after = Number(r.headers.get('retry-after'));
      const wait = Number.isFinite(after) && after > 0 ? Math.min(after * 1000, MAX_RETRY_WAIT_MS) : (opts.retryAfterMs ?? 1000);
      await new Promise((res) => setTimeout(res, wait));
      return call<T>(method, path, body, true);
    }
    const parsed = await jsonBody(r);
    if (r.ok) return parsed as T;
    const err = (parsed ?? {}) as { error?: unknown; code?: unknown; details?: unknown };
    const code = typeof err.code === 'string' ? err.code : undefined;
    const message = typeof err.error === 'string' ? err.error : `HTTP ${r.status}`;
    if (r.status === 503 && code === 'platform_unavailable') throw new PlatformUnavailableError(message);
    const details = Array.isArray(err.details)
      ? err.details.filter((d): d is { path: string; message: string } => typeof d?.path === 'string' && typeof d?.message === 'string')
      : [];
    if (r.status === 401 && path !== '/auth/login') opts.onUnauthorized?.();
    throw new ApiError(r.status, r.status === 401 ? 'unauthorized' : code, message, details);
  }

  return {
    /** Whether the platform answers and its database is up (`/health`). */
    async health(): Promise<{ ok: true } | { ok: false; message: string }> {
      try {
        const r = await fetchImpl('/health', { signal: AbortSignal.timeout(timeoutMs) });
        if (r.ok) return { ok: true };
        const b = await jsonBody(r);
        return { ok: false, message: `The platform is running, but reports: ${isRecord(b) && typeof b.error === 'string' ? b.error : `health check failed (HTTP ${r.status})`}.` };
      } catch {
        return { ok: false, message: 'The platform cannot be reached.' };
      }
    },
    login: (token: string) => call<{ status: string }>('POST', '/auth/login', { token }),
    workspaces: () => call<WorkspaceView[]>('GET', '/workspaces'),
    workspace: (id: string) => call<WorkspaceView>('GET', `/workspaces/${encodeURIComponent(id)}`),
    /** A new workspace; an external one comes with its connection (the token, shown once). */
    create: (body: CreateWorkspaceBody) => call<WorkspaceView & { connection?: ExternalConnection }>('POST', '/workspaces', body),
    /** Renames, re-parents or places a workspace. */
    update: (id: string, body: UpdateWorkspaceBody) => call<WorkspaceView>('PATCH', `/workspaces/${encodeURIComponent(id)}`, body),
    /** A workspace's chosen model or provider ("" with source "default" when none). */
    choice: (id: string, what: 'model' | 'provider') => call<{ model?: string; provider?: string; source: string }>('GET', `/workspaces/${encodeURIComponent(id)}/${what}`),
    /** Chooses (or with "" clears) the model or provider; the agent restarts to apply it when it can. */
    setChoice: (id: string, what: 'model' | 'provider', value: string) =>
      call<{ status: string; restarted: boolean }>('PUT', `/workspaces/${encodeURIComponent(id)}/${what}`, { [what]: value }),
    /** The workspace templates (the create dialog's choices). */
    templates: () => call<TemplateSummary[]>('GET', '/templates'),
    /** The runtimes and whether this platform's backend can run each (the create dialog offers the runnable ones). */
    runtimes: () => call<RuntimeSupportView[]>('GET', '/runtimes'),
    /** Adds a workspace template from files (path -> text), as a folder picked in the browser. */
    importTemplate: (name: string, files: Record<string, string>) => call<{ name: string; files: number }>('POST', '/templates/import', { name, files }),
    /** The org templates, each with the keys it still needs among the org-wide secrets. */
    orgTemplates: () => call<OrgTemplateSummary[]>('GET', '/org/templates'),
    /** Imports an org template: the new workspaces' ids at once; they then start. */
    importOrg: (dir: string) => call<OrgImportResult>('POST', '/org/import', { dir }),
    /** Creates the team the workspace's template declares, or removes its children. */
    team: (id: string, action: 'expand' | 'collapse') => call<{ status: string; children?: { id: string }[]; removed?: string[] }>('POST', `/workspaces/${encodeURIComponent(id)}/${action}`),
    /** A workspace and its subtree as one bundle file. */
    exportBundle: (id: string) => call<Bundle>('GET', `/bundles/export/${encodeURIComponent(id)}`),
    viewport: () => call<CanvasViewport>('GET', '/canvas/viewport'),
    saveViewport: (v: CanvasViewport) => call<{ status: string }>('PUT', '/canvas/viewport', v),
    /** A page of a workspace's activity, newest first (`before_ts` pages back), or the rows after a cursor (oldest first). */
    activity: (id: string, query: Record<string, string>) =>
      call<ActivityEntry[]>('GET', `/workspaces/${encodeURIComponent(id)}/activity?${new URLSearchParams(query).toString()}`),
    /** A workspace's recorded events, newest first (`before` pages back). */
    workspaceEvents: (id: string, before?: number) => call<PlatformEvent[]>('GET', `/events/${encodeURIComponent(id)}?limit=50${before ? `&before=${before}` : ''}`),
    tokens: (id: string) => call<{ tokens: TokenView[] }>('GET', `/workspaces/${encodeURIComponent(id)}/tokens`),
    /** An external workspace's connection with a fresh token stamped into every snippet (`POST /workspaces/:id/connection`). */
    connection: (id: string) => call<ExternalConnection>('POST', `/workspaces/${encodeURIComponent(id)}/connection`),
    createToken: (id: string) => call<{ id: string; auth_token: string; prefix: string }>('POST', `/workspaces/${encodeURIComponent(id)}/tokens`),
    revokeToken: (id: string, tokenId: string) => call<{ status: string }>('DELETE', `/workspaces/${encodeURIComponent(id)}/tokens/${encodeURIComponent(tokenId)}`),
    /** The org tokens (admin bearers for scripts), newest first: prefixes, never the tokens. */
    orgTokens: () => call<{ tokens: OrgTokenView[]; count: number }>('GET', '/org/tokens'),
    /** Mints an org token: the answer carries it, shown this once. */
    createOrgToken: (name?: string) => call<OrgTokenView & { auth_token: string }>('POST', '/org/tokens', name ? { name } : {}),
    revokeOrgToken: (id: string) => call<{ status: string }>('DELETE', `/org/tokens/${encodeURIComponent(id)}`),
    /** Org-wide secrets (no workspace), or a workspace's effective ones with where each comes from: names, never values. */
    secrets: (workspaceId?: string) => call<SecretView[]>('GET', secretsPath(workspaceId)),
    setSecret: (workspaceId: string | undefined, key: string, value: string, restart: boolean) =>
      call<SecretChange>('PUT', `${secretsPath(workspaceId)}${restart ? '?restart=true' : ''}`, { key, value }),
    deleteSecret: (workspaceId: string | undefined, key: string, restart: boolean) =>
      call<SecretChange>('DELETE', `${secretsPath(workspaceId)}/${encodeURIComponent(key)}${restart ? '?restart=true' : ''}`),
    /** A workspace's budget: limits, spend this period, its team's, and the limit that blocks calls to it. */
    budget: (id: string) => call<BudgetView>('GET', `/workspaces/${encodeURIComponent(id)}/budget`),
    /** Sets or (null) clears the budget limits and the period (admin). */
    setBudget: (id: string, body: PatchBudgetBody) => call<BudgetView>('PATCH', `/workspaces/${encodeURIComponent(id)}/budget`, body),
    /** Where a queued chat message is (waiting, delivered, failed) and, once delivered, the agent's answer. */
    queueItem: (id: string, queueId: string) => call<QueueItemView>('GET', `/workspaces/${encodeURIComponent(id)}/a2a/queue/${encodeURIComponent(queueId)}`),
    /** A lifecycle action on one workspace. */
    lifecycle: (id: string, action: 'restart' | 'pause' | 'resume' | 'hibernate') => call<{ status: string }>('POST', `/workspaces/${encodeURIComponent(id)}/${action}`),
    /** Removes a workspace and its whole subtree (`confirm` when it has live children). */
    remove: (id: string, confirm: boolean) => call<{ status: string }>('DELETE', `/workspaces/${encodeURIComponent(id)}${confirm ? '?confirm=true' : ''}`),
    /** The user's conversation with a workspace: its A2A exchanges from the canvas, newest first. */
    chatHistory: (id: string) => call<ActivityEntry[]>('GET', `/workspaces/${encodeURIComponent(id)}/activity?type=a2a_receive&source=canvas&limit=50`),
    /**
     * Sends `text` to the workspace's agent as `message/stream` through the proxy: a stream to read,
     * or (queued, busy, restarting, refused) the platform's answer in words.
     */
    async chatSend(
      id: string,
      messageId: string,
      text: string,
      files: ChatFile[] = [],
    ): Promise<{ kind: 'stream'; reader: ReadableStreamDefaultReader<Uint8Array> } | { kind: 'answer'; text: string; queueId?: string; inbox?: true }> {
      const parts = [
        ...(text ? [{ kind: 'text', text }] : []),
        ...files.map((f) => ({ kind: 'file', file: { uri: f.uri, name: f.name, ...(f.mimeType ? { mimeType: f.mimeType } : {}) } })),
      ];
      let r: Response;
      try {
        r = await fetchImpl(`/workspaces/${encodeURIComponent(id)}/a2a`, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ jsonrpc: '2.0', id: messageId, method: 'message/stream', params: { message: { kind: 'message', role: 'user', messageId, parts } } }),
        });
      } catch {
        throw new PlatformUnavailableError();
      }
      if (r.ok && (r.headers.get('content-type') ?? '').startsWith('text/event-stream') && r.body) return { kind: 'stream', reader: r.body.getReader() };
      const body = await jsonBody(r);
      const queueId = r.status === 202 && isRecord(body) && body.queued === true && typeof body.queue_id === 'string' ? body.queue_id : undefined;
      // A poll agent that did not reply in time: the message waits in its inbox, and the reply comes as an event.
      const inbox = r.status === 200 && isRecord(body) && body.delivery_mode === 'poll';
      return { kind: 'answer', text: describeAnswer(r.status, body), ...(queueId ? { queueId } : {}), ...(inbox ? { inbox: true as const } : {}) };
    },
    /**
     * Uploads files to the workspace for the chat (`POST /workspaces/:id/chat/uploads`, multipart):
     * what it stored, to send as file parts. A refusal is an ApiError with the platform's (or the
     * workspace's) message, e.g. a 413 naming the file.
     */
    async chatUpload(id: string, files: File[]): Promise<ChatFile[]> {
      const form = new FormData();
      for (const f of files) form.append('files', f, f.name);
      let r: Response;
      try {
        r = await fetchImpl(`/workspaces/${encodeURIComponent(id)}/chat/uploads`, { method: 'POST', credentials: 'same-origin', body: form });
      } catch {
        throw new PlatformUnavailableError();
      }
      const body = await jsonBody(r);
      if (!r.ok) {
        const e = isRecord(body) ? body : {};
        if (r.status === 401) opts.onUnauthorized?.();
        throw new ApiError(r.status, typeof e.code === 'string' ? e.code : undefined, typeof e.error === 'string' ? e.error : `HTTP ${r.status}`, []);
      }
      const list = isRecord(body) && Array.isArray(body.files) ? body.files : [];
      return list.filter((f): f is ChatFile => isRecord(f) && typeof f.uri === 'string' && typeof f.name === 'string');
    },
    /** Where a file kept in the workspace is downloaded from (a same-origin link: the session cookie goes with it). */
    chatDownloadUrl: (id: string, uri: string) => `/workspaces/${encodeURIComponent(id)}/chat/download?path=${encodeURIComponent(uri.replace(/^workspace:/, ''))}`,
    /** A workspace's cron schedules, oldest first. */
    schedules: (id: string) => call<Schedule[]>('GET', schedulesPath(id)),
    createSchedule: (id: string, body: { name: string; cron_expr: string; timezone: string; prompt: string; enabled: boolean }) => call<Schedule>('POST', schedulesPath(id), body),
    /** Changes the given fields (a new cron or time zone recomputes the next run). */
    updateSchedule: (id: string, scheduleId: string, body: Partial<{ name: string; cron_expr: string; timezone: string; prompt: string; enabled: boolean }>) =>
      call<Schedule>('PATCH', `${schedulesPath(id)}/${encodeURIComponent(scheduleId)}`, body),
    deleteSchedule: (id: string, scheduleId: string) => call<{ status: string }>('DELETE', `${schedulesPath(id)}/${encodeURIComponent(scheduleId)}`),
    /** Fires a schedule now; answers the run as it starts. */
    runSchedule: (id: string, scheduleId: string) => call<{ status: string; run: ScheduleRun }>('POST', `${schedulesPath(id)}/${encodeURIComponent(scheduleId)}/run`),
    /** A schedule's recent runs, newest first. */
    scheduleHistory: (id: string, scheduleId: string) => call<ScheduleRun[]>('GET', `${schedulesPath(id)}/${encodeURIComponent(scheduleId)}/history`),
    /** The entries under a dir of a workspace's file root (`path` relative to the root, "" for the root), one level deep. */
    /** The terminal pipeline's stages for a workspace, run without a session (always 200, C228). */
    terminalDiagnose: (id: string) => call<TerminalDiagnosis>('GET', `/workspaces/${encodeURIComponent(id)}/terminal/diagnose`),
    fileTree: (id: string, root: FileRoot, path: string) =>
      call<FileTree>('GET', `/workspaces/${encodeURIComponent(id)}/files?${new URLSearchParams({ root, path, depth: '1' }).toString()}`),
    /** One file as text, with its content type (binary files are for download, not the editor). */
    async readFile(id: string, path: string): Promise<{ text: string; type: string; source: string }> {
      const r = await rawCall('GET', fileUrl(id, path));
      return { text: await r.text(), type: r.headers.get('content-type') ?? '', source: r.headers.get('x-molecule-file-source') ?? 'workspace' };
    },
    /** Writes text files (absolute path -> text), all under one root. */
    saveFiles: (id: string, files: Record<string, string>) => call<{ written: string[] }>('PUT', `/workspaces/${encodeURIComponent(id)}/files`, { files }),
    /** Writes one file from the user's disk, as it is. */
    uploadFile: async (id: string, path: string, file: Blob) => (await rawCall('PUT', fileUrl(id, path), file)).json() as Promise<{ written: string[] }>,
    deleteFile: (id: string, path: string) => call<{ deleted: string }>('DELETE', fileUrl(id, path)),
    /** Memories the workspace may read, best first; `scope` narrows to one of its namespaces. */
    memories: (id: string, query: { q?: string; scope?: 'LOCAL' | 'TEAM' | 'GLOBAL' }) =>
      call<MemoryItem[]>('GET', `/workspaces/${encodeURIComponent(id)}/memories?${new URLSearchParams(Object.entries(query).filter(([, v]) => v) as [string, string][]).toString()}`),
    remember: (id: string, content: string, scope: 'LOCAL' | 'TEAM' | 'GLOBAL') => call<{ id: string; namespace: string }>('POST', `/workspaces/${encodeURIComponent(id)}/memories`, { content, scope }),
    forgetMemory: (id: string, memoryId: string, namespace: string) =>
      call<{ status: string }>('DELETE', `/workspaces/${encodeURIComponent(id)}/memories/${encodeURIComponent(memoryId)}?namespace=${encodeURIComponent(namespace)}`),
    /** The plugins installed in a workspace ([] while its agent is not running). */
    plugins: (id: string) => call<PluginInfo[]>('GET', `/workspaces/${encodeURIComponent(id)}/plugins`),
    /** The registry, each plugin marked for whether it works on `runtime`. */
    pluginRegistry: () => call<PluginInfo[]>('GET', '/plugins'),
    installPlugin: (id: string, source: string) => call<InstallPluginResult>('POST', `/workspaces/${encodeURIComponent(id)}/plugins`, { source }),
    uninstallPlugin: (id: string, name: string) => call<UninstallPluginResult>('DELETE', `/workspaces/${encodeURIComponent(id)}/plugins/${encodeURIComponent(name)}`),
    /** Persisted events after `seq`, oldest first (replay after a reconnect). */
    eventsAfter: (seq: number) => call<PlatformEvent[]>('GET', `/events?after=${seq}&limit=1000`),
  };
}

export type Api = ReturnType<typeof createApi>;

/** A memory as `GET /workspaces/:id/memories` lists it. */
export interface MemoryItem {
  id: string;
  namespace: string;
  scope: 'workspace' | 'team' | 'org' | 'custom';
  content: string;
  kind: string;
  created_at: string;
  expires_at: string | null;
  similarity_score?: number;
}

/** A chat file as the workspace stored it (`/chat/uploads`), sent as an A2A file part. */
export interface ChatFile {
  uri: string;
  name: string;
  mimeType?: string;
  size?: number;
}

/** An org token as listed: its prefix and who made it, never the token. */
export type OrgTokenView = TokenView & { name: string; created_by: string };
