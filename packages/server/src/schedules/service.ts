import pLimit, { type LimitFunction } from 'p-limit';
import {
  isRecord,
  replyText,
  SCHEDULE_HISTORY_KEPT,
  SCHEDULE_REPLY_SUMMARY_CHARS,
  ScheduleRunStatus,
  Status,
  type Schedule,
  type ScheduleRun,
  type ScheduleSource,
  type UpdateScheduleBody,
} from '@molecule/contracts';
import type { ActivityInsert } from '../activity/service.js';
import { AGENT_CALL_CEILING_SECONDS } from '../a2a/limits.js';
import { isRpcError, outcomeError, type ProxyOutcome } from '../a2a/outcome.js';
import { proxyA2A, userTextRequest, type ProxyDeps } from '../a2a/proxy.js';
import type { Queryable } from '../db/port.js';
import { iso } from '../db/time.js';
import type { AppDeps } from '../deps.js';
import { DomainError, invalid, notFound } from '../errors.js';
import { getWorkspace, toView } from '../workspaces/read.js';
import { canonicalTimezone, nextRunAfter, validateCron } from './cron.js';
import {
  claimDue,
  completeQueuedRunRow,
  deleteScheduleRow,
  dueSchedules,
  endStaleRuns,
  finishRun,
  getScheduleRow,
  insertRun,
  insertSchedule,
  listRunRows,
  listScheduleRows,
  pruneRuns,
  updateScheduleRow,
  type Claim,
  type RunResult,
  type RunRow,
  type ScheduleRow,
} from './repo.js';

export { validateCron } from './cron.js';

/** What schedule CRUD needs (the org importer calls `createSchedule` with it). */
export type ScheduleDeps = Pick<AppDeps, 'db'>;

/**
 * What firing needs: the proxy's deps (a firing is a user message through the A2A proxy), the
 * broadcaster and log, and the injected native-scheduler check (C266: absent, every due schedule
 * fires).
 */
export type FireDeps = ProxyDeps & Pick<AppDeps, 'broadcaster' | 'log'> & {
  /** True when the workspace's runtime declared it runs its own scheduler (C265). */
  providesNativeScheduler?: (workspaceId: string) => boolean;
};

/** The caller label firings carry through the proxy (a user-type caller, as upstream's canvas-type one). */
export const SCHEDULER_CALLER = 'scheduler';
const MESSAGE_ID_PREFIX = 'schedule:';

/** The A2A messageId of one firing: deterministic per (schedule, cron time), the queue's idempotency key (C058). */
export const scheduleMessageId = (scheduleId: string, dueAt: Date) => `${MESSAGE_ID_PREFIX}${scheduleId}:${dueAt.toISOString()}`;

export function scheduleView(r: ScheduleRow): Schedule {
  return {
    id: r.id,
    workspace_id: r.workspace_id,
    name: r.name,
    cron_expr: r.cron_expr,
    timezone: r.timezone,
    prompt: r.prompt,
    enabled: r.enabled,
    last_run_at: iso(r.last_run_at),
    next_run_at: iso(r.next_run_at),
    run_count: r.run_count,
    last_status: r.last_status,
    last_error: r.last_error,
    source: r.source,
    created_at: iso(r.created_at)!,
    updated_at: iso(r.updated_at)!,
  };
}

export function runView(r: RunRow): ScheduleRun {
  return {
    id: r.id,
    schedule_id: r.schedule_id,
    workspace_id: r.workspace_id,
    trigger: r.trigger,
    status: r.status,
    due_at: iso(r.due_at)!,
    started_at: iso(r.started_at)!,
    finished_at: iso(r.finished_at),
    duration_ms: r.duration_ms,
    reply_summary: r.reply_summary,
    error: r.error,
    message_id: r.message_id,
    queue_id: r.queue_id,
    timestamp: iso(r.started_at)!,
  };
}

/** A refusal of one field, shaped like the API's schema errors (`details[].path`), so a form shows it at its field. */
const fieldError = (field: string, message: string) => invalid(message, { details: [{ path: `/${field}`, message }] });

/** The field a `validateCron` message is about. */
const cronField = (message: string) => (message.startsWith('invalid timezone') ? 'timezone' : 'cron_expr');

