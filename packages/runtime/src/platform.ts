import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pRetry, { AbortError } from 'p-retry';
import {
  HeartbeatResponse,
  isSelfActivity,
  RegisterResponse,
  type ActivityReportBody,
  type HeartbeatBody,
  type RegisterBody,
} from '@molecule/contracts';
import type { ToolUse } from './adapters/index.js';
import { AUTH_TOKEN_FILE, INBOUND_SECRET_FILE, type AgentConfig } from './config.js';
import type { Logger } from './log.js';
import type { TokenSource } from './platform-tools.js';
import { readSecretFile, writeSecretFileAtomic } from './secret-file.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_REGISTER_BACKOFF = { initialMs: 1000, maxMs: 30_000 } as const;
/** C038: this many rejected heartbeats in a row earn one ERROR log. */
export const REJECTIONS_BEFORE_ESCALATION = 3;
/**
 * Answers meaning "this agent is not (or no longer) welcome": a bad or revoked token (401), a token
 * for another workspace (403), an unknown (404) or removed (410) workspace.
 */
const REJECTED = new Set([401, 403, 404, 410]);

export interface PlatformClientOptions {
  platformUrl: string;
  workspaceId: string;
  configsDir: string;
  token: string;
  tokenSource: AgentConfig['tokenSource'];
  registerBody: () => RegisterBody;
  heartbeatBody: () => HeartbeatBody;
  heartbeatIntervalMs: number;
  requestTimeoutMs?: number;
  registerBackoff?: { initialMs: number; maxMs: number };
  /** Sent on every request besides the bearer (molecule-mcp sends `Origin: PLATFORM_URL`, C036). */
  headers?: Record<string, string>;
  /** Told once how registering ended: registered, or rejected for good with the HTTP status. */
  onRegisterResult?: (result: { state: 'registered' } | { state: 'rejected'; status: number; error: string }) => void;
  log: Logger;
}

/** `pending` while retrying, `rejected` after a non-retryable answer, `registered` on success. */
export type RegisterState = 'pending' | 'registered' | 'rejected' | 'stopped';

