import { z } from 'zod';

/** Every event name the platform emits. Later issues extend this list. */
export const EVENT_TYPES = [
  'WORKSPACE_CREATED',
  'WORKSPACE_UPDATED',
  'WORKSPACE_REMOVED',
  'WORKSPACE_PROVISIONING',
  'WORKSPACE_PROVISION_FAILED',
  'WORKSPACE_AWAITING_AGENT',
  'WORKSPACE_ONLINE',
  'WORKSPACE_OFFLINE',
  'WORKSPACE_DEGRADED',
  'WORKSPACE_PAUSED',
  'WORKSPACE_HIBERNATED',
  'WORKSPACE_HEARTBEAT',
  'TOKEN_CREATED',
  'TOKEN_REVOKED',
  'TASK_UPDATED',
  'AGENT_CARD_UPDATED',
  'ACTIVITY_LOGGED',
  'AGENT_MESSAGE',
  'A2A_RESPONSE',
  'A2A_QUEUED',
  'A2A_REPLIED',
  'CRON_EXECUTED',
  'CRON_SKIPPED',
  'DELEGATION_SENT',
  'DELEGATION_STATUS',
  'DELEGATION_COMPLETE',
  'DELEGATION_FAILED',
  'ORG_IMPORT_STARTED',
  'WORKSPACE_EXPANDED',
  'WORKSPACE_COLLAPSED',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * The envelope on every channel (WebSocket, SSE, `GET /events`). `seq` is the persisted
 * `structure_events.id` and orders events for replay; broadcast-only events carry `seq: null`.
 */
export const PlatformEvent = z.object({
  type: z.enum(EVENT_TYPES),
  workspace_id: z.uuid().nullable(),
  payload: z.record(z.string(), z.unknown()),
  at: z.string(),
  seq: z.number().int().nullable(),
});
export type PlatformEvent = z.infer<typeof PlatformEvent>;

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
const UUID = z.regexes.uuid();

/**
 * `PlatformEvent.safeParse` without zod, for the bus, where every replica reads every event
 * (a heartbeat's among them): the same checks and the same output (known fields only), or
 * undefined. A property test holds the two to the same verdicts.
 */
export function asPlatformEvent(v: unknown): PlatformEvent | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const { type, workspace_id: id, payload, at, seq } = o;
  if (typeof type !== 'string' || !EVENT_TYPE_SET.has(type)) return undefined;
  if (id !== null && (typeof id !== 'string' || !UUID.test(id))) return undefined;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  if (typeof at !== 'string') return undefined;
  if (seq !== null && (typeof seq !== 'number' || !Number.isSafeInteger(seq))) return undefined;
  let record = payload as Record<string, unknown>;
  // As the schema's record does: an own "__proto__" key (JSON.parse makes one) is dropped.
  if (Object.hasOwn(record, '__proto__')) record = Object.fromEntries(Object.entries(record).filter(([k]) => k !== '__proto__'));
  return { type: type as EventType, workspace_id: id, payload: record, at, seq };
}
