import { z } from 'zod';

/**
 * Every `activity_logs.activity_type` the platform writes or accepts (C093). Agents report the
 * first seven themselves (`POST /workspaces/:id/activity`); the platform writes the rest (A2A
 * proxy, delegations, scheduler, memory audit).
 */
export const ACTIVITY_TYPES = [
  'a2a_send',
  'a2a_receive',
  'task_update',
  'agent_log',
  'skill_promotion',
  'memory_write',
  'error',
  'delegation',
  'delegate_result',
  'cron_run',
  'memory_write_global',
] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

/** What an agent may report about itself (upstream's list for `POST /workspaces/:id/activity`). */
export const AGENT_REPORTED_ACTIVITY_TYPES = [
  'a2a_send',
  'a2a_receive',
  'task_update',
  'agent_log',
  'skill_promotion',
  'memory_write',
  'error',
] as const satisfies readonly ActivityType[];
export type AgentReportedActivityType = (typeof AGENT_REPORTED_ACTIVITY_TYPES)[number];

/**
 * Rows about the agent's own actions: their target is the workspace itself, never NULL (C037), so
 * a consumer joining on target_id sees a defined value.
 */
export const SELF_ACTIVITY_TYPES = ['agent_log', 'task_update', 'skill_promotion', 'memory_write', 'error'] as const satisfies readonly ActivityType[];

export function isSelfActivity(type: string): boolean {
  return (SELF_ACTIVITY_TYPES as readonly string[]).includes(type);
}

/** The status a row gets when the writer names none. */
export const ACTIVITY_STATUS_OK = 'ok';

/** Bounds on the text fields agents send; bodies are bounded by the request size limit. */
export const ACTIVITY_LIMITS = { method: 256, summary: 8192, status: 64, errorDetail: 8192 } as const;

const isUuid = (s: string) => z.uuid().safeParse(s).success;
/** A workspace id, or the empty string upstream runtimes send for "none". */
const optionalId = (field: string) =>
  z
    .string({ error: `${field} must be a string` })
    .refine((s) => s === '' || isUuid(s), `${field} must be a workspace ID (a UUID) or empty`)
    .nullish();
const text = (field: string, max: number) =>
  z.string({ error: `${field} must be a string` }).max(max, `${field} must be at most ${max} characters`).nullish();

/**
 * `POST /workspaces/:id/activity`: an agent reports one entry. `source_id` may only name the
 * workspace itself; `metadata` stands in for `request_body` when that is absent. Extra fields from
 * other runtimes are ignored.
 */
export const ActivityReportBody = z.object({
  activity_type: z.enum(AGENT_REPORTED_ACTIVITY_TYPES, {
    error: `activity_type must be one of ${AGENT_REPORTED_ACTIVITY_TYPES.join(', ')}`,
  }),
  method: text('method', ACTIVITY_LIMITS.method),
  summary: text('summary', ACTIVITY_LIMITS.summary),
  source_id: optionalId('source_id'),
  target_id: optionalId('target_id'),
  status: text('status', ACTIVITY_LIMITS.status),
  error_detail: text('error_detail', ACTIVITY_LIMITS.errorDetail),
  duration_ms: z
    .number({ error: 'duration_ms must be a number' })
    .int('duration_ms must be a whole number of milliseconds')
    .min(0, 'duration_ms must not be negative')
    .max(2_147_483_647, 'duration_ms is too large')
    .nullish(),
  request_body: z.unknown().optional(),
  response_body: z.unknown().optional(),
  metadata: z.unknown().optional(),
  tool_trace: z.unknown().optional(),
});
export type ActivityReportBody = z.infer<typeof ActivityReportBody>;

/**
 * One row of `GET /workspaces/:id/activity` (C093). `created_at` is RFC 3339 with microseconds, so
 * it can be handed back as `before_ts` without losing rows written in the same millisecond. The
 * three JSON bodies appear only when set.
 */
export const ActivityEntry = z.object({
  id: z.uuid(),
  workspace_id: z.uuid(),
  activity_type: z.string(),
  source_id: z.string().nullable(),
  target_id: z.string().nullable(),
  method: z.string().nullable(),
  summary: z.string().nullable(),
  duration_ms: z.number().int().nullable(),
  status: z.string(),
  error_detail: z.string().nullable(),
  created_at: z.string(),
  request_body: z.unknown().optional(),
  response_body: z.unknown().optional(),
  tool_trace: z.unknown().optional(),
});
export type ActivityEntry = z.infer<typeof ActivityEntry>;

/** `source` on `GET /workspaces/:id/activity`: canvas rows have no source workspace, agent rows do. */
export const ACTIVITY_SOURCES = ['canvas', 'agent'] as const;
export type ActivitySource = (typeof ACTIVITY_SOURCES)[number];

/** Longest window `since_secs` reaches; larger values are clamped to it (C087). */
export const MAX_SINCE_SECS = 30 * 24 * 3600;
export const DEFAULT_ACTIVITY_LIMIT = 100;
export const MAX_ACTIVITY_LIMIT = 500;

/**
 * A file the agent attaches to a notify message (C068). `uri` and `name` are required, but are
 * checked by the route so the error names the element ("attachment[i]: ...").
 */
export const NotifyAttachment = z.object({
  uri: z.string().max(4096, 'uri must be at most 4096 characters').optional(),
  name: z.string().max(1024, 'name must be at most 1024 characters').optional(),
  mimeType: z.string().max(255, 'mimeType must be at most 255 characters').nullish(),
  size: z.number().int('size must be a whole number of bytes').min(0, 'size must not be negative').nullish(),
});
export type NotifyAttachment = z.infer<typeof NotifyAttachment>;

export const MAX_NOTIFY_ATTACHMENTS = 50;

/** `POST /workspaces/:id/notify`: the agent pushes a chat message to the user (C068-C071). */
export const NotifyBody = z.object({
  message: z
    .string({ error: 'message is required' })
    .max(100_000, 'message must be at most 100000 characters')
    .refine((s) => s.trim() !== '', 'message is required'),
  attachments: z.array(NotifyAttachment).max(MAX_NOTIFY_ATTACHMENTS, `at most ${MAX_NOTIFY_ATTACHMENTS} attachments`).optional(),
});
export type NotifyBody = z.infer<typeof NotifyBody>;

/** A file part as stored in the notify row's `response_body.parts` and replayed by chat history (C070). */
export interface FilePart {
  kind: 'file';
  file: { uri: string; name: string; mimeType?: string; size?: number };
}
