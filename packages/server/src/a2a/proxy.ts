import type { Readable } from 'node:stream';
import { A2A_BUSY_CODE, EXTERNAL_RUNTIME, normalizeA2ARequest, QueueStatus, Status, type NormalizedA2ARequest, type WorkspaceView } from '@molecule/contracts';
import type { AppDeps } from '../deps.js';
import { canCommunicate } from '../hierarchy/access.js';
import { getWorkspace, toView } from '../workspaces/repo.js';
import { markInstanceDead, resumeWorkspace } from '../workspaces/lifecycle.js';
import { classifyDispatchError, readCapped, type DispatchFailure } from './dispatch.js';
import { dispatchTimer } from './idle.js';
import { enqueue, findByMessage } from './queue-repo.js';
import { addSpend, monthlySpendCents, usageOf } from './spend.js';
import type { ActivityInsert } from '../activity/service.js';

/** Agent-to-agent dispatches end after this long whatever happens (C042); user calls have no ceiling. */
export const AGENT_CALL_CEILING_SECONDS = 30 * 60;
/** Upstream answers that may mean "the agent is gone" (C046); 520 and 525 are not among them. */
export const DEAD_AGENT_STATUSES: ReadonlySet<number> = new Set([502, 503, 504, 521, 522, 523, 524]);
export const RESTART_RETRY_AFTER_SECONDS = 15;
export const BUSY_RETRY_AFTER_SECONDS = 30;

/** Who sends: a workspace (its own token) or the user (admin token, org token, canvas session). */
export type Caller = { kind: 'user'; label: string } | { kind: 'workspace'; id: string };

export type ProxyDeps = AppDeps;

/** What the route sends back: a JSON body (raw bytes pass through as they came), or a live stream. */
export type ProxyResult =
  | { kind: 'json'; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: 'raw'; status: number; contentType: string; body: Buffer }
  | { kind: 'stream'; status: number; contentType: string; body: Readable };

const json = (status: number, body: Record<string, unknown>, headers?: Record<string, string>): ProxyResult => ({
  kind: 'json',
  status,
  body,
  ...(headers ? { headers } : {}),
});

/** A JSON-RPC error answer to a request the proxy refuses before dispatch (HTTP 400). */
export function rpcError(id: unknown, code: number, message: string, field?: string): ProxyResult {
  return json(400, { jsonrpc: '2.0', id: id ?? null, error: { code, message, ...(field ? { data: { field } } : {}) } });
}

export interface ProxyRequest {
  targetId: string;
  caller: Caller;
  /** The parsed JSON body as the caller sent it. */
  body: unknown;
}

type Target = WorkspaceView;

async function loadTarget(deps: ProxyDeps, id: string): Promise<Target | undefined> {
  return deps.workspaceCache.get(id, async () => {
    const row = await getWorkspace(deps.db, id);
    return row && toView(row);
  });
}

/**
 * `POST /workspaces/:id/a2a`, after authentication. In order (C051): target lookup, hierarchy,
 * budget, payload normalisation, poll-mode short-circuit, then dispatch with SSRF re-check, idle
 * timeout, busy queueing and dead-agent handling. Never throws for agent-side failures: every
 * outcome is a ProxyResult with a safe message.
 */
