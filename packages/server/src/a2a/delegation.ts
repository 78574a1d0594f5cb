import { z } from 'zod';
import { DelegationStatus, isRecord, replyText } from '@molecule/contracts';
import type { AppDeps } from '../deps.js';
import { invalid, notFound } from '../errors.js';
import {
  cancelDelegationRow,
  deleteDelegation,
  findByIdempotencyKey,
  getDelegation as getDelegationRow,
  insertDelegation,
  insertRecordedDelegation,
  listDelegations as listDelegationRows,
  setDelegationStatus,
  type DelegationRow,
} from './delegation-repo.js';
import { isRpcError, outcomeError, type ProxyOutcome } from './outcome.js';
import { proxyA2A, type ProxyDeps } from './proxy.js';
import type { QueueRow } from './queue-repo.js';

export type { DelegationRow };
export { replyText };

/** One retry after this long when the target was restarting or unreachable (upstream's rule). */
export const DELEGATION_RETRY_DELAY_MS = 8_000;
const PREVIEW = 200;

/** What delegations touch: their rows, events, activity, and the proxy they send through. */
export type DelegationDeps = ProxyDeps & Pick<AppDeps, 'a2a'>;

export interface DelegateBody {
  target_id: string;
  task: string;
  idempotency_key?: string | undefined;
}

function emit(deps: DelegationDeps, type: 'DELEGATION_SENT' | 'DELEGATION_STATUS' | 'DELEGATION_COMPLETE' | 'DELEGATION_FAILED', sourceId: string, payload: Record<string, unknown>): void {
  void deps.broadcaster.recordAndBroadcast(type, sourceId, payload).catch((err: unknown) => deps.log.error({ err, event_type: type }, 'delegation event failed'));
}

/** Records the final answer of a delegation and tells the source (C067). */
async function complete(deps: DelegationDeps, d: Pick<DelegationRow, 'id' | 'source_id' | 'target_id'>, text: string, via: 'proxy' | 'queue_drain'): Promise<void> {
  const row = await setDelegationStatus(deps.db, d.id, DelegationStatus.Completed, { response_text: text });
  if (!row) return;
  deps.a2a.record([
    { workspace_id: d.source_id, activity_type: 'delegate_result', source_id: d.source_id, target_id: d.target_id, method: 'delegate_result', summary: `delegation completed: ${text.slice(0, 80)}`, response_body: { text, delegation_id: d.id }, status: DelegationStatus.Completed },
  ]);
  emit(deps, 'DELEGATION_COMPLETE', d.source_id, { delegation_id: d.id, target_id: d.target_id, response_preview: text.slice(0, PREVIEW), via });
}

async function fail(deps: DelegationDeps, d: Pick<DelegationRow, 'id' | 'source_id' | 'target_id'>, error: string): Promise<void> {
  await setDelegationStatus(deps.db, d.id, DelegationStatus.Failed, { error });
  deps.a2a.record([
    { workspace_id: d.source_id, activity_type: 'delegate_result', source_id: d.source_id, target_id: d.target_id, method: 'delegate_result', summary: 'delegation failed', status: DelegationStatus.Failed, error_detail: error },
  ]);
  emit(deps, 'DELEGATION_FAILED', d.source_id, { delegation_id: d.id, target_id: d.target_id, error });
}

/** Marks a delegation canceled (the target canceled its task) and tells the source. */
async function cancel(deps: DelegationDeps, id: string, targetId: string): Promise<void> {
  const d = await cancelDelegationRow(deps.db, id, targetId);
  if (!d) return;
  deps.a2a.record([
    { workspace_id: d.source_id, activity_type: 'delegate_result', source_id: d.source_id, target_id: d.target_id, method: 'delegate_result', summary: 'delegation canceled', response_body: { delegation_id: d.id }, status: DelegationStatus.Canceled },
  ]);
  emit(deps, 'DELEGATION_STATUS', d.source_id, { delegation_id: d.id, target_id: d.target_id, status: DelegationStatus.Canceled });
}

const CANCELED_STATES = new Set(['canceled', 'cancelled', 'TASK_STATE_CANCELED', 'TASK_STATE_CANCELLED']);

/** The task an A2A answer carries (v0.3 `result`, v1 `result.task` or a bare v1 task), if any. */
function taskOf(answer: unknown): Record<string, unknown> | undefined {
  if (!isRecord(answer) || !isRecord(answer.result)) return undefined;
  const r = answer.result;
  const t = isRecord(r.task) ? r.task : r;
  return isRecord(t.status) ? t : undefined;
}

/** Whether an answer is a task in the canceled state (either dialect). */
export function isCanceledTask(answer: unknown): boolean {
  const state = taskOf(answer)?.status;
  return isRecord(state) && typeof state.state === 'string' && CANCELED_STATES.has(state.state);
}