/** Validated cron and zone (the zone canonical), and the first run after `from`; throws a 400 DomainError naming the field. */
function checked(cronExpr: string, timezone: string, from: Date): { cronExpr: string; timezone: string; nextRunAt: Date | null } {
  const problem = validateCron(cronExpr, timezone);
  if (problem) throw fieldError(cronField(problem), problem);
  const tz = canonicalTimezone(timezone)!;
  return { cronExpr: cronExpr.trim(), timezone: tz, nextRunAt: nextRunAfter(cronExpr, tz, from) };
}

/**
 * Creates a schedule of `workspaceId` (the API, and the org importer for template schedules).
 * Timezone defaults to UTC, enabled to true, source to `runtime`. Throws DomainError
 * `invalid_request` (HTTP 400, the field in `details`) for a cron expression that does not parse
 * or never fires and for a time zone that does not exist. The caller checks the workspace exists.
 */
export async function createSchedule(
  deps: ScheduleDeps,
  workspaceId: string,
  input: { name: string; cron_expr: string; timezone?: string; prompt: string; enabled?: boolean; source?: ScheduleSource },
): Promise<Schedule> {
  const enabled = input.enabled ?? true;
  const c = checked(input.cron_expr, input.timezone ?? 'UTC', new Date());
  if (input.name.trim() === '') throw fieldError('name', 'name must not be empty');
  if (input.prompt.trim() === '') throw fieldError('prompt', 'prompt must not be empty');
  const row = await insertSchedule(deps.db, {
    workspaceId,
    name: input.name.trim(),
    cronExpr: c.cronExpr,
    timezone: c.timezone,
    prompt: input.prompt.replace(/\r/g, ''),
    enabled,
    source: input.source ?? 'runtime',
    // A disabled schedule has no next run; enabling it computes one from then.
    nextRunAt: enabled ? c.nextRunAt : null,
  });
  return scheduleView(row);
}

export async function listSchedules(deps: ScheduleDeps, workspaceId: string): Promise<Schedule[]> {
  return (await listScheduleRows(deps.db, workspaceId)).map(scheduleView);
}

async function requireSchedule(q: Queryable, workspaceId: string, id: string): Promise<ScheduleRow> {
  const row = await getScheduleRow(q, workspaceId, id);
  if (!row) throw notFound('schedule not found');
  return row;
}

/**
 * Changes the given fields. A new cron_expr or timezone is validated together with the other
 * (the kept one) and next_run_at is recomputed from now; so is enabling; disabling clears it.
 */
export async function updateSchedule(deps: ScheduleDeps, workspaceId: string, id: string, patch: UpdateScheduleBody): Promise<Schedule> {
  const row = await requireSchedule(deps.db, workspaceId, id);
  const cronChanged = patch.cron_expr !== undefined || patch.timezone !== undefined;
  const c = checked(patch.cron_expr ?? row.cron_expr, patch.timezone ?? row.timezone, new Date());
  const enabled = patch.enabled ?? row.enabled;
  const recompute = cronChanged || enabled !== row.enabled;
  const updated = await updateScheduleRow(deps.db, workspaceId, id, {
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.prompt !== undefined ? { prompt: patch.prompt } : {}),
    ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
    ...(cronChanged ? { cronExpr: c.cronExpr, timezone: c.timezone } : {}),
    ...(recompute ? { nextRunAt: enabled ? c.nextRunAt : null } : {}),
  });
  if (!updated) throw notFound('schedule not found');
  return scheduleView(updated);
}

export async function deleteSchedule(deps: ScheduleDeps, workspaceId: string, id: string): Promise<boolean> {
  return deleteScheduleRow(deps.db, workspaceId, id);
}

/** A schedule's history, newest first; 404 when the schedule is not this workspace's. */
export async function scheduleHistory(deps: ScheduleDeps, workspaceId: string, id: string, limit: number): Promise<ScheduleRun[]> {
  await requireSchedule(deps.db, workspaceId, id);
  return (await listRunRows(deps.db, id, limit)).map(runView);
}

/**
 * How long a queued copy of a firing may wait: the schedule's period after that cron time (so copies
 * never pile up while a workspace is away), 1 min to 24 h. A function of (schedule, cron time) only,
 * so a retried firing is the same message, which the queue recognises (C058).
 */
