import type { Config, ProvisionerBackend } from './config.js';
import type { Db } from './db/port.js';
import type { EventBus } from './events/bus.js';
import type { Broadcaster } from './events/broadcaster.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics/metrics.js';
import type { Provisioner } from './provisioning/port.js';
import type { WorkspaceCache } from './workspaces/cache.js';

/** Everything the modules need, built once by `main.ts` (or by a test) and passed down. */
export interface AppDeps {
  config: Config;
  db: Db;
  bus: EventBus;
  broadcaster: Broadcaster;
  metrics: Metrics;
  log: Logger;
  adminToken: string;
  provisioners: Partial<Record<ProvisionerBackend, Provisioner>>;
  deleteCleanupTimeoutMs: number;
  workspaceCache: WorkspaceCache;
}