export async function proxyA2A(deps: ProxyDeps, req: ProxyRequest): Promise<ProxyResult> {
  const target = await loadTarget(deps, req.targetId);
  if (!target) return json(404, { error: 'workspace not found', code: 'not_found' });
  if (target.status === Status.Removed) return json(410, { error: 'workspace was removed', code: 'gone' });

  const callerId = req.caller.kind === 'workspace' ? req.caller.id : null;
  if (callerId !== null && callerId !== target.id) {
    const decision = await canCommunicate(deps.db, callerId, target.id);
    if (!decision.allowed) {
      return json(403, { error: 'access denied: workspaces cannot communicate per hierarchy rules', code: 'forbidden', reason: decision.reason });
    }
  }

  if (target.budget_limit !== null && (await monthlySpendCents(deps.db, target.id)) >= target.budget_limit) {
    return json(402, { error: 'workspace budget limit exceeded', code: 'budget_exceeded' });
  }

  const normalized = normalizeA2ARequest(req.body);
  if (!normalized.ok) return rpcError(normalized.error.id, normalized.error.code, normalized.error.message, normalized.error.field);
  const rpc = normalized.value;
  if (rpc.request.params.expires_in_seconds !== undefined && expiresInSeconds(rpc.request.params) === undefined) {
    // Refused rather than silently ignored (upstream, C061, ignores it): a caller who asked for an
    // expiry and would not get one should hear about it.
    return rpcError(rpc.id, -32602, 'params.expires_in_seconds must be a positive whole number of seconds', 'params.expires_in_seconds');
  }

  if (target.delivery_mode === 'poll') {
    // A poll agent fetches its work; nothing is dialled, so there is no URL to check (C052).
    deps.a2a.record([receiveRow(target, callerId, rpc, { status: 'queued', summary: `${rpc.request.method} queued for a poll-mode agent` })]);
    return json(200, { status: 'queued', delivery_mode: 'poll', method: rpc.request.method });
  }

  const known = await alreadyQueued(deps, target, rpc);
  if (known) return known;
  // First come, first served: while older messages wait for this target, a new one queues behind
  // them instead of overtaking them whenever a slot happens to be free.
  if (rpc.kind !== 'other' && deps.a2a.drainer.hasQueued(target.id)) return busyResult(deps, target, callerId, rpc);
  return dispatchTo(deps, target, callerId, rpc, { allowQueue: true });
}

/**
 * A message the queue already holds is never sent again (C058): a retry gets the queue item's
 * state, or the agent's stored answer once it was delivered.
 */
async function alreadyQueued(deps: ProxyDeps, target: Target, rpc: NormalizedA2ARequest): Promise<ProxyResult | undefined> {
  const messageId = rpc.kind === 'other' ? undefined : messageIdOf(rpc);
  if (messageId === undefined || !deps.a2a.drainer.mayHold(target.id)) return undefined;
  const item = await findByMessage(deps.db, target.id, messageId);
  if (!item) return undefined;
  if (item.status === QueueStatus.Completed && item.response_body !== null) {
    return { kind: 'raw', status: item.response_status ?? 200, contentType: 'application/json', body: Buffer.from(JSON.stringify(item.response_body)) };
  }
  if (item.status === QueueStatus.Queued || item.status === QueueStatus.Dispatched) {
    return json(202, { queued: true, queue_id: item.id, status: item.status, message: 'this message is already queued' });
  }
  return json(409, { error: `this message was already handled (${item.status}); send a new messageId to try again`, code: 'conflict', queue_id: item.id, status: item.status });
}

/** The message id of a send/stream request (the idempotency key, C058), if any. */
export function messageIdOf(rpc: NormalizedA2ARequest): string | undefined {
  const m = rpc.request.params.message as { messageId?: unknown } | undefined;
  return typeof m?.messageId === 'string' ? m.messageId : undefined;
}

/** `params.expires_in_seconds` when it is a positive integer (C061); undefined otherwise (the proxy refuses a present but invalid value). */
export function expiresInSeconds(params: Record<string, unknown>): number | undefined {
  const v = params.expires_in_seconds;
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? Math.min(v, 365 * 24 * 3600) : undefined;
}

function delegationIdOf(rpc: NormalizedA2ARequest): string | null {
  const m = rpc.request.params.message as { metadata?: { delegation_id?: unknown } } | undefined;
  const d = m?.metadata?.delegation_id;
  return typeof d === 'string' && /^[0-9a-f-]{36}$/i.test(d) ? d : null;
}

/** An agent's explicit busy refusal: it never started the work, so delivering later is safe. */
export function isBusyAnswer(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const err = (body as { error?: unknown }).error;
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; data?: { busy?: unknown } };
  return e.code === A2A_BUSY_CODE || e.data?.busy === true;
}

function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
}

export interface DispatchOptions {
  /** A busy refusal is queued (proxy) or reported back to the caller (queue drain). */
  allowQueue: boolean;
}

/** What a delivery ended in, for the queue drain. */
export type Delivery =
  | { outcome: 'delivered'; status: number; body: unknown }
  | { outcome: 'busy' }
  | { outcome: 'failed'; error: string; retryable: boolean };

