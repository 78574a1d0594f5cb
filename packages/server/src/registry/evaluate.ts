import {
  EXTERNAL_RUNTIME,
  RUNTIME_STATE_WEDGED,
  Status,
  WORKSPACE_STATUSES,
  type DeliveryMode,
  type HeartbeatBody,
  type WorkspaceStatus,
} from '@molecule/contracts';

/** An online workspace whose error rate reaches this is degraded (C021). */
export const DEGRADE_AT_ERROR_RATE = 0.5;
/** A degraded workspace recovers only below this (C021); the gap keeps it from flapping. */
export const RECOVER_BELOW_ERROR_RATE = 0.1;

/** Statuses a live agent's heartbeat or register brings back to online (C011, C024). */
export const RECOVERABLE_STATUSES: readonly WorkspaceStatus[] = [Status.Offline, Status.Provisioning, Status.AwaitingAgent];

/** What one heartbeat says about the agent's health. */
export interface BeatSignals {
  errorRate: number;
  /** runtime_state was "wedged"; every other value is ignored (C025). */
  wedged: boolean;
  /** The runtime declared status_mgmt: the platform does no error-rate inference (C022). */
  nativeStatus: boolean;
}

export function beatSignals(body: Pick<HeartbeatBody, 'error_rate' | 'runtime_state' | 'runtime_metadata'>): BeatSignals {
  return {
    errorRate: body.error_rate,
    wedged: body.runtime_state === RUNTIME_STATE_WEDGED,
    nativeStatus: body.runtime_metadata?.capabilities?.status_mgmt === true,
  };
}

/**
 * The status a heartbeat moves a workspace to (C020-C025):
 * - online: degraded when wedged (checked first, C020) or, without native status management, when
 *   the error rate reaches 0.5 (C021, C022);
 * - degraded: back to online only below 0.1, not wedged, and without native status management;
 * - offline, provisioning, awaiting_agent: the agent is alive, so online, or degraded right away
 *   when this very beat says it is unhealthy (C024);
 * - anything else (failed, paused, hibernat*, removed) is owned by other flows and never changes.
 */
export function evaluateStatus(current: WorkspaceStatus, s: BeatSignals): WorkspaceStatus {
  const unhealthy = s.wedged || (!s.nativeStatus && s.errorRate >= DEGRADE_AT_ERROR_RATE);
  if (current === Status.Online || RECOVERABLE_STATUSES.includes(current)) return unhealthy ? Status.Degraded : Status.Online;
  if (current === Status.Degraded) {
    const healthy = !s.nativeStatus && !s.wedged && s.errorRate < RECOVER_BELOW_ERROR_RATE;
    return healthy ? Status.Online : Status.Degraded;
  }
  return current;
}

/**
 * `evaluateStatus` for every possible current status at once, in WORKSPACE_STATUSES order. The
 * heartbeat statement picks the entry for the row's status under the row lock, so the decision and
 * the write are one atomic step however many replicas receive beats.
 */
export function nextStatuses(s: BeatSignals): WorkspaceStatus[] {
  return WORKSPACE_STATUSES.map((status) => evaluateStatus(status, s));
}

/**
 * The effective delivery mode of a register (C008): the payload's value, else the row's stored
 * one, else poll for an external runtime, else push.
 */
export function resolveDeliveryMode(
  requested: DeliveryMode | undefined,
  stored: DeliveryMode | null | undefined,
  runtime: string,
): DeliveryMode {
  return requested ?? stored ?? (runtime === EXTERNAL_RUNTIME ? 'poll' : 'push');
}
