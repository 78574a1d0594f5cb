/**
 * The workspace status set (C015). The database mirrors it as the Postgres enum
 * `workspace_status`; `packages/server/src/db/schema.test.ts` fails when the two drift (C016).
 */
export const WORKSPACE_STATUSES = [
  'provisioning',
  'online',
  'offline',
  'degraded',
  'failed',
  'removed',
  'paused',
  'hibernated',
  'awaiting_agent',
  'hibernating',
] as const;

export type WorkspaceStatus = (typeof WORKSPACE_STATUSES)[number];

/** Named constants so code never spells a status as a bare string literal. */
export const Status = {
  Provisioning: 'provisioning',
  Online: 'online',
  Offline: 'offline',
  Degraded: 'degraded',
  Failed: 'failed',
  Removed: 'removed',
  Paused: 'paused',
  Hibernated: 'hibernated',
  AwaitingAgent: 'awaiting_agent',
  Hibernating: 'hibernating',
} as const satisfies Record<string, WorkspaceStatus>;

export function isWorkspaceStatus(value: unknown): value is WorkspaceStatus {
  return typeof value === 'string' && (WORKSPACE_STATUSES as readonly string[]).includes(value);
}