/**
 * Sends one normalised request to the target's agent and turns every outcome into a ProxyResult
 * (plus, for the drain, a Delivery). Activity rows are written after the exchange, off the
 * response path.
 */
export async function dispatchTo(
  deps: ProxyDeps,
  target: Target,
  callerId: string | null,
  rpc: NormalizedA2ARequest,
  opts: DispatchOptions,
  onDelivery?: (d: Delivery) => void,
): Promise<ProxyResult> {
  if (target.url === '') {
    onDelivery?.({ outcome: 'failed', error: `workspace has no URL (status ${target.status})`, retryable: true });
    if (target.status === Status.Hibernated) {
      wake(deps, target.id);
      return unavailable({ error: 'workspace is waking from hibernation; retry in ~15 seconds', waking: true, retry_after: RESTART_RETRY_AFTER_SECONDS });
    }
    return unavailable({ error: `workspace agent is not reachable yet (status ${target.status})`, status: target.status });
  }

  const idle = deps.runtimeOverrides.idleTimeoutSeconds(target.id) ?? deps.config.a2aIdleTimeoutSeconds;
  // Agent callers and queue deliveries get the ceiling; a user waiting on the canvas does not (C042).
  const ceiling = callerId !== null || !opts.allowQueue ? AGENT_CALL_CEILING_SECONDS : undefined;
  const timer = dispatchTimer(deps.a2a.activity, target.id, idle, ceiling);
  const started = performance.now();
  const method = rpc.request.method;
  const finish = (status: 'ok' | 'error' | 'queued' | 'busy', responseBody: unknown, error?: string) => {
    const durationMs = Math.round(performance.now() - started);
    deps.a2a.record(exchangeRows(target, callerId, rpc, { status, responseBody, durationMs, ...(error ? { error } : {}) }));
  };

  let res;
  try {
    res = await deps.a2a.dispatcher.post(target.url, JSON.stringify(rpc.request), timer.signal, rpc.kind === 'stream' ? 'text/event-stream, application/json' : 'application/json');
  } catch (err) {
    timer.done();
    const failure = classifyDispatchError(err);
    deps.log.warn({ workspace_id: target.id, failure, err }, 'a2a dispatch failed');
    finish('error', undefined, failure);
    onDelivery?.({ outcome: 'failed', error: failureMessage(failure), retryable: failure === 'unreachable' });
    return failureResult(deps, target, failure);
  }

  const streaming = rpc.kind === 'stream' && res.status >= 200 && res.status < 300 && res.contentType.startsWith('text/event-stream');
  if (streaming) {
    res.body.once('close', () => {
      timer.done();
      finish('ok', undefined);
      deps.a2a.freed(target.id);
    });
    onDelivery?.({ outcome: 'delivered', status: res.status, body: null });
    return { kind: 'stream', status: res.status, contentType: res.contentType, body: res.body };
  }

  let raw: Buffer;
  try {
    raw = await readCapped(res.body);
  } catch (err) {
    const failure = classifyDispatchError(err);
    deps.log.warn({ workspace_id: target.id, failure, err }, 'a2a answer could not be read');
    finish('error', undefined, failure);
    onDelivery?.({ outcome: 'failed', error: failureMessage(failure), retryable: false });
    return failure === 'too_large' || failure === 'other'
      ? json(502, { error: 'failed to read agent response', code: 'agent_error', delivery_confirmed: true })
      : failureResult(deps, target, failure);
  } finally {
    timer.done();
  }
  const answer = parseJson(raw);

  if (isBusyAnswer(answer)) {
    finish('busy', answer);
    if (!opts.allowQueue) {
      onDelivery?.({ outcome: 'busy' });
      return json(503, { error: 'workspace agent busy', code: 'agent_busy', busy: true });
    }
    return busyResult(deps, target, callerId, rpc);
  }

  if (res.status >= 200 && res.status < 300) {
    finish('ok', answer);
    onDelivery?.({ outcome: 'delivered', status: res.status, body: answer ?? null });
    deps.a2a.freed(target.id);
    const usage = usageOf(answer);
    if (usage) void addSpend(deps.db, target.id, usage).catch((err: unknown) => deps.log.error({ err, workspace_id: target.id }, 'could not record model spend'));
    if (callerId === null) {
      void deps.broadcaster
        .broadcastOnly('A2A_RESPONSE', target.id, { method, duration_ms: Math.round(performance.now() - started), response_body: answer ?? null })
        .catch((err: unknown) => deps.log.error({ err }, 'A2A_RESPONSE broadcast failed'));
    }
    return { kind: 'raw', status: res.status, contentType: 'application/json', body: raw };
  }

  finish('error', answer, `HTTP ${res.status}`);
  if (DEAD_AGENT_STATUSES.has(res.status) && (await markDeadIfStopped(deps, target))) {
    onDelivery?.({ outcome: 'failed', error: `agent answered HTTP ${res.status} and is not running; restart triggered`, retryable: true });
    return restartingResult();
  }
  onDelivery?.({ outcome: 'failed', error: `agent answered HTTP ${res.status}`, retryable: res.status >= 500 });
  // A JSON-RPC error body is the agent's answer to the caller: pass it through. Anything else is
  // replaced, so an agent's HTML error page or stack trace never reaches the caller.
  if (answer !== undefined && typeof answer === 'object' && answer !== null && 'jsonrpc' in answer) {
    return { kind: 'raw', status: res.status, contentType: 'application/json', body: raw };
  }
  return json(res.status, { error: `agent answered HTTP ${res.status}`, code: 'agent_error' });
}