/**
 * The delegation a task belongs to: the `delegation_id` its messages carry in their metadata
 * (C066), found in the task's history. Undefined for a task no platform delegation started.
 */
export function delegationIdOfTask(answer: unknown): string | undefined {
  const t = taskOf(answer);
  if (!t) return undefined;
  const messages = [...(Array.isArray(t.history) ? t.history : []), isRecord(t.status) ? t.status.message : undefined];
  for (const m of messages) {
    if (isRecord(m) && isRecord(m.metadata) && typeof m.metadata.delegation_id === 'string') return m.metadata.delegation_id;
  }
  if (isRecord(t.metadata) && typeof t.metadata.delegation_id === 'string') return t.metadata.delegation_id;
  return undefined;
}

/**
 * A `tasks/cancel` (or v1 `CancelTask`) the target accepted: when the task is a platform
 * delegation's, that delegation ends `canceled` at once (its source stops waiting on it).
 */
export async function cancelDelegationOfTask(deps: DelegationDeps, targetId: string, answer: unknown): Promise<void> {
  if (!isCanceledTask(answer)) return;
  const id = delegationIdOfTask(answer);
  if (id !== undefined && UUID.test(id)) await cancel(deps, id, targetId);
}
const UUID = z.regexes.uuid();

/** The target was restarting or could not be reached (upstream retries those once); a timeout is not retried, the agent may be working. */
function worthRetrying(o: ProxyOutcome): boolean {
  return o.kind === 'restarting' || (o.kind === 'failed' && o.failure !== 'idle_timeout' && o.failure !== 'ceiling' && o.failure !== 'headers_timeout');
}

/**
 * Sends the delegated task through the proxy as the source workspace (the hierarchy rule applies)
 * and records the outcome: completed with the reply text, queued (C065: queued is not a result),
 * or failed. The delegation id is the A2A messageId and sits in the message metadata (C066).
 */
async function run(deps: DelegationDeps, d: DelegationRow, retryDelayMs: number): Promise<DelegationRow> {
  await setDelegationStatus(deps.db, d.id, DelegationStatus.Dispatched);
  emit(deps, 'DELEGATION_STATUS', d.source_id, { delegation_id: d.id, target_id: d.target_id, status: DelegationStatus.Dispatched });
  const body = {
    jsonrpc: '2.0',
    id: d.id,
    method: 'message/send',
    params: { message: { kind: 'message', role: 'user', messageId: d.id, parts: [{ kind: 'text', text: d.task }], metadata: { delegation_id: d.id } } },
  };
  const send = () => proxyA2A(deps, { targetId: d.target_id, caller: { kind: 'workspace', id: d.source_id }, body });
  let o = await send();
  if (worthRetrying(o)) {
    await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
    o = await send();
  }
  switch (o.kind) {
    case 'queued':
      await setDelegationStatus(deps.db, d.id, DelegationStatus.Queued, { queue_id: o.queueId });
      deps.a2a.record([
        { workspace_id: d.source_id, activity_type: 'delegate_result', source_id: d.source_id, target_id: d.target_id, method: 'delegate_result', summary: 'Delegation queued: target at capacity', response_body: { delegation_id: d.id, queued: true }, status: DelegationStatus.Queued },
      ]);
      emit(deps, 'DELEGATION_STATUS', d.source_id, { delegation_id: d.id, target_id: d.target_id, status: DelegationStatus.Queued });
      break;
    case 'answered':
      if (isRpcError(o.answer)) await fail(deps, d, outcomeError(o));
      else if (isCanceledTask(o.answer)) await cancel(deps, d.id, d.target_id);
      else await complete(deps, d, replyText(o.answer) ?? JSON.stringify(o.answer ?? null), 'proxy');
      break;
    case 'poll_queued':
      // A poll-mode target took the message for later; there is no reply to wait for here.
      await complete(deps, d, JSON.stringify({ status: 'queued', delivery_mode: 'poll', method: o.method }), 'proxy');
      break;
    default:
      await fail(deps, d, outcomeError(o));
  }
  return (await getDelegationRow(deps.db, d.id))!;
}

export async function getDelegation(deps: Pick<AppDeps, 'db'>, id: string): Promise<DelegationRow | undefined> {
  return getDelegationRow(deps.db, id);
}

/**
 * `POST /workspaces/:id/delegate`. Idempotent per (source, idempotency_key): a repeat returns the
 * existing delegation unless it failed, in which case it is retried. `wait` runs it to the end
 * (sync); otherwise it runs in the background and the answer is 202 at once (async).
 */
