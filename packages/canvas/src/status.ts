import { Status, type WorkspaceStatus, type WorkspaceView } from '@molecule/contracts';

/** Every status's words and colour (each at least 4.5:1 against the cards' white): status is never shown by colour alone. */
export const STATUS_LOOK: Record<WorkspaceStatus, { label: string; colour: string }> = {
  [Status.Provisioning]: { label: 'Starting', colour: '#2559b8' },
  [Status.Online]: { label: 'Online', colour: '#16713d' },
  [Status.Offline]: { label: 'Offline', colour: '#5f6673' },
  [Status.Degraded]: { label: 'Degraded', colour: '#8f5a06' },
  [Status.Failed]: { label: 'Failed', colour: '#c0392b' },
  [Status.Removed]: { label: 'Removed', colour: '#6b7280' },
  [Status.Paused]: { label: 'Paused', colour: '#7c5cbf' },
  [Status.Hibernated]: { label: 'Hibernated', colour: '#4b6b8a' },
  [Status.AwaitingAgent]: { label: 'Waiting for agent', colour: '#7a5f2f' },
  [Status.Hibernating]: { label: 'Hibernating', colour: '#4b6b8a' },
};

/** The default provisioning budget when the workspace does not carry one (C162: 10 minutes). */
const DEFAULT_PROVISION_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * The status line under a node's name: the status in words, with what explains it: elapsed time
 * against the provisioning budget (C279), the degraded sample error, the failure.
 */
export function statusLine(w: WorkspaceView, now = Date.now()): string {
  const look = STATUS_LOOK[w.status];
  if (w.status === Status.Provisioning) {
    const elapsed = Math.max(0, Math.round((now - Date.parse(w.updated_at)) / 1000));
    const budget = Math.round((w.provision_timeout_ms ?? DEFAULT_PROVISION_TIMEOUT_MS) / 1000);
    return `${look.label} (${elapsed} s of ${budget} s)`;
  }
  if ((w.status === Status.Degraded || w.status === Status.Failed) && w.last_sample_error) return `${look.label}: ${w.last_sample_error}`;
  return look.label;
}