function failureMessage(f: DispatchFailure): string {
  switch (f) {
    case 'idle_timeout':
      return 'the agent went quiet past the idle timeout';
    case 'ceiling':
      return 'the agent-to-agent time ceiling passed';
    case 'unreachable':
      return 'the agent could not be reached';
    case 'headers_timeout':
      return 'the agent did not answer in time';
    case 'connection_lost':
      return 'the connection to the agent was lost';
    case 'unsafe_url':
      return 'the agent URL is not allowed';
    case 'too_large':
      return 'the agent answer was too large';
    case 'other':
      return 'the agent request failed';
  }
}

async function failureResult(deps: ProxyDeps, target: Target, failure: DispatchFailure): Promise<ProxyResult> {
  switch (failure) {
    case 'unsafe_url':
      return json(502, { error: 'workspace URL is not publicly routable', code: 'agent_unreachable' });
    case 'idle_timeout':
    case 'ceiling':
    case 'headers_timeout':
      return json(504, { error: `${failureMessage(failure)}; the request was cancelled`, code: 'agent_timeout', delivery_confirmed: true });
    case 'unreachable':
    case 'connection_lost':
      // A dead agent gets a structured restart answer, never an opaque 502 (C059).
      if (await markDeadIfStopped(deps, target)) return restartingResult();
      return json(502, {
        error: failure === 'unreachable' ? 'failed to reach workspace agent' : 'the connection to the agent was lost; it may have received the message',
        code: 'agent_unreachable',
        delivery_confirmed: false,
      });
    default:
      return json(502, { error: 'failed to reach workspace agent', code: 'agent_unreachable' });
  }
}

/** The agent cannot take the request now (not registered, waking, restarting): 503 with Retry-After. */
function unavailable(body: { error: string } & Record<string, unknown>): ProxyResult {
  return json(503, { ...body, code: 'agent_unavailable' }, { 'retry-after': String(RESTART_RETRY_AFTER_SECONDS) });
}

function restartingResult(): ProxyResult {
  return unavailable({ error: 'workspace agent unreachable; restart triggered', restarting: true, retry_after: RESTART_RETRY_AFTER_SECONDS });
}

/**
 * C047, C048: asks the backend whether the agent runs. Not running: the workspace goes offline and
 * restarts in the background, and the answer is true. Running, unknown, external or no backend: false.
 */
async function markDeadIfStopped(deps: ProxyDeps, target: Target): Promise<boolean> {
  if (target.runtime === EXTERNAL_RUNTIME) return false;
  try {
    return await markInstanceDead({ ...deps, backend: deps.config.provisioner }, target.id, 'a2a_dead_answer');
  } catch (err) {
    deps.log.error({ err, workspace_id: target.id }, 'dead-agent check failed');
    return false;
  }
}

