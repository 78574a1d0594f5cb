import type { A2AServices } from './a2a/index.js';
import type { Config, ProvisionerBackend } from './config.js';
import type { Db } from './db/port.js';
import type { EventBus } from './events/bus.js';
import type { Broadcaster } from './events/broadcaster.js';
import type { LivenessStore } from './liveness/port.js';
import type { Logger } from './log.js';
import type { Supervisor } from './loops/supervisor.js';
import type { Metrics } from './metrics/metrics.js';
import type { Provisioner } from './provisioning/port.js';
import type { Semaphore } from './provisioning/semaphore.js';
import type { TemplateManifests } from './provisioning/templates.js';
import type { RuntimeOverrides } from './registry/overrides.js';
import type { AgentUrlPolicy } from './ssrf/agent-url.js';
import type { WorkspaceCache } from './workspaces/cache.js';
import type { RestartCoalescer } from './workspaces/restart-coalescer.js';

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
  /** The URL agents use to reach the platform; set once the server listens. */
  platformUrl: () => string;
  templatesDir: string;
  /** The templates' manifests, cached (provision timeouts, C162). */
  templateManifests: TemplateManifests;
  provisionSlots: Semaphore;
  /** Register and heartbeat deadlines; expiry flips a quiet workspace offline (C178). */
  liveness: LivenessStore;
  /** What each runtime declared in its last heartbeat (C027-C031). */
  runtimeOverrides: RuntimeOverrides;
  /** What an agent URL may point at (from MOLECULE_ENV); tests swap the resolver. */
  agentUrlPolicy: AgentUrlPolicy;
  /** Restart cycles, coalesced per workspace (C148). */
  restarts: RestartCoalescer;
  /** Runs the background loops; `startServer` starts it. */
  loops: Supervisor;
  /** The A2A proxy's shared machinery: outbound pools, idle timers, the queue drain. */
  a2a: A2AServices;
}
