import { DelegationStatus, type DelegationStatus as DelegationStatusT } from '@molecule/contracts';
import type { AppDeps } from '../deps.js';
import { invalid } from '../errors.js';
import { proxyA2A, type ProxyResult } from './proxy.js';
import type { QueueRow } from './queue-repo.js';

/** One retry after this long when the target was restarting or unreachable (upstream's rule). */
export const DELEGATION_RETRY_DELAY_MS = 8_000;
const PREVIEW = 200;

export interface DelegationRow {
  id: string;
  source_id: string;
  target_id: string;
  task: string;
  status: DelegationStatusT;
  idempotency_key: string | null;
  queue_id: string | null;
  response_text: string | null;
  error: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface DelegateBody {
  target_id: string;
  task: string;
  idempotency_key?: string | undefined;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function textOfParts(parts: unknown): string | undefined {
  if (!Array.isArray(parts)) return undefined;
  const texts = parts.filter(isObj).map((p) => (typeof p.text === 'string' ? p.text : undefined)).filter((t): t is string => t !== undefined);
  return texts.length > 0 ? texts.join('') : undefined;
}

/**
 * The reply text of an A2A answer in any dialect: a task's status message, a message's parts, or
 * its artifacts (v0.3 `result`, v1 `result.task` / `result.message`). Undefined when there is none.
 */
export function replyText(answer: unknown): string | undefined {
  if (!isObj(answer) || !isObj(answer.result)) return undefined;
  const r = answer.result;
  const candidates = [r, isObj(r.task) ? r.task : undefined, isObj(r.message) ? r.message : undefined].filter(isObj);
  for (const c of candidates) {
    const fromStatus = isObj(c.status) && isObj(c.status.message) ? textOfParts(c.status.message.parts) : undefined;
    if (fromStatus !== undefined) return fromStatus;
    const fromParts = textOfParts(c.parts);
    if (fromParts !== undefined) return fromParts;
    if (Array.isArray(c.artifacts)) {
      const t = c.artifacts.filter(isObj).map((a) => textOfParts(a.parts)).find((x) => x !== undefined);
      if (t !== undefined) return t;
    }
  }
  return undefined;
}

async function setStatus(deps: AppDeps, id: string, status: DelegationStatusT, fields: { response_text?: string; error?: string; queue_id?: string } = {}): Promise<DelegationRow | undefined> {
  const r = await deps.db.query<DelegationRow>(
    `UPDATE delegations SET status = $2, response_text = COALESCE($3, response_text), error = COALESCE($4, error),
            queue_id = COALESCE($5::uuid, queue_id), updated_at = now()
      WHERE id = $1 RETURNING *`,
    [id, status, fields.response_text ?? null, fields.error ?? null, fields.queue_id ?? null],
  );
  return r.rows[0];
}

function emit(deps: AppDeps, type: 'DELEGATION_SENT' | 'DELEGATION_STATUS' | 'DELEGATION_COMPLETE' | 'DELEGATION_FAILED', sourceId: string, payload: Obj): void {
  void deps.broadcaster.recordAndBroadcast(type, sourceId, payload).catch((err: unknown) => deps.log.error({ err, event_type: type }, 'delegation event failed'));
}

/** Records the final answer of a delegation and tells the source (C067). */
async function complete(deps: AppDeps, d: Pick<DelegationRow, 'id' | 'source_id' | 'target_id'>, text: string, via: 'proxy' | 'queue_drain'): Promise<void> {
  const row = await setStatus(deps, d.id, DelegationStatus.Completed, { response_text: text });
  if (!row) return;
  deps.a2a.record([
    { workspace_id: d.source_id, activity_type: 'delegate_result', source_id: d.source_id, target_id: d.target_id, method: 'delegate_result', summary: `delegation completed: ${text.slice(0, 80)}`, response_body: { text, delegation_id: d.id }, status: DelegationStatus.Completed },
  ]);
  emit(deps, 'DELEGATION_COMPLETE', d.source_id, { delegation_id: d.id, target_id: d.target_id, response_preview: text.slice(0, PREVIEW), via });
}

async function fail(deps: AppDeps, d: Pick<DelegationRow, 'id' | 'source_id' | 'target_id'>, error: string): Promise<void> {
  await setStatus(deps, d.id, DelegationStatus.Failed, { error });
  deps.a2a.record([
    { workspace_id: d.source_id, activity_type: 'delegate_result', source_id: d.source_id, target_id: d.target_id, method: 'delegate_result', summary: 'delegation failed', status: DelegationStatus.Failed, error_detail: error },
  ]);
  emit(deps, 'DELEGATION_FAILED', d.source_id, { delegation_id: d.id, target_id: d.target_id, error });
}

function bodyOf(r: ProxyResult): unknown {
  if (r.kind === 'raw') {
    try {
      return JSON.parse(r.body.toString('utf8'));
    } catch {
      return undefined;
    }
  }
  return r.kind === 'json' ? r.body : undefined;
}

function errorOf(r: ProxyResult): string {
  const b = bodyOf(r);
  if (isObj(b)) {
    if (typeof b.error === 'string') return b.error;
    if (isObj(b.error) && typeof b.error.message === 'string') return b.error.message;
  }
  return `HTTP ${r.status}`;
}

const retryable = (r: ProxyResult) => r.status === 502 || (r.status === 503 && isObj(bodyOf(r)) && (bodyOf(r) as Obj).restarting === true);

/**
 * Sends the delegated task through the proxy as the source workspace (the hierarchy rule applies)
 * and records the outcome: completed with the reply text, queued (C065: a 202 is not a result),
 * or failed. The delegation id is the A2A messageId and sits in the message metadata (C066).
 */
async function run(deps: AppDeps, d: DelegationRow, retryDelayMs: number): Promise<DelegationRow> {
  await setStatus(deps, d.id, DelegationStatus.Dispatched);
  emit(deps, 'DELEGATION_STATUS', d.source_id, { delegation_id: d.id, target_id: d.target_id, status: DelegationStatus.Dispatched });
  const body = {
    jsonrpc: '2.0',
    id: d.id,
    method: 'message/send',
    params: { message: { kind: 'message', role: 'user', messageId: d.id, parts: [{ kind: 'text', text: d.task }], metadata: { delegation_id: d.id } } },
  };
  const send = () => proxyA2A(deps, { targetId: d.target_id, caller: { kind: 'workspace', id: d.source_id }, body });
  let r = await send();
  if (retryable(r)) {
    await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
    r = await send();
  }
  if (r.status === 202) {
    const b = bodyOf(r);
    const queueId = isObj(b) && typeof b.queue_id === 'string' ? b.queue_id : undefined;
    await setStatus(deps, d.id, DelegationStatus.Queued, queueId ? { queue_id: queueId } : {});
    deps.a2a.record([
      { workspace_id: d.source_id, activity_type: 'delegate_result', source_id: d.source_id, target_id: d.target_id, method: 'delegate_result', summary: 'Delegation queued: target at capacity', response_body: { delegation_id: d.id, queued: true }, status: DelegationStatus.Queued },
    ]);
    emit(deps, 'DELEGATION_STATUS', d.source_id, { delegation_id: d.id, target_id: d.target_id, status: DelegationStatus.Queued });
  } else if (r.status >= 200 && r.status < 300) {
    const answer = bodyOf(r);
    if (isObj(answer) && answer.error !== undefined) await fail(deps, d, errorOf(r));
    else await complete(deps, d, replyText(answer) ?? JSON.stringify(answer ?? null), 'proxy');
  } else {
    await fail(deps, d, errorOf(r));
  }
  return (await getDelegation(deps, d.id))!;
}

export async function getDelegation(deps: Pick<AppDeps, 'db'>, id: string): Promise<DelegationRow | undefined> {
  return (await deps.db.query<DelegationRow>('SELECT * FROM delegations WHERE id = $1', [id])).rows[0];
}

/**
 * `POST /workspaces/:id/delegate`. Idempotent per (source, idempotency_key): a repeat returns the
 * existing delegation unless it failed, in which case it is retried. `wait` runs it to the end
 * (sync); otherwise it runs in the background and the answer is 202 at once (async).
 */
export async function delegate(
  deps: AppDeps,
  sourceId: string,
  body: DelegateBody,
  opts: { wait: boolean; retryDelayMs?: number },
): Promise<{ row: DelegationRow; idempotentHit: boolean; done?: Promise<DelegationRow> }> {
  if (body.target_id === sourceId) throw invalid('self-delegation not permitted');
  if (body.idempotency_key !== undefined) {
    const existing = (await deps.db.query<DelegationRow>('SELECT * FROM delegations WHERE source_id = $1 AND idempotency_key = $2', [sourceId, body.idempotency_key])).rows[0];
    if (existing && existing.status !== DelegationStatus.Failed) return { row: existing, idempotentHit: true };
    if (existing) await deps.db.query('DELETE FROM delegations WHERE id = $1', [existing.id]);
  }
  const id = globalThis.crypto.randomUUID();
  const ins = await deps.db.query<DelegationRow>(
    `INSERT INTO delegations (id, source_id, target_id, task, status, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (source_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *`,
    [id, sourceId, body.target_id, body.task, DelegationStatus.Pending, body.idempotency_key ?? null],
  );
  const row = ins.rows[0];
  if (!row) {
    // A concurrent request with the same key won the insert: answer with its delegation.
    const winner = (await deps.db.query<DelegationRow>('SELECT * FROM delegations WHERE source_id = $1 AND idempotency_key = $2', [sourceId, body.idempotency_key]))
      .rows[0]!;
    return { row: winner, idempotentHit: true };
  }
  deps.a2a.record([
    { workspace_id: sourceId, activity_type: 'delegation', source_id: sourceId, target_id: body.target_id, method: 'delegate', summary: `delegated: ${body.task.slice(0, 80)}`, request_body: { task: body.task, delegation_id: id }, status: DelegationStatus.Pending },
  ]);
  emit(deps, 'DELEGATION_SENT', sourceId, { delegation_id: id, target_id: body.target_id, task_preview: body.task.slice(0, 100) });
  const done = run(deps, row, opts.retryDelayMs ?? DELEGATION_RETRY_DELAY_MS).catch(async (err: unknown) => {
    deps.log.error({ err, delegation_id: id }, 'delegation crashed');
    await fail(deps, row, 'delegation crashed; see the platform log').catch(() => undefined);
    return (await getDelegation(deps, id)) ?? row;
  });
  if (opts.wait) return { row: await done, idempotentHit: false };
  return { row, idempotentHit: false, done };
}

/** The queue delivered a delegated message: its delegation completes now (C067). */
export async function completeQueuedDelegation(deps: AppDeps, item: QueueRow, _status: number, body: unknown): Promise<void> {
  if (!item.delegation_id) return;
  const d = await getDelegation(deps, item.delegation_id);
  if (!d || d.status === DelegationStatus.Completed) return;
  if (isObj(body) && body.error !== undefined) {
    const e = body.error;
    await fail(deps, d, isObj(e) && typeof e.message === 'string' ? e.message : 'the agent answered with an error');
    return;
  }
  await complete(deps, d, replyText(body) ?? JSON.stringify(body ?? null), 'queue_drain');
}

/** The source's delegations, newest first. */
export async function listDelegations(deps: Pick<AppDeps, 'db'>, sourceId: string, limit = 50): Promise<DelegationRow[]> {
  return (await deps.db.query<DelegationRow>('SELECT * FROM delegations WHERE source_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2', [sourceId, limit])).rows;
}

/** An agent records a delegation it sent directly over A2A (nothing is sent). */
export async function recordDelegation(deps: AppDeps, sourceId: string, body: { target_id: string; task: string; delegation_id: string }): Promise<DelegationRow> {
  const r = await deps.db.query<DelegationRow>(
    `INSERT INTO delegations (id, source_id, target_id, task, status) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO NOTHING RETURNING *`,
    [body.delegation_id, sourceId, body.target_id, body.task, DelegationStatus.Dispatched],
  );
  const row = r.rows[0] ?? (await getDelegation(deps, body.delegation_id));
  if (!row || row.source_id !== sourceId) throw invalid('delegation_id is already used');
  if (r.rows[0]) emit(deps, 'DELEGATION_SENT', sourceId, { delegation_id: row.id, target_id: row.target_id, task_preview: row.task.slice(0, 100) });
  return row;
}

/** An agent reports the outcome of a delegation it recorded. Unknown ids are 404, not silently ignored. */
export async function updateDelegation(
  deps: AppDeps,
  sourceId: string,
  id: string,
  body: { status: 'completed' | 'failed'; error?: string | undefined; response_preview?: string | undefined },
): Promise<DelegationRow | undefined> {
  const d = await getDelegation(deps, id);
  if (!d || d.source_id !== sourceId) return undefined;
  if (body.status === 'completed') await complete(deps, d, body.response_preview ?? '', 'proxy');
  else await fail(deps, d, body.error ?? 'reported failed by the agent');
  return getDelegation(deps, id);
}