/** A message to a hibernated workspace wakes it (the caller retries after Retry-After). */
function wake(deps: ProxyDeps, id: string): void {
  void resumeWorkspace({ ...deps, backend: deps.config.provisioner }, id).catch((err: unknown) =>
    deps.log.warn({ err, workspace_id: id }, 'could not wake a hibernated workspace'),
  );
}

/** A busy agent and no queue row: the caller retries (Retry-After). */
function busyRetryLater(extra: { error?: string; native_session?: true } = {}): ProxyResult {
  return json(503, { error: 'workspace agent busy; retry after a short backoff', code: 'agent_busy', busy: true, retry_after: BUSY_RETRY_AFTER_SECONDS, ...extra }, {
    'retry-after': String(BUSY_RETRY_AFTER_SECONDS),
  });
}

async function busyResult(deps: ProxyDeps, target: Target, callerId: string | null, rpc: NormalizedA2ARequest): Promise<ProxyResult> {
  if (deps.runtimeOverrides.hasCapability(target.id, 'session')) {
    // The runtime owns its sessions and retries itself: no queue row (C045).
    return busyRetryLater({ error: 'workspace agent busy; the adapter handles retry (native_session)', native_session: true });
  }
  const messageId = messageIdOf(rpc);
  if (messageId === undefined) {
    return busyRetryLater();
  }
  // Nobody waits on a queued stream: it is delivered as a plain send, its answer kept on the item.
  const body = rpc.kind === 'stream' ? { ...rpc.request, method: rpc.dialect === 'v1' ? 'SendMessage' : 'message/send' } : rpc.request;
  try {
    const q = await enqueue(deps.db, {
      workspaceId: target.id,
      callerId,
      messageId,
      method: body.method,
      body,
      delegationId: delegationIdOf(rpc),
      expiresInSeconds: expiresInSeconds(rpc.request.params),
    });
    if (q.created) {
      void deps.broadcaster
        .broadcastOnly('A2A_QUEUED', target.id, { queue_id: q.row.id, caller_id: callerId, method: rpc.request.method, queue_depth: q.depth })
        .catch((err: unknown) => deps.log.error({ err }, 'A2A_QUEUED broadcast failed'));
    }
    // The agent may have freed up while we were queueing; a drain pass finds out now (C060).
    deps.a2a.drainer.hint(target.id);
    deps.a2a.drainer.kick(target.id);
    return json(202, {
      queued: true,
      queue_id: q.row.id,
      queue_depth: q.depth,
      status: q.row.status,
      message: 'workspace agent busy; request queued, will dispatch when capacity is available',
    });
  } catch (err) {
    deps.log.error({ err, workspace_id: target.id }, 'could not queue a busy request');
    return busyRetryLater();
  }
}

function summaryOf(method: string, target: Target, status: string, error?: string): string {
  return error ? `${method} to ${target.name} failed: ${error}` : `${method} -> ${target.name} (${status})`;
}

function receiveRow(target: Target, callerId: string | null, rpc: NormalizedA2ARequest, o: { status: string; summary: string }): ActivityInsert {
  return {
    workspace_id: target.id,
    activity_type: 'a2a_receive',
    source_id: callerId,
    target_id: target.id,
    method: rpc.request.method,
    summary: o.summary,
    request_body: rpc.request,
    status: o.status,
  };
}

/** The exchange as both sides see it: a2a_send on the calling workspace, a2a_receive on the target. */
function exchangeRows(
  target: Target,
  callerId: string | null,
  rpc: NormalizedA2ARequest,
  o: { status: string; responseBody: unknown; durationMs: number; error?: string },
): ActivityInsert[] {
  const base = {
    source_id: callerId,
    target_id: target.id,
    method: rpc.request.method,
    summary: summaryOf(rpc.request.method, target, o.status, o.error),
    request_body: rpc.request,
    response_body: o.responseBody ?? null,
    duration_ms: o.durationMs,
    status: o.status,
    ...(o.error ? { error_detail: o.error } : {}),
  };
  const rows: ActivityInsert[] = [{ workspace_id: target.id, activity_type: 'a2a_receive', ...base }];
  if (callerId !== null && callerId !== target.id) rows.push({ workspace_id: callerId, activity_type: 'a2a_send', ...base });
  return rows;
}
