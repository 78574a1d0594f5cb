import { z } from 'zod';

/**
 * Cron schedules of a workspace (issue #12): a prompt sent to its agent as an A2A `message/send`
 * at each time a 5-field cron expression names, in an IANA time zone. The wire shapes follow
 * upstream's schedule object; `schedule_runs` (history) is ours.
 */

/** Where a schedule came from: an org template's `schedules:` (import) or the API at runtime. */
export const SCHEDULE_SOURCES = ['template', 'runtime'] as const;
export type ScheduleSource = (typeof SCHEDULE_SOURCES)[number];

/**
 * What became of one firing. `running`: claimed, being sent. `delivered`: the agent answered.
 * `queued`: the agent was busy, at max_concurrent_tasks or not up (hibernated, starting), so the
 * message waits in the A2A queue; it becomes `delivered` when the queue delivers it. `failed`: it
 * could not be sent (budget, agent error...). `skipped`: deliberately not sent (the workspace is
 * paused or failed, or its runtime runs its own scheduler). Mirrored by a CHECK on
 * `schedule_runs.status` (migration 011; a test holds the two together).
 */
export const SCHEDULE_RUN_STATUSES = ['running', 'delivered', 'queued', 'failed', 'skipped'] as const;
export type ScheduleRunStatus = (typeof SCHEDULE_RUN_STATUSES)[number];
export const ScheduleRunStatus = {
  Running: 'running',
  Delivered: 'delivered',
  Queued: 'queued',
  Failed: 'failed',
  Skipped: 'skipped',
} as const satisfies Record<string, ScheduleRunStatus>;

/** Why a run happened: the cron (the scheduler loop) or a person (`POST .../run`). */
export const SCHEDULE_RUN_TRIGGERS = ['cron', 'manual'] as const;
export type ScheduleRunTrigger = (typeof SCHEDULE_RUN_TRIGGERS)[number];

/** Longest prompt accepted: 32 KiB of UTF-8 (a prompt is an instruction, not a document). */
export const MAX_SCHEDULE_PROMPT_BYTES = 32 * 1024;
export const MAX_SCHEDULE_NAME_CHARS = 200;
/** Longest reply summary a history row keeps. */
export const SCHEDULE_REPLY_SUMMARY_CHARS = 500;
/** History rows kept per schedule, at least (older ones are trimmed as new ones are written). */
export const SCHEDULE_HISTORY_KEPT = 100;

const name = z
  .string({ error: 'name must be a string' })
  .trim()
  .min(1, 'name must not be empty')
  .max(MAX_SCHEDULE_NAME_CHARS, `name must be at most ${MAX_SCHEDULE_NAME_CHARS} characters`);
/** Carriage returns are stripped, as upstream does. */
const prompt = z
  .string({ error: 'prompt must be a string' })
  .transform((p) => p.replace(/\r/g, ''))
  .refine((p) => p.trim().length > 0, 'prompt must not be empty')
  .refine((p) => new TextEncoder().encode(p).length <= MAX_SCHEDULE_PROMPT_BYTES, `prompt must be at most ${MAX_SCHEDULE_PROMPT_BYTES} bytes`);
const cronExpr = z.string({ error: 'cron_expr must be a string' }).trim().min(1, 'cron_expr must not be empty').max(200, 'cron_expr must be at most 200 characters');
const timezone = z.string({ error: 'timezone must be a string' }).trim().min(1, 'timezone must not be empty').max(100, 'timezone must be at most 100 characters');

/**
 * `POST /workspaces/:id/schedules`. Unknown fields are refused (400), as elsewhere in the API.
 * Whether the cron expression parses and the time zone exists is checked by the server (croner).
 */
export const CreateScheduleBody = z.strictObject({
  name,
  cron_expr: cronExpr,
  timezone: timezone.default('UTC'),
  prompt,
  enabled: z.boolean({ error: 'enabled must be true or false' }).default(true),
});
export type CreateScheduleBody = z.infer<typeof CreateScheduleBody>;

/** `PATCH /workspaces/:id/schedules/:scheduleId`: any of the fields; absent ones are kept. */
export const UpdateScheduleBody = z
  .strictObject({
    name: name.optional(),
    cron_expr: cronExpr.optional(),
    timezone: timezone.optional(),
    prompt: prompt.optional(),
    enabled: z.boolean({ error: 'enabled must be true or false' }).optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one of name, cron_expr, timezone, prompt, enabled');
export type UpdateScheduleBody = z.infer<typeof UpdateScheduleBody>;

/** The schedule object (upstream's fields). Times are RFC 3339 UTC. */
export const Schedule = z.object({
  id: z.uuid(),
  workspace_id: z.uuid(),
  name: z.string(),
  cron_expr: z.string(),
  timezone: z.string(),
  prompt: z.string(),
  enabled: z.boolean(),
  last_run_at: z.string().nullable(),
  /** The next time it fires (UTC); null when the expression never fires again. */
  next_run_at: z.string().nullable(),
  run_count: z.number().int(),
  last_status: z.enum(SCHEDULE_RUN_STATUSES).nullable(),
  last_error: z.string().nullable(),
  source: z.enum(SCHEDULE_SOURCES),
  created_at: z.string(),
  updated_at: z.string(),
});
export type Schedule = z.infer<typeof Schedule>;

/** One firing, as `GET .../history` shows it (newest first). */
export const ScheduleRun = z.object({
  id: z.uuid(),
  schedule_id: z.uuid(),
  workspace_id: z.uuid(),
  trigger: z.enum(SCHEDULE_RUN_TRIGGERS),
  status: z.enum(SCHEDULE_RUN_STATUSES),
  /** The cron time this run fired for (its "now" for a manual run). */
  due_at: z.string(),
  started_at: z.string(),
  finished_at: z.string().nullable(),
  duration_ms: z.number().int().nullable(),
  /** The start of the agent's reply, at most SCHEDULE_REPLY_SUMMARY_CHARS characters. */
  reply_summary: z.string().nullable(),
  /** A safe sentence (never internals) when it failed or was skipped. */
  error: z.string().nullable(),
  /** The A2A messageId it was sent with: `schedule:<schedule id>:<due_at>` (the queue's idempotency key). */
  message_id: z.string(),
  queue_id: z.uuid().nullable(),
  /** Upstream's history field name for the same time. */
  timestamp: z.string(),
});
export type ScheduleRun = z.infer<typeof ScheduleRun>;
