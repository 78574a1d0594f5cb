import type { ScheduleRunStatus, ScheduleRunTrigger, ScheduleSource } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';

/** A `workspace_schedules` row as stored. */
export interface ScheduleRow {
  id: string;
  workspace_id: string;
  name: string;
  cron_expr: string;
  timezone: string;
  prompt: string;
  enabled: boolean;
  source: ScheduleSource;
  next_run_at: Date | null;
  last_run_at: Date | null;
  run_count: number;
  last_status: ScheduleRunStatus | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A `schedule_runs` row as stored. */
export interface RunRow {
  id: string;
  schedule_id: string;
  workspace_id: string;
  trigger: ScheduleRunTrigger;
  status: ScheduleRunStatus;
  due_at: Date;
  message_id: string;
  queue_id: string | null;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
  reply_summary: string | null;
  error: string | null;
}

export interface NewSchedule {
  workspaceId: string;
  name: string;
  cronExpr: string;
  timezone: string;
  prompt: string;
  enabled: boolean;
  source: ScheduleSource;
  nextRunAt: Date | null;
}

export async function insertSchedule(q: Queryable, s: NewSchedule): Promise<ScheduleRow> {
  const r = await q.query<ScheduleRow>(
    `INSERT INTO workspace_schedules (workspace_id, name, cron_expr, timezone, prompt, enabled, source, next_run_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
    [s.workspaceId, s.name, s.cronExpr, s.timezone, s.prompt, s.enabled, s.source, s.nextRunAt],
  );
  return r.rows[0]!;
}

/** A workspace's schedules, oldest first. */
export async function listScheduleRows(q: Queryable, workspaceId: string): Promise<ScheduleRow[]> {
  return (await q.query<ScheduleRow>('SELECT * FROM workspace_schedules WHERE workspace_id = $1 ORDER BY created_at, id', [workspaceId])).rows;
}

/** One schedule of one workspace: another workspace's schedule is not found. */
export async function getScheduleRow(q: Queryable, workspaceId: string, id: string): Promise<ScheduleRow | undefined> {
  return (await q.query<ScheduleRow>('SELECT * FROM workspace_schedules WHERE workspace_id = $1 AND id = $2', [workspaceId, id])).rows[0];
}

export interface SchedulePatch {
  name?: string;
  cronExpr?: string;
  timezone?: string;
  prompt?: string;
  enabled?: boolean;
  /** Present (null included): the new next_run_at. Absent: kept. */
  nextRunAt?: Date | null;
}

export async function updateScheduleRow(q: Queryable, workspaceId: string, id: string, p: SchedulePatch): Promise<ScheduleRow | undefined> {
  const r = await q.query<ScheduleRow>(
    `UPDATE workspace_schedules SET
       name = COALESCE($3, name),
       cron_expr = COALESCE($4, cron_expr),
       timezone = COALESCE($5, timezone),
       prompt = COALESCE($6, prompt),
       enabled = COALESCE($7, enabled),
       next_run_at = CASE WHEN $8::boolean THEN $9::timestamptz ELSE next_run_at END,
       updated_at = now()
     WHERE workspace_id = $1 AND id = $2 RETURNING *`,
    [workspaceId, id, p.name ?? null, p.cronExpr ?? null, p.timezone ?? null, p.prompt ?? null, p.enabled ?? null, 'nextRunAt' in p, p.nextRunAt ?? null],
  );
  return r.rows[0];
}

export async function deleteScheduleRow(q: Queryable, workspaceId: string, id: string): Promise<boolean> {
  return (await q.query('DELETE FROM workspace_schedules WHERE workspace_id = $1 AND id = $2', [workspaceId, id])).rowCount > 0;
}

/**
 * Enabled schedules due at or before now, oldest due first, at most `limit`; schedules of
 * workspaces in `excludedStatuses` (removed) are never selected.
 */
export async function dueSchedules(q: Queryable, limit: number, excludedStatuses: readonly string[]): Promise<ScheduleRow[]> {
  const r = await q.query<ScheduleRow>(
    `SELECT s.* FROM workspace_schedules s JOIN workspaces w ON w.id = s.workspace_id
      WHERE s.enabled AND s.next_run_at <= now() AND w.status <> ALL($2::text[]::workspace_status[])
      ORDER BY s.next_run_at, s.id LIMIT $1`,
    [limit, excludedStatuses],
  );
  return r.rows;
}

export interface Claim {
  scheduleId: string;
  /** The next_run_at the claim was computed from (compare-and-set: another claimer moved it first, this one is void). */
  dueAt: Date;
  nextRunAt: Date | null;
  messageId: string;
}

/**
 * Claims due schedules in one statement: moves each one's next_run_at on (only if it still is the
 * due time the claim read) and records its run, `status`, unique per (schedule, due time). What
 * comes back is what this caller may fire; a schedule another replica or pass claimed first, or
 * one disabled meanwhile, is not in it.
 */
export async function claimDue(q: Queryable, claims: readonly Claim[], trigger: ScheduleRunTrigger, status: ScheduleRunStatus): Promise<RunRow[]> {
  if (claims.length === 0) return [];
  const r = await q.query<RunRow>(
    `WITH v AS (
       SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::text[]) AS v(id, due, next, message_id)
     ), claimed AS (
       UPDATE workspace_schedules s SET next_run_at = v.next
         FROM v WHERE s.id = v.id AND s.next_run_at = v.due AND s.enabled
       RETURNING s.id, s.workspace_id, v.due, v.message_id
     )
     INSERT INTO schedule_runs (schedule_id, workspace_id, trigger, status, due_at, message_id)
     SELECT id, workspace_id, $5::text, $6::text, due, message_id FROM claimed
     ON CONFLICT (schedule_id, due_at) DO NOTHING
     RETURNING *`,
    [claims.map((c) => c.scheduleId), claims.map((c) => c.dueAt), claims.map((c) => c.nextRunAt), claims.map((c) => c.messageId), trigger, status],
  );
  return r.rows;
}

/** A run started by hand (`POST .../run`); undefined when one with the same due time exists. */
export async function insertRun(q: Queryable, s: { scheduleId: string; workspaceId: string; dueAt: Date; messageId: string; trigger: ScheduleRunTrigger; status: ScheduleRunStatus }): Promise<RunRow | undefined> {
  const r = await q.query<RunRow>(
    `INSERT INTO schedule_runs (schedule_id, workspace_id, trigger, status, due_at, message_id)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (schedule_id, due_at) DO NOTHING RETURNING *`,
    [s.scheduleId, s.workspaceId, s.trigger, s.status, s.dueAt, s.messageId],
  );
  return r.rows[0];
}

export interface RunResult {
  status: ScheduleRunStatus;
  durationMs: number;
  replySummary: string | null;
  error: string | null;
  queueId: string | null;
  /** It reached the agent or its queue: counts in run_count and last_run_at. */
  fired: boolean;
}

/**
 * Ends a run and brings its schedule's last_* fields and run_count up to date, in one statement. A
 * run ended before (a retried firing) is not counted again.
 */
export async function finishRun(q: Queryable, runId: string, res: RunResult): Promise<RunRow | undefined> {
  const r = await q.query<RunRow>(
    `WITH prev AS (
       SELECT finished_at IS NULL AS first FROM schedule_runs WHERE id = $1
     ), r AS (
       UPDATE schedule_runs SET status = $2, finished_at = now(), duration_ms = $3, reply_summary = $4, error = $5, queue_id = $6
        WHERE id = $1 RETURNING *
     ), s AS (
       UPDATE workspace_schedules s SET last_status = $2, last_error = $5,
              last_run_at = CASE WHEN $7::boolean THEN r.started_at ELSE s.last_run_at END,
              run_count = s.run_count + CASE WHEN $7::boolean AND (SELECT first FROM prev) THEN 1 ELSE 0 END
         FROM r WHERE s.id = r.schedule_id
     )
     SELECT * FROM r`,
    [runId, res.status, res.durationMs, res.replySummary, res.error, res.queueId, res.fired],
  );
  return r.rows[0];
}

/**
 * A queued run whose message the A2A queue delivered: `delivered` with the reply (or `failed`
 * with the agent's error); the schedule's last_status follows when it is the schedule's newest run.
 */
export async function completeQueuedRunRow(
  q: Queryable,
  workspaceId: string,
  messageId: string,
  res: { from: ScheduleRunStatus; status: ScheduleRunStatus; replySummary: string | null; error: string | null },
): Promise<RunRow | undefined> {
  const r = await q.query<RunRow>(
    `WITH r AS (
       UPDATE schedule_runs SET status = $4, finished_at = now(),
              duration_ms = GREATEST(0, (extract(epoch FROM now() - started_at) * 1000)::integer), reply_summary = $5, error = $6
        WHERE workspace_id = $1 AND message_id = $2 AND status = $3 RETURNING *
     ), s AS (
       UPDATE workspace_schedules s SET last_status = $4, last_error = $6
         FROM r WHERE s.id = r.schedule_id
          AND NOT EXISTS (SELECT 1 FROM schedule_runs n WHERE n.schedule_id = r.schedule_id AND n.started_at > r.started_at)
     )
     SELECT * FROM r`,
    [workspaceId, messageId, res.from, res.status, res.replySummary, res.error],
  );
  return r.rows[0];
}

/** Keeps the newest `keep` runs of a schedule. */
export async function pruneRuns(q: Queryable, scheduleId: string, keep: number): Promise<void> {
  await q.query(
    `DELETE FROM schedule_runs WHERE schedule_id = $1 AND id IN (
       SELECT id FROM schedule_runs WHERE schedule_id = $1 ORDER BY started_at DESC, id DESC OFFSET $2)`,
    [scheduleId, keep],
  );
}

/** A schedule's runs, newest first. */
export async function listRunRows(q: Queryable, scheduleId: string, limit: number): Promise<RunRow[]> {
  return (await q.query<RunRow>('SELECT * FROM schedule_runs WHERE schedule_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2', [scheduleId, limit])).rows;
}

/**
 * Runs left `from` (running) longer than `olderThanSeconds`: the process firing them stopped. They
 * end `to` (failed) with `error`, so history never shows a run as running forever.
 */
export async function endStaleRuns(q: Queryable, olderThanSeconds: number, from: ScheduleRunStatus, to: ScheduleRunStatus, error: string): Promise<number> {
  const r = await q.query(
    `UPDATE schedule_runs SET status = $3, error = $4, finished_at = now()
      WHERE status = $2 AND started_at < now() - make_interval(secs => $1::integer)`,
    [olderThanSeconds, from, to, error],
  );
  return r.rowCount;
}