/** Statuses worth retrying a register on: the platform (or a proxy in front of it) is not ready. */
function retryable(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/**
 * The agent's side of the registry. `start` registers (retrying with capped exponential backoff
 * while the platform is unreachable or answers 5xx/429; a 4xx is final and logged), then
 * heartbeats every interval until `stop`. Secrets the platform returns are persisted (C034); auth
 * failures on heartbeats escalate once (C038). Nothing here throws into the agent: the platform
 * being away never takes the A2A server down.
 */
export class PlatformClient {
  state: RegisterState = 'pending';
  private token: string;
  /** Aborted by stop(): ends the retries, the sleeps and every request in flight at once. */
  private readonly stopping = new AbortController();
  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }
  private loop: Promise<void> | undefined;
  private rejections = 0;
  private beatFailures = 0;
  private persistedSecret: string | undefined;
  private secretWriteFailures = 0;
  private reportFailures = 0;

  constructor(private readonly opts: PlatformClientOptions) {
    this.token = opts.token;
  }

  /**
   * The workspace bearer as every platform call of this agent uses it (registry, activity, the
   * platform tools): one value, replaced by a register answer or a re-read of the token file.
   */
  readonly tokens: TokenSource = {
    current: () => this.token,
    reload: async () => {
      if (this.opts.tokenSource !== 'file') return false;
      try {
        const fresh = await readSecretFile(path.join(this.opts.configsDir, AUTH_TOKEN_FILE));
        if (!fresh || fresh === this.token) return false;
        this.token = fresh;
        this.log.info('the workspace token changed on disk; using the new one');
        return true;
      } catch (err) {
        this.log.warn({ err }, 'could not re-read the workspace token');
        return false;
      }
    },
  };

  private get log(): Logger {
    return this.opts.log;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops registering and heartbeating; an in-flight request is aborted. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('agent stopping'));
    await this.loop;
    if (this.state === 'pending') this.state = 'stopped';
  }

  private async run(): Promise<void> {
    try {
      this.persistedSecret = await readSecretFile(path.join(this.opts.configsDir, INBOUND_SECRET_FILE));
    } catch (err) {
      this.log.warn({ err }, 'could not read the stored platform inbound secret; the next one received is written anew');
    }
    await this.registerWithRetry();
    while (!this.stopped) {
      try {
        await this.heartbeat();
      } catch (err) {
        // A bug in building or handling a beat must not end the loop: the next beat may succeed.
        this.log.error({ err }, 'heartbeat failed unexpectedly');
      }
      await this.sleep(this.opts.heartbeatIntervalMs);
    }
  }

  private async registerWithRetry(): Promise<void> {
    const backoff = this.opts.registerBackoff ?? DEFAULT_REGISTER_BACKOFF;
    try {
      await pRetry(
        async (attempt) => {
          const r = await this.post('/registry/register', this.opts.registerBody());
          if (r.status >= 200 && r.status < 300) {
            const parsed = RegisterResponse.safeParse(r.json);
            if (!parsed.success) this.log.warn({ issues: parsed.error.issues }, 'unexpected register response shape; using what it holds');
            const body = (r.json ?? {}) as Record<string, unknown>;
            await this.persistAuthToken(body.auth_token);
            await this.persistInboundSecret(body.platform_inbound_secret);
            this.state = 'registered';
            this.log.info({ attempt, delivery_mode: body.delivery_mode }, 'registered with the platform');
            this.opts.onRegisterResult?.({ state: 'registered' });
            return;
          }
          if (!retryable(r.status)) {
            this.state = 'rejected';
            const hint = REJECTED.has(r.status)
              ? 'the platform does not accept this workspace: it was probably removed or its token revoked'
              : 'the platform refused the registration';
            this.log.error({ status: r.status, error: errorText(r.json) }, `registration failed for good: ${hint}; heartbeats continue`);
            this.opts.onRegisterResult?.({ state: 'rejected', status: r.status, error: errorText(r.json) });
            throw new AbortError(`HTTP ${r.status}`);
          }
          throw new Error(`HTTP ${r.status}`);
        },
        {
          // Forever, doubling from initialMs to maxMs with up to 20% jitter, until stop().
          retries: Number.POSITIVE_INFINITY,
          factor: 2,
          minTimeout: backoff.initialMs,
          maxTimeout: backoff.maxMs,
          randomize: false,
          signal: this.stopping.signal,
          shouldRetry: () => !this.stopped,
          onFailedAttempt: async ({ error, attemptNumber }) => {
            if (this.stopped) return;
            const base = Math.min(backoff.initialMs * 2 ** (attemptNumber - 1), backoff.maxMs);
            const jitter = Math.round(base * Math.random() * 0.2);
            const entry = { attempt: attemptNumber, retry_in_ms: base + jitter, reason: error.message, platform_url: this.opts.platformUrl };
            if (attemptNumber <= 3 || attemptNumber % 10 === 0) this.log.warn(entry, 'platform not reachable for registration; retrying');
            else this.log.debug(entry, 'platform not reachable for registration; retrying');
            // The jitter, before p-retry's own (unrandomized) wait of `base`.
            await this.sleep(jitter);
          },
        },
      );
    } catch {
      // Rejected for good (logged above) or stopped: heartbeats go on either way.
    }
  }

  private async heartbeat(): Promise<void> {
    let r: { status: number; json: unknown };
    try {
      r = await this.post('/registry/heartbeat', this.opts.heartbeatBody());
    } catch (err) {
      if (!this.stopped) this.beatFailed((err as Error).message);
      return;
    }
    if (REJECTED.has(r.status)) return this.rejected(r.status);
    this.rejections = 0;
    if (r.status < 200 || r.status >= 300) return this.beatFailed(`HTTP ${r.status}: ${errorText(r.json)}`);
    if (this.beatFailures > 0) this.log.info({ failed_beats: this.beatFailures }, 'heartbeats accepted again');
    this.beatFailures = 0;
    const parsed = HeartbeatResponse.safeParse(r.json);
    if (!parsed.success) this.log.warn({ issues: parsed.error.issues }, 'unexpected heartbeat response shape');
    await this.persistInboundSecret((r.json as Record<string, unknown> | undefined)?.platform_inbound_secret);
  }

  private beatFailed(reason: string): void {
    this.beatFailures++;
    const entry = { failed_beats: this.beatFailures, reason };
    if (this.beatFailures <= 3 || this.beatFailures % 10 === 0) this.log.warn(entry, 'heartbeat failed');
    else this.log.debug(entry, 'heartbeat failed');
  }

  private async rejected(status: number): Promise<void> {
    this.rejections++;
    // The platform may have re-issued the token into the configs dir: pick it up for the next beat.
    if (status === 401 || status === 403) await this.tokens.reload();
    const entry = { status, consecutive: this.rejections };
    if (this.rejections === REJECTIONS_BEFORE_ESCALATION) {
      this.log.error(
        { ...entry, workspace_id: this.opts.workspaceId },
        `the platform rejected ${this.rejections} heartbeats in a row (HTTP ${status}): this workspace was probably removed or its token revoked. ` +
          'The agent keeps serving but the platform no longer tracks it; re-provision the workspace or give the agent a valid token and restart it.',
      );
    } else if (this.rejections < REJECTIONS_BEFORE_ESCALATION) {
      this.log.warn(entry, 'heartbeat rejected by the platform');
    } else {
      this.log.debug(entry, 'heartbeat rejected by the platform');
    }
  }

  /** C034: non-empty, changed values only; errors are logged and swallowed. */
  private async persistInboundSecret(value: unknown): Promise<void> {
    if (typeof value !== 'string' || value.trim() === '' || value === this.persistedSecret) return;
    const file = path.join(this.opts.configsDir, INBOUND_SECRET_FILE);
    try {
      await writeSecretFileAtomic(file, value);
      this.persistedSecret = value;
      this.secretWriteFailures = 0;
      this.log.info({ file }, 'platform inbound secret stored');
    } catch (err) {
      // Retried on every beat; said loudly on the first failure and now and then after.
      this.secretWriteFailures++;
      const loud = this.secretWriteFailures === 1 || this.secretWriteFailures % 30 === 0;
      this.log[loud ? 'error' : 'debug']({ err, file, failures: this.secretWriteFailures }, 'could not store the platform inbound secret; keeping the previous one');
    }
  }

  /** A token handed out at register replaces the current one, in memory and in the configs dir. */
  private async persistAuthToken(value: unknown): Promise<void> {
    if (typeof value !== 'string' || value.trim() === '' || value === this.token) return;
    this.token = value;
    const file = path.join(this.opts.configsDir, AUTH_TOKEN_FILE);
    try {
      await writeSecretFileAtomic(file, value);
      this.log.info({ file }, 'workspace token stored');
    } catch (err) {
      this.log.error({ err, file }, 'could not store the workspace token; it is used for this run only');
    }
  }

  /**
   * Reports one activity entry about this agent to the platform (`POST /workspaces/:id/activity`).
   * Rows about the agent's own actions target the workspace itself (C037). Never throws: a failed
   * report is logged (the first, then every 50th) and answered false; the agent's work goes on.
   */
  async reportActivity(report: ActivityReportBody): Promise<boolean> {
    if (this.stopped) return false;
    const body = isSelfActivity(report.activity_type) && !report.target_id ? { ...report, target_id: this.opts.workspaceId } : report;
    let failure: string;
    try {
      const r = await this.post(`/workspaces/${encodeURIComponent(this.opts.workspaceId)}/activity`, body);
      if (r.status >= 200 && r.status < 300) {
        this.reportFailures = 0;
        return true;
      }
      failure = `HTTP ${r.status}: ${errorText(r.json)}`;
    } catch (err) {
      if (this.stopped) return false;
      failure = (err as Error).message;
    }
    this.reportFailures++;
    const loud = this.reportFailures === 1 || this.reportFailures % 50 === 0;
    this.log[loud ? 'warn' : 'debug'](
      { reason: failure, failed_reports: this.reportFailures, activity_type: report.activity_type },
      'could not report activity to the platform',
    );
    return false;
  }

  /** Reports a tool use as an agent_log row (upstream's trace previews: input 500, output 300 characters). */
  reportToolUse(use: ToolUse): Promise<boolean> {
    return this.reportActivity(toolUseReport(use));
  }

  /**
   * Sends the agent card again (plugins changed its skills): `POST /registry/update-card`. Best effort:
   * a failure is logged and the next register sends the current card anyway.
   */
  async updateCard(card: Record<string, unknown>): Promise<boolean> {
    try {
      const r = await this.post('/registry/update-card', { workspace_id: this.opts.workspaceId, agent_card: card });
      if (r.status < 300) return true;
      this.log.warn({ status: r.status, reason: errorText(r.json) }, 'could not send the updated agent card to the platform');
    } catch (err) {
      if (!this.stopped) this.log.warn({ reason: (err as Error).message }, 'could not send the updated agent card to the platform');
    }
    return false;
  }

  private async post(pathname: string, body: unknown): Promise<{ status: number; json: unknown }> {
    try {
      const res = await fetch(`${this.opts.platformUrl}${pathname}`, {
        method: 'POST',
        headers: { ...this.opts.headers, 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
        body: JSON.stringify(body),
        signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS)]),
      });
      const text = await res.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = { error: text.slice(0, 200) };
      }
      return { status: res.status, json };
    } catch (err) {
      if (err instanceof Error && err.name === 'TimeoutError') throw new Error(`no answer within ${this.opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS} ms`);
      // fetch wraps the cause ("fetch failed"); the cause (ECONNREFUSED...) is what an operator needs.
      const cause = (err as { cause?: { message?: string; code?: string } }).cause;
      throw new Error(cause?.code ?? cause?.message ?? (err as Error).message);
    }
  }

  /** Waits `ms`, or less when stop() is called. */
  private async sleep(ms: number): Promise<void> {
    await delay(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }
}

function errorText(json: unknown): string {
  if (typeof json === 'object' && json !== null && typeof (json as { error?: unknown }).error === 'string') return (json as { error: string }).error;
  return '';
}

const preview = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}…` : s);

/** The agent_log row for one tool use. */
export function toolUseReport(use: ToolUse): ActivityReportBody {
  return {
    activity_type: 'agent_log',
    method: preview(use.name, 256),
    summary: use.input ? `${preview(use.name, 256)}: ${preview(use.input, 200)}` : use.name,
    status: use.error ? 'error' : 'ok',
    ...(use.error ? { error_detail: preview(use.error, 2000) } : {}),
    ...(use.durationMs !== undefined ? { duration_ms: Math.max(0, Math.round(use.durationMs)) } : {}),
    request_body: { tool: use.name, ...(use.input !== undefined ? { input: preview(use.input, 500) } : {}) },
    ...(use.output !== undefined ? { response_body: { output: preview(use.output, 300) } } : {}),
  };
}