export async function delegate(
  deps: DelegationDeps,
  sourceId: string,
  body: DelegateBody,
  opts: { wait: boolean; retryDelayMs?: number },
): Promise<{ row: DelegationRow; idempotentHit: boolean; done?: Promise<DelegationRow> }> {
  if (body.target_id === sourceId) throw invalid('self-delegation not permitted');
  const key = body.idempotency_key;
  if (key !== undefined) {
    const existing = await findByIdempotencyKey(deps.db, sourceId, key);
    if (existing && existing.status !== DelegationStatus.Failed) return { row: existing, idempotentHit: true };
    if (existing) await deleteDelegation(deps.db, existing.id);
  }
  const id = globalThis.crypto.randomUUID();
  const row = await insertDelegation(deps.db, { id, sourceId, targetId: body.target_id, task: body.task, status: DelegationStatus.Pending, idempotencyKey: key ?? null });
  if (!row) {
    // A concurrent request with the same key won the insert: answer with its delegation.
    const winner = key !== undefined ? await findByIdempotencyKey(deps.db, sourceId, key) : undefined;
    if (!winner) throw notFound('target workspace not found');
    return { row: winner, idempotentHit: true };
  }
  deps.a2a.record([
    { workspace_id: sourceId, activity_type: 'delegation', source_id: sourceId, target_id: body.target_id, method: 'delegate', summary: `delegated: ${body.task.slice(0, 80)}`, request_body: { task: body.task, delegation_id: id }, status: DelegationStatus.Pending },
  ]);
  emit(deps, 'DELEGATION_SENT', sourceId, { delegation_id: id, target_id: body.target_id, task_preview: body.task.slice(0, 100) });
  const done = run(deps, row, opts.retryDelayMs ?? DELEGATION_RETRY_DELAY_MS).catch(async (err: unknown) => {
    deps.log.error({ err, delegation_id: id }, 'delegation crashed');
    await fail(deps, row, 'delegation crashed; see the platform log').catch(() => undefined);
    return (await getDelegationRow(deps.db, id)) ?? row;
  });
  if (opts.wait) return { row: await done, idempotentHit: false };
  return { row, idempotentHit: false, done };
}

/** The queue delivered a delegated message: its delegation completes now with the agent's answer (C067). */
export async function completeQueuedDelegation(deps: DelegationDeps, item: QueueRow, answer: unknown): Promise<void> {
  if (!item.delegation_id) return;
  const d = await getDelegationRow(deps.db, item.delegation_id);
  if (!d || d.status === DelegationStatus.Completed || d.status === DelegationStatus.Canceled) return;
  if (isCanceledTask(answer)) {
    await cancel(deps, d.id, d.target_id);
    return;
  }
  if (isRpcError(answer)) {
    const e = (answer as { error: unknown }).error;
    await fail(deps, d, isRecord(e) && typeof e.message === 'string' ? e.message : 'the agent answered with an error');
    return;
  }
  await complete(deps, d, replyText(answer) ?? JSON.stringify(answer ?? null), 'queue_drain');
}

/** The source's delegations, newest first. */
export async function listDelegations(deps: Pick<AppDeps, 'db'>, sourceId: string, limit = 50): Promise<DelegationRow[]> {
  return listDelegationRows(deps.db, sourceId, limit);
}

/** An agent records a delegation it sent directly over A2A (nothing is sent). */
export async function recordDelegation(deps: DelegationDeps, sourceId: string, body: { target_id: string; task: string; delegation_id: string }): Promise<DelegationRow> {
  const inserted = await insertRecordedDelegation(deps.db, { id: body.delegation_id, sourceId, targetId: body.target_id, task: body.task, status: DelegationStatus.Dispatched });
  const row = inserted ?? (await getDelegationRow(deps.db, body.delegation_id));
  if (!row) throw notFound('target workspace not found');
  if (row.source_id !== sourceId) throw invalid('delegation_id is already used');
  if (inserted) emit(deps, 'DELEGATION_SENT', sourceId, { delegation_id: row.id, target_id: row.target_id, task_preview: row.task.slice(0, 100) });
  return row;
}

/** An agent reports the outcome of a delegation it recorded. Unknown ids are 404, not silently ignored. */
export async function updateDelegation(
  deps: DelegationDeps,
  sourceId: string,
  id: string,
  body: { status: 'completed' | 'failed'; error?: string | undefined; response_preview?: string | undefined },
): Promise<DelegationRow | undefined> {
  const d = await getDelegationRow(deps.db, id);
  if (!d || d.source_id !== sourceId) return undefined;
  if (body.status === 'completed') await complete(deps, d, body.response_preview ?? '', 'proxy');
  else await fail(deps, d, body.error ?? 'reported failed by the agent');
  return getDelegationRow(deps.db, id);
}
