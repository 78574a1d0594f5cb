import {
  isSelfActivity,
  Status,
  type ActivityEntry,
  type ActivityReportBody,
  type FilePart,
  type NotifyAttachment,
  type NotifyBody,
  type WorkspaceView,
} from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import type { Broadcaster } from '../events/broadcaster.js';
import { denied, gone, invalid, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import type { WorkspaceCache } from '../workspaces/cache.js';
import { getWorkspace, toView } from '../workspaces/read.js';
import { removedError } from '../workspaces/errors.js';
import {
  answerReceived,
  cursorExists,
  getReceived,
  insertActivities,
  listQueuedReceived,
  listActivity,
  purgeActivityBatch,
  type ActivityFilter,
  type ActivityInsert,
  type ActivityRow,
} from './repo.js';

export type { ActivityFilter, ActivityInsert, ActivityRow } from './repo.js';

/** What writing activity needs: every writer (A2A proxy, delegations, notify, agents) passes these. */
export interface ActivityDeps {
  db: Queryable;
  broadcaster: Pick<Broadcaster, 'broadcastOnly'>;
}

/** What the routes need on top: the workspace lookup and a log for best-effort writes. */
export interface ActivityRouteDeps extends ActivityDeps {
  log: Logger;
  workspaceCache?: WorkspaceCache;
}

/** The ACTIVITY_LOGGED payload: upstream's fields, plus the row id (a since_id cursor) and time. */
export function activityLoggedPayload(row: ActivityRow): Record<string, unknown> {
  return {
    id: row.id,
    activity_type: row.activity_type,
    method: row.method,
    summary: row.summary,
    status: row.status,
    source_id: row.source_id,
    target_id: row.target_id,
    duration_ms: row.duration_ms,
    created_at: row.created_at,
    ...(row.tool_trace !== null ? { tool_trace: row.tool_trace } : {}),
  };
}

/**
 * THE way activity is written (C093): inserts the rows in one statement (all or none) and then
 * emits one ACTIVITY_LOGGED per row on its workspace's stream. Returns the stored rows in order.
 * A database failure throws before anything is emitted; callers decide whether that is fatal.
 * The A2A proxy writes both sides of an exchange (caller's a2a_send, target's a2a_receive) with one
 * call. Pass the database, not an open transaction: the events go out as soon as the INSERT returns.
 */
export async function recordActivities(deps: ActivityDeps, rows: readonly ActivityInsert[]): Promise<ActivityRow[]> {
  const stored = await insertActivities(deps.db, rows);
  // Broadcast only: the activity row is itself the durable record, replayable through
  // GET /workspaces/:id/activity?since_id=; a structure_events copy would double the write cost of
  // every A2A exchange for nothing.
  for (const row of stored) await deps.broadcaster.broadcastOnly('ACTIVITY_LOGGED', row.workspace_id, activityLoggedPayload(row));
  return stored;
}

/** The poll inbox's reads and its one write, over the activity log that holds the messages (C274). */
export const inboxRows = {
  /** The workspace's unanswered `a2a_receive` rows, oldest first, after `sinceId` when given. */
  queued: (q: Queryable, workspaceId: string, opts: { sinceId?: string; limit: number }) => listQueuedReceived(q, workspaceId, opts),
  /** One `a2a_receive` row of the workspace, any status. */
  get: (q: Queryable, workspaceId: string, id: string) => getReceived(q, workspaceId, id),
  /** Answers a queued row once; undefined (nothing changed) when it is not a queued row of the workspace. */
  answer: (q: Queryable, workspaceId: string, id: string, responseBody: unknown) => answerReceived(q, workspaceId, id, responseBody),
  /** Whether `id` is a row of the workspace's log (the cursor check). */
  cursorExists: (q: Queryable, workspaceId: string, id: string) => cursorExists(q, workspaceId, id),
};

/** One row through `recordActivities`. */
export async function recordActivity(deps: ActivityDeps, row: ActivityInsert): Promise<ActivityRow> {
  const [stored] = await recordActivities(deps, [row]);
  return stored!;
}

/** The client view of a row: the JSON bodies only when set. */
export function toEntry(r: ActivityRow): ActivityEntry {
  return {
    id: r.id,
    workspace_id: r.workspace_id,
    activity_type: r.activity_type,
    source_id: r.source_id,
    target_id: r.target_id,
    method: r.method,
    summary: r.summary,
    duration_ms: r.duration_ms,
    status: r.status,
    error_detail: r.error_detail,
    created_at: r.created_at,
    ...(r.request_body !== null ? { request_body: r.request_body } : {}),
    ...(r.response_body !== null ? { response_body: r.response_body } : {}),
    ...(r.tool_trace !== null ? { tool_trace: r.tool_trace } : {}),
  };
}

/** The workspace, if it exists and is not removed: 404 unknown, 410 removed. */
export async function requireLiveWorkspace(deps: ActivityRouteDeps, id: string): Promise<WorkspaceView> {
  const load = async () => {
    const row = await getWorkspace(deps.db, id);
    return row && toView(row);
  };
  const view = deps.workspaceCache ? await deps.workspaceCache.get(id, load) : await load();
  if (!view) throw notFound('workspace not found');
  if (view.status === Status.Removed) throw removedError({ id: view.id, removed_at: view.removed_at });
  return view;
}

const blankToNull = (s: string | null | undefined) => (s === undefined || s === null || s === '' ? null : s);

/**
 * `POST /workspaces/:id/activity`: an agent's own report. `source_id` may only be empty or the
 * workspace itself (403 otherwise) and defaults to it; rows about the agent's own actions default
 * their target to the workspace itself (C037); `metadata` stands in for an absent `request_body`.
 * Unknown workspace 404, removed 410; a failed write is a 500, never a false "logged".
 */
export async function reportActivity(deps: ActivityRouteDeps, workspaceId: string, body: ActivityReportBody): Promise<ActivityRow> {
  const source = blankToNull(body.source_id);
  if (source !== null && source !== workspaceId) throw denied("source_id must be empty or this workspace's own ID");
  await requireLiveWorkspace(deps, workspaceId);
  const target = blankToNull(body.target_id) ?? (isSelfActivity(body.activity_type) ? workspaceId : null);
  return recordActivity(deps, {
    workspace_id: workspaceId,
    activity_type: body.activity_type,
    source_id: workspaceId,
    target_id: target,
    method: blankToNull(body.method),
    summary: blankToNull(body.summary),
    request_body: body.request_body ?? body.metadata,
    response_body: body.response_body,
    tool_trace: body.tool_trace,
    duration_ms: body.duration_ms ?? null,
    status: blankToNull(body.status),
    error_detail: blankToNull(body.error_detail),
  });
}

/** The since_id cursor is unknown, pruned or another workspace's: the same answer for all three (C089). */
export const CURSOR_GONE = 'since_id is not in this workspace\'s activity log (pruned or unknown); start again with since_secs';

/**
 * `GET /workspaces/:id/activity` (C086-C091, C094). Unknown workspace 404, removed 410, a cursor
 * that is not one of this workspace's rows 410.
 */
export async function queryActivity(deps: ActivityRouteDeps, filter: ActivityFilter): Promise<ActivityEntry[]> {
  await requireLiveWorkspace(deps, filter.workspaceId);
  if (filter.sinceId !== undefined && !(await cursorExists(deps.db, filter.workspaceId, filter.sinceId))) throw gone(CURSOR_GONE);
  return (await listActivity(deps.db, filter)).map(toEntry);
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * Accepts exactly an RFC 3339 date-time whose every field is in range and that PostgreSQL can
 * store (year 0001 or later, offsets within +-15:59), and returns it unchanged for binding;
 * anything else is null (C091). No other text reaches SQL.
 */
export function parseRfc3339(s: string): string | null {
  const m = RFC3339.exec(s);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth) return null;
  if (hour > 23 || minute > 59 || second > 60) return null;
  if (m[8] !== undefined && (Number(m[8]) > 15 || Number(m[9]) > 59)) return null;
  return s;
}

/** Characters of the message kept in the notify row's summary (upstream's 80). */
const NOTIFY_SUMMARY_CHARS = 80;

const ATTACHMENT_SCHEMES = new Set(['workspace:', 'http:', 'https:']);
const schemeOf = (uri: string) => /^([a-z][a-z0-9+.-]*:)/i.exec(uri.trim())?.[1]?.toLowerCase() ?? '';

/** The one check on notify attachments (C068): every element needs a non-blank uri and name. */
export function checkAttachments(attachments: readonly NotifyAttachment[]): { uri: string; name: string; mimeType?: string; size?: number }[] {
  return attachments.map((a, i) => {
    if (!a.uri?.trim() || !a.name?.trim()) throw invalid(`attachment[${i}]: uri and name are required`);
    // The canvas renders the uri as a download link: nothing that runs script or reads local files.
    if (!ATTACHMENT_SCHEMES.has(schemeOf(a.uri))) throw invalid(`attachment[${i}]: uri must be a workspace:, http: or https: URI`);
    return {
      uri: a.uri,
      name: a.name,
      ...(a.mimeType ? { mimeType: a.mimeType } : {}),
      ...(a.size !== undefined && a.size !== null ? { size: a.size } : {}),
    };
  });
}

/**
 * `POST /workspaces/:id/notify` (C068-C071): checks the attachments, persists an a2a_receive row
 * (method notify, no source) whose response_body replays as a chat message with download chips,
 * and broadcasts AGENT_MESSAGE. The row is best-effort: a failed write is logged and the message
 * still reaches the canvas and the agent gets its 200 (fail-open: the live message matters more
 * than its history).
 */
export async function notify(deps: ActivityRouteDeps, workspaceId: string, body: NotifyBody): Promise<void> {
  const attachments = checkAttachments(body.attachments ?? []);
  const ws = await requireLiveWorkspace(deps, workspaceId);
  const parts: FilePart[] = attachments.map((file) => ({ kind: 'file', file }));
  try {
    await recordActivity(deps, {
      workspace_id: workspaceId,
      activity_type: 'a2a_receive',
      source_id: null,
      method: 'notify',
      summary: `Agent message: ${Array.from(body.message).slice(0, NOTIFY_SUMMARY_CHARS).join('')}`,
      response_body: { result: body.message, ...(parts.length > 0 ? { parts } : {}) },
    });
  } catch (err) {
    deps.log.error({ err, workspace_id: workspaceId }, 'notify: could not persist the message to the activity log; it is delivered live only');
  }
  await deps.broadcaster.broadcastOnly('AGENT_MESSAGE', workspaceId, {
    message: body.message,
    workspace_id: workspaceId,
    name: ws.name,
    ...(attachments.length > 0 ? { attachments } : {}),
  });
}

/** Rows per DELETE and DELETEs per pass: a pass stays short; the next one carries on. */
export const PURGE_BATCH_SIZE = 5000;
export const PURGE_MAX_BATCHES = 200;

/**
 * The activity retention pass: deletes rows older than `retentionDays` in batches until none is
 * left or `maxBatches` ran. Level-triggered, so running it twice or after a missed pass is safe.
 * Returns the number of rows deleted.
 */
export async function purgeExpiredActivity(
  q: Queryable,
  opts: { retentionDays: number; batchSize?: number; maxBatches?: number },
): Promise<number> {
  const batchSize = opts.batchSize ?? PURGE_BATCH_SIZE;
  const maxBatches = opts.maxBatches ?? PURGE_MAX_BATCHES;
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await purgeActivityBatch(q, opts.retentionDays, batchSize);
    total += n;
    if (n < batchSize) break;
  }
  return total;
}
