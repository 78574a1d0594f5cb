import { Status, type WorkspaceView } from '@molecule/contracts';

/** A workspace view for tests: online, ids and creation times in order; `over` sets the rest. */
let n = 0;
export function ws(over: Partial<WorkspaceView> = {}): WorkspaceView {
  n++;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    name: `w${n}`,
    role: null,
    parent_id: null,
    runtime: 'molecule',
    template: 'echo',
    model: null,
    tier: 2,
    status: Status.Online,
    url: '',
    delivery_mode: 'push',
    agent_card: null,
    current_task: '',
    active_tasks: 0,
    max_concurrent_tasks: 1,
    last_error_rate: 0,
    last_sample_error: '',
    last_heartbeat_at: null,
    budget_limit: null,
    hibernation_idle_minutes: null,
    instance_id: null,
    runtime_image_digest: null,
    created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    updated_at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    removed_at: null,
    x: null,
    y: null,
    restart_pending: false,
    ...over,
  };
}
