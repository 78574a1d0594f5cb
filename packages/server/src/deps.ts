import type { A2AServices } from './a2a/index.js';
import type { InboundSecrets } from './auth/inbound.js';
import type { LimitFunction } from 'p-limit';
import type { Config } from './config.js';
import type { Db } from './db/port.js';
import type { EventBus } from './events/bus.js';
import type { Broadcaster } from './events/broadcaster.js';
import type { LivenessStore } from './liveness/port.js';
import type { Logger } from './log.js';
import type { Supervisor } from './loops/supervisor.js';
import type { MemoryPluginClient } from './memory/client.js';
import type { MemoryEmbedder } from './memory/embeddings.js';
import type { Metrics } from './metrics/metrics.js';
import type { Provisioner } from './provisioning/port.js';
import type { TemplateManifests } from './provisioning/templates.js';
import type { HeartbeatWriter } from './registry/heartbeat-writer.js';
import type { RuntimeOverrides } from './registry/overrides.js';
import type { SecretBox } from './secrets/crypto.js';
import type { AgentUrlPolicy } from './ssrf/agent-url.js';
import type { WorkspaceCache } from './workspaces/cache.js';
import type { RestartCoalescer } from './workspaces/restart-coalescer.js';

/**
 * Everything the modules need, built once by the composition root (`main.ts`, or a test) and passed
 * down. Each module declares the slice it uses (`Pick<AppDeps, ...>`), so a reader sees what it
 * can touch. This file holds only the type: every module imports it, none imports `main.ts`.
 */
export interface AppDeps {
  config: Config;
  db: Db;
  bus: EventBus;
  broadcaster: Broadcaster;
  metrics: Metrics;
  log: Logger;
  adminToken: string;
  /** Seals and opens secret values (SECRETS_ENCRYPTION_KEY, or the development key in the data dir). */
  secrets: SecretBox;
  /** The platform -> agent bearer of each workspace, read through a 5-minute cache (C204-C206). */
  inboundSecrets: InboundSecrets;
  /** The one backend that runs workspaces, built by the composition root from MOLECULE_PROVISIONER; undefined for `none`. */
  provisioner: Provisioner | undefined;
  deleteCleanupTimeoutMs: number;
  workspaceCache: WorkspaceCache;
  /** The heartbeat's group commit and write-behind (its memory follows the bus like the cache). */
  heartbeatWriter: HeartbeatWriter;
  /** The URL agents use to reach the platform; set once the server listens. */
  platformUrl: () => string;
  templatesDir: string;
  /** Org templates: one folder per org, each with an `org.yaml`. */
  orgTemplatesDir: string;
  /** The memory plugin's client (MEMORY_PLUGIN_URL); undefined when memory is not wired (C237). */
  memory: MemoryPluginClient | undefined;
  /** Embeds memories and memory queries (MEMORY_EMBEDDINGS_*); absent: text search only. */
  embedder?: MemoryEmbedder | undefined;
  /** The plugin registry: one folder per plugin, each with a `plugin.yaml`. */
  pluginsDir: string;
  /** The templates' manifests, cached (provision timeouts, C162). */
  templateManifests: TemplateManifests;
  /** Bounds concurrent provisions (MOLECULE_PROVISION_CONCURRENCY, C123). */
  provisionSlots: LimitFunction;
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
