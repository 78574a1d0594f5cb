import { parseJson, type PlatformEvent, type WorkspaceView } from '@molecule/contracts';
import { describeAnswer } from './answers.js';

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

/** A response's JSON body; undefined when it is empty or not JSON. */
async function jsonBody(r: Response): Promise<unknown> {
  return parseJson(await r.text());
}
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
    const parsed = await jsonBody(r);
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
    /** The user's conversation with a workspace: its A2A exchanges from the canvas, newest first. */
    chatHistory: (id: string) =>
      call<{ id: string; request_body?: unknown; response_body?: unknown; status: string; error_detail: string | null }[]>('GET', `/workspaces/${encodeURIComponent(id)}/activity?type=a2a_receive&source=canvas&limit=50`),
    /**
     * Sends `text` to the workspace's agent as `message/stream` through the proxy: a stream to read,
     * or (queued, busy, restarting, refused) the platform's answer in words.
     */
    async chatSend(id: string, messageId: string, text: string): Promise<{ kind: 'stream'; reader: ReadableStreamDefaultReader<Uint8Array> } | { kind: 'answer'; text: string }> {
      let r: Response;
      try {
        r = await fetchImpl(`/workspaces/${encodeURIComponent(id)}/a2a`, {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify({ jsonrpc: '2.0', id: messageId, method: 'message/stream', params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text }] } } }),
        });
      } catch {
        throw new PlatformUnavailableError();
      }
      if (r.ok && (r.headers.get('content-type') ?? '').startsWith('text/event-stream') && r.body) return { kind: 'stream', reader: r.body.getReader() };
      return { kind: 'answer', text: describeAnswer(r.status, await jsonBody(r)) };
    },
    /** Persisted events after `seq`, oldest first (replay after a reconnect). */
    eventsAfter: (seq: number) => call<PlatformEvent[]>('GET', `/events?after=${seq}&limit=1000`),
  };
}

export type Api = ReturnType<typeof createApi>;
