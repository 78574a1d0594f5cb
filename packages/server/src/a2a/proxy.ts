import { Readable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { A2A_BUSY_CODE, ACTIVITY_STATUS_QUEUED, answersAsStream, EXTERNAL_RUNTIME, isRecord, normalizeA2ARequest, parseJson, QueueStatus, Status, type A2ADialect, type NormalizedA2ARequest, type WorkspaceView } from '@molecule/contracts';
import { recordActivity, type ActivityInsert } from '../activity/service.js';
import type { SocketHolder } from '../agent-socket/mesh.js';
import { awaitReply } from '../inbox/service.js';
import type { AppDeps } from '../deps.js';
import { budgetGate, recordUsage } from '../budgets/service.js';
import { canCommunicate } from '../hierarchy/access.js';
import { markInstanceDead, resumeWorkspace, type LifecycleDeps } from '../workspaces/lifecycle.js';
import { getWorkspace, toView } from '../workspaces/read.js';
import { bridgeExchange, bridgeTo } from './bridge.js';
import { classifyDispatchError, readAnswer, type DispatchFailure } from './dispatch.js';
import { dispatchTimer } from './idle.js';
import { AGENT_CALL_CEILING_SECONDS, DEAD_AGENT_STATUSES } from './limits.js';
import { isBusyTimeout, type AgentFailure, type ProxyOutcome } from './outcome.js';
import { enqueue, findByMessage } from './queue-repo.js';
import { tapLastSseEvent } from './sse-tap.js';
import { usageOf } from './spend.js';

/** Who sends: a workspace (its own token) or the user (admin token, org token, canvas session). */
export type Caller = { kind: 'user'; label: string } | { kind: 'workspace'; id: string };

/** What the proxy touches: the target's row (cached), spend, the A2A machinery, and the lifecycle for dead or hibernated agents. */
export type ProxyDeps = Pick<AppDeps, 'workspaceCache' | 'runtimeOverrides' | 'a2a' | 'bus'> & LifecycleDeps;

export interface ProxyRequest {
  targetId: string;
  caller: Caller;
  /** The parsed JSON body as the caller sent it. */
  body: unknown;
  /** The caller's own idle timeout for this request (X-Timeout), already capped at the ceiling. */
  idleTimeoutSeconds?: number;
  /**
   * Aborted when the caller went away: a wait for a poll agent's reply ends (the message stays in its
   * inbox, and a later reply is still stored). A dispatch to an agent goes on: its answer is recorded.
   */
  signal?: AbortSignal;
  /**
   * Queue the message instead of dialling the agent, as if it had answered busy: for a sender that
   * knows the agent cannot take it now (the scheduler, for a workspace at max_concurrent_tasks or
   * not up yet, C267). A hibernated target is woken; the queue delivers when it has a free slot.
   */
  queue?: boolean;
}

/**
 * A user's `message/send` of one text, as the canvas sends it, for senders inside the platform (the
 * scheduler): the same proxy path, the same hierarchy, budget and queue rules. `messageId` is the
 * queue's idempotency key (C058); `expiresInSeconds` bounds how long a queued copy waits (C061).
 */
export function userTextRequest(
  targetId: string,
  text: string,
  opts: { label: string; messageId: string; metadata?: Record<string, unknown>; expiresInSeconds?: number; queue?: boolean },
): ProxyRequest {
  const message = { kind: 'message', role: 'user', messageId: opts.messageId, parts: [{ kind: 'text', text }], ...(opts.metadata ? { metadata: opts.metadata } : {}) };
  return {
    targetId,
    caller: { kind: 'user', label: opts.label },
    body: { jsonrpc: '2.0', id: opts.messageId, method: 'message/send', params: { message, ...(opts.expiresInSeconds !== undefined ? { expires_in_seconds: opts.expiresInSeconds } : {}) } },
    ...(opts.queue === true ? { queue: true } : {}),
  };
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
 * outcome is a ProxyOutcome (the route maps it to HTTP).
 */
export async function proxyA2A(deps: ProxyDeps, req: ProxyRequest): Promise<ProxyOutcome> {
  const target = await loadTarget(deps, req.targetId);
  if (!target) return { kind: 'refused', reason: 'not_found' };
  if (target.status === Status.Removed) return { kind: 'refused', reason: 'gone' };

  const callerId = req.caller.kind === 'workspace' ? req.caller.id : null;
  if (callerId !== null && callerId !== target.id) {
    const decision = await canCommunicate(deps.db, callerId, target.id);
    if (!decision.allowed) return { kind: 'refused', reason: 'forbidden', detail: decision.reason };
  }

  const budget = await budgetGate(deps, target.id);
  if (budget) return { kind: 'refused', reason: 'budget_exceeded', budget };

  const normalized = normalizeA2ARequest(req.body);
  if (!normalized.ok) return { kind: 'invalid', error: normalized.error };
  const rpc = normalized.value;
  if (rpc.request.params.expires_in_seconds !== undefined && expiresInSeconds(rpc.request.params) === undefined) {
    // Refused rather than silently ignored (upstream, C061, ignores it): a caller who asked for an
    // expiry and would not get one should hear about it.
    const field = 'params.expires_in_seconds';
    return { kind: 'invalid', error: { id: rpc.id, code: -32602, message: `${field} must be a positive whole number of seconds`, field }, ownParam: true };
  }

  // A poll agent with a live outbound socket (on any replica) gets pushes too (#15); without one, its inbox holds the message.
  const socket = await deps.a2a.mesh.locate(target);
  if (target.delivery_mode === 'poll' && !socket) return pollDeliver(deps, target, callerId, rpc, req.idleTimeoutSeconds, req.signal);

  const known = await alreadyQueued(deps, target, rpc);
  if (known) return known;
  // First come, first served: while older messages wait for this target, a new one queues behind
  // them instead of overtaking them whenever a slot happens to be free.
  if (rpc.kind !== 'other' && (req.queue === true || deps.a2a.drainer.hasQueued(target.id))) {
    if (req.queue === true && target.status === Status.Hibernated) wake(deps, target.id);
    return queueBusy(deps, target, callerId, rpc);
  }
  return dispatchTo(deps, target, callerId, rpc, { allowQueue: true, socket: socket ?? null, ...(req.idleTimeoutSeconds !== undefined ? { idleTimeoutSeconds: req.idleTimeoutSeconds } : {}) });
}

/** Methods whose sender waits for a poll agent's reply; anything else is recorded and answered queued at once. */
const POLL_WAITED_METHODS: ReadonlySet<string> = new Set(['message/send', 'SendMessage', 'message/stream', 'SendStreamingMessage']);

/**
 * A poll-mode target (C052, C274): nothing is dialled, so there is no URL to check. The message is
 * recorded in the agent's inbox (an `a2a_receive` row, `queued`). A blocking `message/send` (A2A's
 * default; `configuration.blocking: false` opts out) to an agent that is online (registered, beating)
 * then waits, up to the sender's idle timeout, for the agent's reply through its inbox and answers
 * with it; a `message/stream` (the canvas chat's) likewise, the reply as one SSE event. Without a
 * reply in time, with no agent online, or for any other method, the answer is C052's
 * `{status:"queued", delivery_mode:"poll"}`; a later reply is still stored on the row.
 */
async function pollDeliver(deps: ProxyDeps, target: Target, callerId: string | null, rpc: NormalizedA2ARequest, idleTimeoutSeconds: number | undefined, signal?: AbortSignal): Promise<ProxyOutcome> {
  const method = rpc.request.method;
  const row = await recordActivity(deps, receiveRow(target, callerId, rpc, { status: ACTIVITY_STATUS_QUEUED, summary: `${method} queued for a poll-mode agent` }));
  const configuration = rpc.request.params.configuration;
  const blocking = !(isRecord(configuration) && configuration.blocking === false);
  // Nobody to wait for until the agent has registered (or while it is away): the message waits in its inbox.
  const polled = target.status === Status.Online || target.status === Status.Degraded;
  if (!POLL_WAITED_METHODS.has(method) || !blocking || !polled) return { kind: 'poll_queued', method };
  const idle = idleTimeoutSeconds ?? deps.runtimeOverrides.idleTimeoutSeconds(target.id) ?? deps.config.a2aIdleTimeoutSeconds;
  const answer = await awaitReply(deps, target.id, row.id, idle, signal);
  if (answer === undefined) return { kind: 'poll_queued', method };
  if (callerId !== null && callerId !== target.id) {
    deps.a2a.record([{ workspace_id: callerId, activity_type: 'a2a_send', source_id: callerId, target_id: target.id, method, summary: summaryOf(method, target, 'ok'), request_body: rpc.request, response_body: answer, status: 'ok' }]);
  }
  const raw = Buffer.from(JSON.stringify(answer));
  if (answersAsStream(rpc)) return { kind: 'streaming', status: 200, contentType: 'text/event-stream', body: Readable.from([Buffer.from(`data: ${raw.toString()}\n\n`)]) };
  return { kind: 'answered', status: 200, answer, raw };
}

/**
 * A message the queue already holds is never sent again (C058): a retry gets the queue item's
 * state, or the agent's stored answer once it was delivered.
 */
async function alreadyQueued(deps: ProxyDeps, target: Target, rpc: NormalizedA2ARequest): Promise<ProxyOutcome | undefined> {
  const messageId = rpc.kind === 'other' ? undefined : messageIdOf(rpc);
  if (messageId === undefined || !deps.a2a.drainer.mayHold(target.id)) return undefined;
  const item = await findByMessage(deps.db, target.id, messageId);
  if (!item) return undefined;
  // The same messageId with other content is not a retry: refused, so neither is lost.
  // (Compared as stored: JSON drops undefined members.)
  if (isRecord(item.body) && !isDeepStrictEqual(item.body.params, JSON.parse(JSON.stringify(rpc.request.params)))) return { kind: 'message_id_reused', queueId: item.id };
  if (item.status === QueueStatus.Completed && item.response_body !== null) {
    return { kind: 'answered', status: item.response_status ?? 200, answer: item.response_body, raw: Buffer.from(JSON.stringify(item.response_body)) };
  }
  if (item.status === QueueStatus.Queued || item.status === QueueStatus.Dispatched) {
    return { kind: 'queued', queueId: item.id, queueStatus: item.status, duplicate: true };
  }
  return { kind: 'already_handled', queueId: item.id, queueStatus: item.status };
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
  if (!isRecord(body) || !isRecord(body.error)) return false;
  const e = body.error as { code?: unknown; data?: { busy?: unknown } };
  return e.code === A2A_BUSY_CODE || e.data?.busy === true;
}

export interface DispatchOptions {
  /** A busy refusal is queued (proxy) or reported back as `busy` (queue drain). */
  allowQueue: boolean;
  /** Overrides the workspace's and the platform's idle timeout (the caller's X-Timeout). */
  idleTimeoutSeconds?: number;
  /** Where the target's agent socket is (null: it has none), when the caller looked already; otherwise looked up here. */
  socket?: SocketHolder | null;
}

/**
 * Sends one normalised request to the target's agent and says what became of it, translated both
 * ways when the caller and the agent speak different A2A dialects (bridge.ts). A bridged request the
 * agent is busy with, or went quiet on, is queued as the caller sent it (so a retry is recognised,
 * and the queue's delivery is bridged again).
 */
export async function dispatchTo(deps: ProxyDeps, target: Target, callerId: string | null, rpc: NormalizedA2ARequest, opts: DispatchOptions): Promise<ProxyOutcome> {
  const socket = opts.socket !== undefined ? opts.socket : ((await deps.a2a.mesh.locate(target)) ?? null);
  opts = { ...opts, socket };
  const to = bridgeTo(rpc, target.agent_card);
  if (to === undefined || (target.url === '' && !socket)) return dispatchRaw(deps, target, callerId, rpc, opts);
  const bridged = rpc as NormalizedA2ARequest & { dialect: A2ADialect };
  const o = await bridgeExchange(bridged, to, target.agent_card, (translated) => dispatchRaw(deps, target, callerId, translated, { ...opts, allowQueue: false }));
  const timedOut = o.kind === 'failed' && isBusyTimeout(o.failure);
  if (opts.allowQueue && ((o.kind === 'busy' && !o.nativeSession) || timedOut)) return queueBusy(deps, target, callerId, rpc, { timedOut, ...(o.kind === 'failed' ? lostSocket(o.failure, socket) : {}) });
  return o;
}

/**
 * Sends one normalised request, as it is, to the target's agent and says what became of it.
 * Activity rows are written after the exchange, off the response path.
 */
async function dispatchRaw(deps: ProxyDeps, target: Target, callerId: string | null, rpc: NormalizedA2ARequest, opts: DispatchOptions): Promise<ProxyOutcome> {
  // A live outbound socket is preferred over the URL (#15): the agent asked for its work that way.
  // Held by another replica, the request crosses to it and only the transport happens there.
  const overSocket = opts.socket ?? undefined;
  if (target.url === '' && !overSocket) {
    // A queued message for a poll agent whose socket did not come back (the drain waited out the
    // grace): its inbox takes it, as it takes any message sent while the agent has no socket.
    if (target.delivery_mode === 'poll' && !opts.allowQueue) return pollDeliver(deps, target, callerId, rpc, opts.idleTimeoutSeconds);
    if (target.status === Status.Hibernated) {
      wake(deps, target.id);
      return { kind: 'waking' };
    }
    return { kind: 'not_ready', status: target.status };
  }

  const idle = opts.idleTimeoutSeconds ?? deps.runtimeOverrides.idleTimeoutSeconds(target.id) ?? deps.config.a2aIdleTimeoutSeconds;
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
    res = overSocket
      ? await deps.a2a.mesh.post(overSocket, target.id, socketRequest(rpc), timer.signal, { stream: answersAsStream(rpc), callerId })
      : await deps.a2a.dispatcher.post(target.url, JSON.stringify(rpc.request), timer.signal, answersAsStream(rpc) ? 'text/event-stream, application/json' : 'application/json');
  } catch (err) {
    timer.done();
    const failure = classifyDispatchError(err);
    // The agent may still be working on it: its queue waits for its own word that a slot is free.
    const lost = lostSocket(failure, overSocket);
    if (isBusyTimeout(failure)) deps.a2a.drainer.timedOut(target.id, lost);
    if (isBusyTimeout(failure) && opts.allowQueue) {
      // Busy, not gone (C043): queued and delivered again when the agent frees up (C044, C045).
      deps.log.info({ workspace_id: target.id, failure }, 'a2a dispatch timed out: the agent is busy; queueing');
      finish('busy', undefined, failure);
      return queueBusy(deps, target, callerId, rpc, { timedOut: true, ...lost });
    }
    deps.log.warn({ workspace_id: target.id, failure, err }, 'a2a dispatch failed');
    finish('error', undefined, failure);
    return deadOr(deps, target, { kind: 'failed', failure, phase: 'send' });
  }

  const streaming = answersAsStream(rpc) && res.status >= 200 && res.status < 300 && res.contentType.startsWith('text/event-stream');
  if (streaming) {
    // The stream's last event (the final state, with the whole reply) is the exchange's logged answer.
    const body = tapLastSseEvent(res.body, (last) => {
      timer.done();
      finish('ok', last);
      deps.a2a.freed(target.id);
      // The final event carries the turn's token counts; the caller has the stream already, so the
      // spend lands just after it (a streamed answer cannot wait for the write).
      const usage = usageOf(last);
      if (usage) void recordUsage(deps.db, target.id, usage).catch((err: unknown) => deps.log.error({ err, workspace_id: target.id }, 'could not record model spend'));
    });
    return { kind: 'streaming', status: res.status, contentType: res.contentType, body };
  }

  let raw: Buffer;
  try {
    raw = await readAnswer(res.body);
  } catch (err) {
    const failure = classifyDispatchError(err);
    deps.log.warn({ workspace_id: target.id, failure, err }, 'a2a answer could not be read');
    finish('error', undefined, failure);
    const failed: AgentFailure = { kind: 'failed', failure, phase: 'read' };
    return failure === 'too_large' || failure === 'other' ? failed : deadOr(deps, target, failed);
  } finally {
    timer.done();
  }
  const answer = parseJson(raw);

  if (isBusyAnswer(answer)) {
    finish('busy', answer);
    return opts.allowQueue ? queueBusy(deps, target, callerId, rpc) : { kind: 'busy', nativeSession: false };
  }

  if (res.status >= 200 && res.status < 300) {
    finish('ok', answer);
    deps.a2a.freed(target.id);
    const usage = usageOf(answer);
    // Recorded before the answer goes back, so the caller's next call already sees the spend: a
    // tight loop cannot run past a budget while the write is in flight.
    if (usage) await recordUsage(deps.db, target.id, usage).catch((err: unknown) => deps.log.error({ err, workspace_id: target.id }, 'could not record model spend'));
    if (callerId === null) {
      deps.a2a.announce('A2A_RESPONSE', target.id, { method, duration_ms: Math.round(performance.now() - started), response_body: answer ?? null });
    }
    return { kind: 'answered', status: res.status, answer, raw };
  }

  finish('error', answer, `HTTP ${res.status}`);
  const agentError: AgentFailure = { kind: 'agent_error', status: res.status, answer, raw };
  return DEAD_AGENT_STATUSES.has(res.status) ? deadOr(deps, target, agentError) : agentError;
}

/**
 * A failure that may mean the agent is gone (it could not be reached, the connection dropped, or
 * it answered a dead-agent status): a dead agent gets `restarting`, never an opaque failure (C059).
 */
async function deadOr(deps: ProxyDeps, target: Target, failure: AgentFailure): Promise<ProxyOutcome> {
  const mayBeDead = failure.kind === 'agent_error' || failure.failure === 'unreachable' || failure.failure === 'connection_lost';
  if (mayBeDead && (await markDeadIfStopped(deps, target))) return { kind: 'restarting', cause: failure };
  return failure;
}

/**
 * C047, C048: asks the backend whether the agent runs. Not running: the workspace goes offline and
 * restarts in the background, and the answer is true. Running, unknown, external or no backend: false.
 */
async function markDeadIfStopped(deps: ProxyDeps, target: Target): Promise<boolean> {
  if (target.runtime === EXTERNAL_RUNTIME) return false;
  try {
    return await markInstanceDead(deps, target.id, 'a2a_dead_answer');
  } catch (err) {
    deps.log.error({ err, workspace_id: target.id }, 'dead-agent check failed');
    return false;
  }
}

/** A message to a hibernated workspace wakes it (the caller retries after Retry-After). */
function wake(deps: ProxyDeps, id: string): void {
  void resumeWorkspace(deps, id).catch((err: unknown) => deps.log.warn({ err, workspace_id: id }, 'could not wake a hibernated workspace'));
}

/** A stream request is sent over an agent socket as the plain send it wraps (the socket carries one answer per request). */
function socketRequest(rpc: NormalizedA2ARequest): unknown {
  return rpc.kind === 'stream' ? { ...rpc.request, method: rpc.dialect === 'v1' ? 'SendMessage' : 'message/send' } : rpc.request;
}

/** The agent socket a `socket_lost` failure lost (the drain tells it from a socket the agent opened since). */
function lostSocket(failure: DispatchFailure, holder: SocketHolder | null | undefined): { lostSocket?: string } {
  return failure === 'socket_lost' && holder ? { lostSocket: holder.socket } : {};
}

/** A busy target: the message is queued (C044), unless the runtime owns its sessions (C045) or there is nothing to queue by. */
async function queueBusy(deps: ProxyDeps, target: Target, callerId: string | null, rpc: NormalizedA2ARequest, why: { timedOut?: boolean; lostSocket?: string } = {}): Promise<ProxyOutcome> {
  if (deps.runtimeOverrides.hasCapability(target.id, 'session')) {
    // The runtime owns its sessions and retries itself: no queue row (C045).
    return { kind: 'busy', nativeSession: true };
  }
  const messageId = messageIdOf(rpc);
  if (messageId === undefined) return { kind: 'busy', nativeSession: false };
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
        .broadcastOnly('A2A_QUEUED', target.id, { queue_id: q.row.id, caller_id: callerId, method: rpc.request.method, queue_depth: q.depth, ...(why.timedOut ? { timed_out: true } : {}), ...(why.lostSocket !== undefined ? { lost_socket: why.lostSocket } : {}) })
        .catch((err: unknown) => deps.log.error({ err }, 'A2A_QUEUED broadcast failed'));
    }
    // The agent may have freed up while we were queueing; a drain pass finds out now (C060).
    deps.a2a.drainer.hint(target.id);
    deps.a2a.drainer.kick(target.id);
    return { kind: 'queued', queueId: q.row.id, queueStatus: q.row.status, depth: q.depth, duplicate: false };
  } catch (err) {
    deps.log.error({ err, workspace_id: target.id }, 'could not queue a busy request');
    return { kind: 'busy', nativeSession: false };
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