function queueExpirySeconds(schedule: ScheduleRow, dueAt: Date): number {
  let next: Date | null = null;
  try {
    next = nextRunAfter(schedule.cron_expr, schedule.timezone, dueAt);
  } catch {
    // An expression that no longer parses: the longest wait.
  }
  if (next === null) return 24 * 3600;
  return Math.min(24 * 3600, Math.max(60, Math.ceil((next.getTime() - dueAt.getTime()) / 1000)));
}

const clip = (s: string | undefined | null, n = SCHEDULE_REPLY_SUMMARY_CHARS) => (s === undefined || s === null ? null : s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Workspace states a firing is not sent to, and the sentence its history row says. */
const SKIPPED_STATES: ReadonlyMap<string, string> = new Map([
  [Status.Paused, 'workspace is paused; the run was skipped'],
  [Status.Failed, 'workspace failed to start; the run was skipped'],
  [Status.Removed, 'workspace was removed; the run was skipped'],
]);
/** Where the agent can take a message now; any other state (hibernated, starting, offline) gets it queued. */
const REACHABLE = new Set<string>([Status.Online, Status.Degraded]);

/** What a proxy outcome means for a firing's history. */
function resultOf(o: ProxyOutcome, durationMs: number): RunResult {
  const base = { durationMs, replySummary: null, error: null, queueId: null, fired: true };
  switch (o.kind) {
    case 'answered':
      if (isRpcError(o.answer)) return { ...base, status: ScheduleRunStatus.Failed, error: clip(`the agent answered with an error: ${outcomeError(o)}`) };
      return { ...base, status: ScheduleRunStatus.Delivered, replySummary: clip(replyText(o.answer) ?? '') };
    case 'streaming':
      o.body.destroy();
      return { ...base, status: ScheduleRunStatus.Delivered };
    case 'queued':
      return { ...base, status: ScheduleRunStatus.Queued, queueId: o.queueId };
    case 'poll_queued':
      return { ...base, status: ScheduleRunStatus.Queued };
    default:
      return { ...base, status: ScheduleRunStatus.Failed, error: clip(outcomeError(o)) };
  }
}

/**
 * Fires one claimed run: the prompt goes to the agent as a user's `message/send` through the A2A
 * proxy, so a busy agent gets it queued (C044) and a retried firing is delivered once (its
 * messageId, C058). A workspace at max_concurrent_tasks by its heartbeat's count, or not up
 * (hibernated: woken; starting; offline), gets it queued too (C267), for one period of the
 * schedule at most. A paused or failed workspace, or a cron run of one whose runtime runs its own
 * scheduler (C265), is skipped. Never throws: the outcome is the run's history row.
 */
export async function fireRun(deps: FireDeps, schedule: ScheduleRow, run: RunRow): Promise<RunRow> {
  const started = performance.now();
  let result: RunResult;
  let native = false;
  try {
    // The proxy's own cached read (invalidated by every change of the row, heartbeats included).
    const ws = await deps.workspaceCache.get(schedule.workspace_id, async () => {
      const row = await getWorkspace(deps.db, schedule.workspace_id);
      return row && toView(row);
    });
    const skip = ws ? SKIPPED_STATES.get(ws.status) : SKIPPED_STATES.get(Status.Removed);
    native = ws !== undefined && run.trigger === 'cron' && deps.providesNativeScheduler?.(ws.id) === true;
    if (!ws || skip) {
      result = { status: ScheduleRunStatus.Skipped, durationMs: 0, replySummary: null, error: skip ?? null, queueId: null, fired: false };
    } else if (native) {
      result = { status: ScheduleRunStatus.Skipped, durationMs: 0, replySummary: null, error: "the workspace's runtime runs its own scheduler", queueId: null, fired: false };
    } else {
      const atCapacity = ws.active_tasks >= Math.max(1, ws.max_concurrent_tasks);
      const queue = atCapacity || !REACHABLE.has(ws.status) || ws.url === '';
      const outcome = await proxyA2A(
        deps,
        userTextRequest(ws.id, schedule.prompt, {
          label: SCHEDULER_CALLER,
          messageId: run.message_id,
          metadata: { schedule_id: schedule.id, schedule_name: schedule.name, due_at: iso(run.due_at), trigger: run.trigger },
          expiresInSeconds: queueExpirySeconds(schedule, run.due_at),
          queue,
        }),
      );
      result = resultOf(outcome, Math.round(performance.now() - started));
    }
  } catch (err) {
    deps.log.error({ err, workspace_id: schedule.workspace_id, schedule_id: schedule.id }, 'schedule firing failed');
    result = { status: ScheduleRunStatus.Failed, durationMs: Math.round(performance.now() - started), replySummary: null, error: 'the platform could not send the message', queueId: null, fired: false };
  }
  return record(deps, schedule, run, result, native);
}

/** Writes the run's outcome, its activity row (not for native skips: those repeat every tick) and its event. */
async function record(deps: FireDeps, schedule: ScheduleRow, run: RunRow, result: RunResult, native: boolean): Promise<RunRow> {
  let done: RunRow | undefined;
  try {
    done = await finishRun(deps.db, run.id, result);
    // Amortised: about one run in ten trims its schedule's history back to the newest kept.
    if (Math.random() < 0.1) await pruneRuns(deps.db, schedule.id, SCHEDULE_HISTORY_KEPT);
  } catch (err) {
    deps.log.error({ err, workspace_id: schedule.workspace_id, schedule_id: schedule.id }, 'could not record a schedule run');
  }
  const payload = {
    schedule_id: schedule.id,
    schedule_name: schedule.name,
    run_id: run.id,
    trigger: run.trigger,
    status: result.status,
    due_at: iso(run.due_at),
    duration_ms: result.durationMs,
    ...(result.error ? { error: result.error } : {}),
    ...(result.queueId ? { queue_id: result.queueId } : {}),
  };
  const skipped = result.status === ScheduleRunStatus.Skipped;
  if (!native) {
    const row: ActivityInsert = {
      workspace_id: schedule.workspace_id,
      activity_type: 'cron_run',
      source_id: null,
      target_id: schedule.workspace_id,
      method: 'message/send',
      summary: `schedule "${schedule.name}" ${skipped ? 'skipped' : 'fired'} (${result.status})`,
      request_body: { schedule_id: schedule.id, schedule_name: schedule.name, run_id: run.id, due_at: iso(run.due_at), trigger: run.trigger },
      duration_ms: result.durationMs,
      status: result.status,
      error_detail: result.error,
    };
    deps.a2a.record([row]);
  }
  void deps.broadcaster
    .broadcastOnly(skipped ? 'CRON_SKIPPED' : 'CRON_EXECUTED', schedule.workspace_id, payload)
    .catch((err: unknown) => deps.log.error({ err, workspace_id: schedule.workspace_id }, 'schedule event broadcast failed'));
  return done ?? { ...run, status: result.status, error: result.error, duration_ms: result.durationMs };
}

/**
 * `POST .../schedules/:scheduleId/run`: fires the schedule now, outside its cron (enabled or not;
 * its next_run_at is untouched). Answers the run as it starts; the firing goes on in the background
 * and its history row says how it ended.
 */
export async function runScheduleNow(deps: FireDeps, workspaceId: string, id: string): Promise<{ schedule: Schedule; run: ScheduleRun; done: Promise<RunRow> }> {
  const schedule = await requireSchedule(deps.db, workspaceId, id);
  const dueAt = new Date();
  const run = await insertRun(deps.db, { scheduleId: id, workspaceId, dueAt, messageId: scheduleMessageId(id, dueAt), trigger: 'manual', status: ScheduleRunStatus.Running });
  if (!run) throw new DomainError('conflict', 'this schedule was just run; try again');
  const done = fireRun(deps, schedule, run);
  return { schedule: scheduleView(schedule), run: runView(run), done };
}

/**
 * The queue delivered a firing it held (the A2A queue's delivered hook): the run becomes
 * `delivered` with the reply, or `failed` with the agent's error. Other messages are ignored.
 */
export async function completeQueuedScheduleRun(deps: ScheduleDeps, item: { workspace_id: string; message_id: string }, answer: unknown): Promise<void> {
  if (!item.message_id.startsWith(MESSAGE_ID_PREFIX)) return;
  const failed = isRpcError(answer);
  const e = failed && isRecord(answer) && isRecord(answer.error) && typeof answer.error.message === 'string' ? answer.error.message : 'the agent answered with an error';
  await completeQueuedRunRow(deps.db, item.workspace_id, item.message_id, {
    from: ScheduleRunStatus.Queued,
    status: failed ? ScheduleRunStatus.Failed : ScheduleRunStatus.Delivered,
    replySummary: failed ? null : clip(replyText(answer) ?? ''),
    error: failed ? clip(`the agent answered with an error: ${e}`) : null,
  });
}

export interface SchedulerOptions {
  /** Firings in flight at once from this process (each holds an agent exchange). */
  concurrency?: number;
  /** Due schedules claimed per statement. */
  batch?: number;
  /** Claimed firings waiting for a slot, at most: past it a pass claims nothing more (they stay due). */
  maxPending?: number;
}

/** Runs left `running` this long were cut off by a stopped process (the dispatch ceiling plus a margin). */
export const STALE_RUN_SECONDS = AGENT_CALL_CEILING_SECONDS + 5 * 60;
const STALE_RUN_ERROR = 'the platform stopped before this run finished';

/**
 * The cron scheduler. `tick` is one pass of the leader-locked `scheduler` loop: it claims enabled
 * schedules due by now (oldest first, in batches), moving each one's next_run_at to its next cron
 * time AFTER now (a time missed while the platform was down fires once, never a burst), and starts
 * their firings, at most `concurrency` at once, without waiting for agents to answer (a slow agent
 * never delays the next pass). Claims are compare-and-set on next_run_at and runs are unique per
 * (schedule, cron time), so a cron time fires once whichever replica or pass claims it.
 */
export class Scheduler {
  readonly #limit: LimitFunction;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #batch: number;
  readonly #maxPending: number;

  constructor(
    private readonly deps: FireDeps,
    opts: SchedulerOptions = {},
  ) {
    this.#limit = pLimit(opts.concurrency ?? 64);
    this.#batch = opts.batch ?? 250;
    this.#maxPending = opts.maxPending ?? 2000;
  }

  /** One pass. Safe to run twice and on several replicas at once. Returns how many runs it started. */
  async tick(q: Queryable): Promise<{ started: number }> {
    const stale = await endStaleRuns(q, STALE_RUN_SECONDS, ScheduleRunStatus.Running, ScheduleRunStatus.Failed, STALE_RUN_ERROR);
    if (stale > 0) this.deps.log.warn({ runs: stale }, 'scheduler: runs a stopped process left running were marked failed');
    let started = 0;
    for (;;) {
      const room = Math.min(this.#batch, this.#maxPending - this.#limit.pendingCount);
      if (room <= 0) break;
      const due = await dueSchedules(q, room, [Status.Removed]);
      if (due.length === 0) break;
      const now = new Date();
      const claims: Claim[] = due.map((s) => ({ scheduleId: s.id, dueAt: s.next_run_at!, nextRunAt: this.#next(s, now), messageId: scheduleMessageId(s.id, s.next_run_at!) }));
      const runs = await claimDue(q, claims, 'cron', ScheduleRunStatus.Running);
      const byId = new Map(due.map((s) => [s.id, s]));
      for (const run of runs) {
        const schedule = byId.get(run.schedule_id)!;
        this.#track(this.#limit(() => fireRun(this.deps, schedule, run)));
      }
      started += runs.length;
      // Fewer than asked: nothing more is due. None claimed: others took them; the next pass looks again.
      if (due.length < room || runs.length === 0) break;
    }
    return { started };
  }

  /** Resolves when no firing this scheduler started is in flight (tests, benches). */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** The next cron time after `now`; null (never again) for an expression that no longer parses. */
  #next(s: ScheduleRow, now: Date): Date | null {
    try {
      return nextRunAfter(s.cron_expr, s.timezone, now);
    } catch (err) {
      this.deps.log.error({ err, workspace_id: s.workspace_id, schedule_id: s.id }, 'schedule cron expression no longer parses; it will not fire again');
      return null;
    }
  }

  #track(p: Promise<unknown>): void {
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p));
  }
}
