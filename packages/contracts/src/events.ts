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
  'DELEGATION_COMPLETE',
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
