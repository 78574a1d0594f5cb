import type { PlatformEvent, WorkspaceView } from '@molecule/contracts';

/** A refused or failed API call: the HTTP status, the platform's error code and its safe message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
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
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_RETRY_WAIT_MS = 5_000;

/**
 * The canvas's API client: same-origin calls with the session cookie, JSON in and out, a timeout,
 * one retry of a GET answered 429 (after its Retry-After, at most 5 s), and typed errors: 401 is
 * ApiError('unauthorized'), 503 platform_unavailable or no answer at all is PlatformUnavailableError.
 */
export function createApi(opts: ApiOptions = {}) {
  const fetchImpl = opts.fetchImpl ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

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
    const text = await r.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (r.ok) return parsed as T;
    const err = (parsed ?? {}) as { error?: unknown; code?: unknown };
    const code = typeof err.code === 'string' ? err.code : undefined;
    const message = typeof err.error === 'string' ? err.error : `HTTP ${r.status}`;
    if (r.status === 503 && code === 'platform_unavailable') throw new PlatformUnavailableError(message);
    throw new ApiError(r.status, r.status === 401 ? 'unauthorized' : code, message);
  }

  return {
    login: (token: string) => call<{ status: string }>('POST', '/auth/login', { token }),
    workspaces: () => call<WorkspaceView[]>('GET', '/workspaces'),
    workspace: (id: string) => call<WorkspaceView>('GET', `/workspaces/${encodeURIComponent(id)}`),
    /** A lifecycle action on one workspace. */
    lifecycle: (id: string, action: 'restart' | 'pause' | 'resume' | 'hibernate') => call<{ status: string }>('POST', `/workspaces/${encodeURIComponent(id)}/${action}`),
    /** Removes a workspace and its whole subtree (`confirm` when it has live children). */
    remove: (id: string, confirm: boolean) => call<{ status: string }>('DELETE', `/workspaces/${encodeURIComponent(id)}${confirm ? '?confirm=true' : ''}`),
    /** Persisted events after `seq`, oldest first (replay after a reconnect). */
    eventsAfter: (seq: number) => call<PlatformEvent[]>('GET', `/events?after=${seq}&limit=1000`),
  };
}

export type Api = ReturnType<typeof createApi>;
