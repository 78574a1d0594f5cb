import { purgeExpiredActivity } from '../activity/service.js';
import type { AppDeps } from '../deps.js';
import { Scheduler, type FireDeps } from '../schedules/service.js';
import type { SweepDeps } from './sweeps.js';
import type { LoopSpec } from './supervisor.js';
import { healthSweep, hibernationSweep, orphanSweep, provisionTimeoutSweep, RestartBackoff } from './sweeps.js';

/**
 * How often the scheduler looks for due schedules, on each whole second (cron times are whole
 * minutes): a due one is claimed within a few ms of its time, then fired.
 */
export const SCHEDULER_INTERVAL_MS = 1_000;

/** The reconciling loops the server runs (C179), each under the supervisor's advisory lock. */
export function platformLoops(deps: SweepDeps & Pick<AppDeps, 'a2a'> & FireDeps): LoopSpec[] {
  const backoff = new RestartBackoff();
  // C266: the native-scheduler check is injected here; C265: such workspaces' schedules advance without firing.
  const scheduler = new Scheduler({ ...deps, providesNativeScheduler: (id) => deps.runtimeOverrides.providesNativeScheduler(id) });
  return [
    { name: 'scheduler', intervalMs: SCHEDULER_INTERVAL_MS, aligned: true, tick: async (q) => void (await scheduler.tick(q)) },
    { name: 'health-sweep', intervalMs: 30_000, tick: async (q) => void (await healthSweep(deps, q, backoff)) },
    { name: 'provision-timeout-sweep', intervalMs: 30_000, tick: async (q) => void (await provisionTimeoutSweep(deps, q)) },
    { name: 'orphan-sweeper', intervalMs: 60_000, tick: async (q) => void (await orphanSweep(deps, q)) },
    { name: 'hibernation-sweep', intervalMs: 60_000, tick: async (q) => void (await hibernationSweep(deps, q)) },
    { name: 'a2a-queue', intervalMs: 5_000, tick: async (q) => void (await deps.a2a.drainer.sweep(q)) },
    {
      name: 'activity-retention',
      intervalMs: deps.config.activityCleanupIntervalHours * 3_600_000,
      tick: async (q) => {
        const purged = await purgeExpiredActivity(q, { retentionDays: deps.config.activityRetentionDays });
        if (purged > 0) deps.log.info({ purged, retention_days: deps.config.activityRetentionDays }, 'activity retention: old rows purged');
      },
    },
  ];
}
