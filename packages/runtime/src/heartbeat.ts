import { RUNTIME_CAPABILITIES, RUNTIME_STATE_WEDGED, type HeartbeatBody, type RuntimeMetadata } from '@molecule/contracts';
import type { Adapter } from './adapters/index.js';
import type { WorkspaceConfig } from './config.js';
import type { Logger } from './log.js';
import type { TaskTracker } from './tasks.js';

const MAX_TEXT = 4096;
const clip = (s: string) => (s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) : s);

/**
 * `runtime_metadata` for the heartbeat (C001, C032): every known capability, declared true only
 * when config.yaml or the adapter says so (config wins), and `idle_timeout_seconds` only when it
 * is a positive integer. Discovery errors are logged and swallowed: that part is left out and the
 * heartbeat still goes. Undefined when nothing could be determined.
 */
export function runtimeMetadata(adapter: Adapter, cfg: WorkspaceConfig, log: Logger): RuntimeMetadata | undefined {
  const out: RuntimeMetadata = {};
  try {
    const declared = adapter.capabilities?.() ?? {};
    out.capabilities = Object.fromEntries(RUNTIME_CAPABILITIES.map((c) => [c, cfg.capabilities[c] ?? declared[c] === true]));
  } catch (err) {
    log.warn({ err }, 'capability discovery failed; the heartbeat leaves capabilities out');
  }
  try {
    const idle = cfg.idle_timeout_seconds ?? adapter.idleTimeoutSeconds?.();
    if (typeof idle === 'number' && Number.isInteger(idle) && idle > 0) out.idle_timeout_seconds = idle;
  } catch (err) {
    log.warn({ err }, 'idle timeout discovery failed; the heartbeat leaves it out');
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** One heartbeat body (C001): the tracker's view of the work, uptime, wedge state, metadata. */
export function buildHeartbeat(args: {
  workspaceId: string;
  tracker: TaskTracker;
  startedAt: number;
  adapter: Adapter;
  workspace: WorkspaceConfig;
  log: Logger;
  now?: number;
}): HeartbeatBody {
  const snap = args.tracker.snapshot();
  let wedged: string | undefined;
  try {
    wedged = args.adapter.wedgedReason?.();
  } catch (err) {
    args.log.warn({ err }, 'wedge check failed; reporting not wedged');
  }
  const metadata = runtimeMetadata(args.adapter, args.workspace, args.log);
  return {
    workspace_id: args.workspaceId,
    error_rate: Math.min(1, Math.max(0, snap.errorRate)),
    sample_error: clip(wedged ?? snap.sampleError),
    active_tasks: snap.activeTasks,
    current_task: clip(snap.currentTask),
    uptime_seconds: Math.max(0, Math.floor(((args.now ?? Date.now()) - args.startedAt) / 1000)),
    runtime_state: wedged ? RUNTIME_STATE_WEDGED : '',
    ...(metadata ? { runtime_metadata: metadata } : {}),
  };
}
