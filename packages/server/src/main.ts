import type { Redis } from 'ioredis';
import { Redis as RedisClient } from 'ioredis';
import pLimit from 'p-limit';
import { completeQueuedDelegation } from './a2a/delegation.js';
import { completeQueuedScheduleRun } from './schedules/service.js';
import { createA2AServices } from './a2a/index.js';
import { SocketRelay } from './agent-socket/relay.js';
import { dispatchTo } from './a2a/proxy.js';
import { resolveAdminToken, StartupError } from './auth/admin-token.js';
import { InboundSecrets } from './auth/inbound.js';
import { resolveSecretsKey, SecretBox, verifySecretsKey } from './secrets/crypto.js';
import { builtinMemoryDir, describeConfig, loadConfig, redactUrl, type Config, type ConfigWarning } from './config.js';
import { openDb } from './db/index.js';
import { migrateUp } from './db/migrate.js';
import type { Db } from './db/port.js';
import type { AppDeps } from './deps.js';
import type { EventBus } from './events/bus.js';
import { createBroadcaster } from './events/broadcaster.js';
import { createMemoryBus } from './events/memory-bus.js';
import { createRedisBus } from './events/redis-bus.js';
import { buildApp } from './http/app.js';
import type { App } from './http/types.js';
import { startLivenessExpiry } from './liveness/expiry.js';
import { createMemoryLiveness } from './liveness/memory.js';
import type { LivenessStore } from './liveness/port.js';
import { createRedisLiveness } from './liveness/redis.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics } from './metrics/metrics.js';
import { createProvisioner } from './provisioning/index.js';
import type { Provisioner } from './provisioning/port.js';
import { ProcessBackend } from './provisioning/process/backend.js';
import { DEFAULT_TEMPLATES_DIR, TemplateManifests } from './provisioning/templates.js';
import { DEFAULT_ORG_TEMPLATES_DIR } from './org/templates.js';
import { DEFAULT_PLUGINS_DIR } from './plugins/registry.js';
import { BuiltinMemoryStore } from './memory/builtin.js';
import { MemoryPluginClient } from './memory/client.js';
import { MemoryEmbedder } from './memory/embeddings.js';
import { HeartbeatWriter } from './registry/heartbeat-writer.js';
import { heartbeatMetadata, RuntimeOverrides } from './registry/overrides.js';
import { agentUrlPolicy } from './ssrf/agent-url.js';
import { platformLoops } from './loops/index.js';
import { Supervisor } from './loops/supervisor.js';
import { createWorkspaceCache, invalidateFor } from './workspaces/cache.js';
import { restartCycle } from './workspaces/lifecycle.js';
import { RestartCoalescer } from './workspaces/restart-coalescer.js';
import { DELETE_CLEANUP_TIMEOUT_MS } from './workspaces/service.js';

/** How long in-flight HTTP requests may take to finish at shutdown before their connections are cut. */
export const SHUTDOWN_GRACE_MS = 3_000;

/**
 * Closes the HTTP server: in-flight requests get `graceMs` to finish, then every connection still
 * open is cut, so one that never goes idle cannot hold the shutdown (and the agents' stop) hostage.
 */
export async function closeApp(app: App, graceMs = SHUTDOWN_GRACE_MS): Promise<void> {
  const cut = setTimeout(() => app.server.closeAllConnections(), graceMs);
  try {
    await app.close();
  } finally {
    clearTimeout(cut);
  }
}

export interface RunningServer {
  app: App;
  deps: AppDeps;
  url: string;
  adminToken: string;
  close(): Promise<void>;
}

/**
 * Builds the deps object from open adapters (shared by `startServer` and tests): the one place
 * modules are wired together, and the backend is chosen (`createProvisioner`; a test may pass its
 * own `provisioner`).
 */
export function assembleDeps(parts: {
  config: Config;
  db: Db;
  bus: EventBus;
  log: Logger;
  adminToken: string;
  /** Defaults to a box with a random key (tests that do not read secrets back across restarts). */
  secrets?: SecretBox;
  defaultMetrics?: boolean;
  /** The address the server listens on, once known. */
  listenUrl?: () => string | undefined;
  /** Defaults to in-memory timers (one process). */
  liveness?: LivenessStore;
  /** Defaults to the configured backend (`createProvisioner`). */
  provisioner?: Provisioner;
  /** The memory client; defaults to one for MEMORY_PLUGIN_URL, or none (the boot path adds the built-in store). */
  memory?: MemoryPluginClient;
  /** The replicas' shared agent sockets (with REDIS_URL); closed with the A2A services. */
  socketRelay?: SocketRelay;
}): AppDeps {
  const metrics = createMetrics({ defaultMetrics: parts.defaultMetrics ?? true });
  const workspaceCache = createWorkspaceCache(parts.config.workspaceCacheTtlMs);
  // Other replicas' changes arrive on the bus; this replica's own are invalidated before publishing.
  // The heartbeat write-behind memory is kept true the same way (see registry/heartbeat-writer.ts).
  const heartbeatWriter = new HeartbeatWriter(parts.db, {
    flushMs: parts.config.heartbeatFlushMs,
    onDatastoreError: (err) => parts.log.error({ err }, 'datastore error during heartbeat auth'),
    onFlushError: (err) => parts.log.error({ err }, 'heartbeat flush failed'),
  });
  parts.bus.subscribe((e) => {
    invalidateFor(workspaceCache, e);
    heartbeatWriter.observe(e);
  });
  parts.bus.onGap(() => {
    workspaceCache.clear();
    heartbeatWriter.forget(null);
  });
  const broadcaster = createBroadcaster({
    db: parts.db,
    bus: parts.bus,
    onPublishing: (e) => {
      invalidateFor(workspaceCache, e);
      heartbeatWriter.observe(e);
    },
    onPublished: (e) => metrics.events.labels(e.type).inc(),
    onPublishError: (err, e) => {
      metrics.eventPublishErrors.labels(e.type).inc();
      parts.log.error({ err, event_type: e.type, workspace_id: e.workspace_id }, 'event publish failed');
    },
  });
  // Every replica keeps the runtime overrides of every workspace, whichever replica got the beat.
  const runtimeOverrides = new RuntimeOverrides();
  parts.bus.subscribe((e) => {
    if (e.workspace_id === null) return;
    if (e.type === 'WORKSPACE_HEARTBEAT') runtimeOverrides.applyHeartbeat(e.workspace_id, heartbeatMetadata(e.payload));
    else if (e.type === 'WORKSPACE_REMOVED') runtimeOverrides.delete(e.workspace_id);
  });
  const provisioner = 'provisioner' in parts ? parts.provisioner : createProvisioner({ config: parts.config, db: parts.db, broadcaster, log: parts.log }, { agentReach: () => deps });
  // The closures below read `deps` when they run, after it is built.
  const a2a = createA2AServices({
    db: parts.db,
    broadcaster,
    bus: parts.bus,
    log: parts.log,
    agentUrlPolicy: () => deps.agentUrlPolicy,
    deliver: (target, callerId, rpc) => dispatchTo(deps, target, callerId, rpc, { allowQueue: false }),
    onDelivered: async (item, answer) => {
      await completeQueuedDelegation(deps, item, answer);
      await completeQueuedScheduleRun(deps, item, answer);
    },
    flushMs: parts.config.activityFlushMs,
    socketGraceSeconds: parts.config.agentSocketGraceSeconds,
    ...(parts.socketRelay ? { relay: parts.socketRelay } : {}),
  });
  const restarts = new RestartCoalescer(
    (id, opts) => restartCycle(deps)(id, opts),
    (id, err) => parts.log.error({ err, workspace_id: id }, 'restart cycle failed'),
  );
  const deps: AppDeps = {
    config: parts.config,
    db: parts.db,
    bus: parts.bus,
    broadcaster,
    metrics,
    log: parts.log,
    adminToken: parts.adminToken,
    secrets: parts.secrets ?? SecretBox.random(),
    inboundSecrets: new InboundSecrets(parts.db),
    provisioner,
    deleteCleanupTimeoutMs: DELETE_CLEANUP_TIMEOUT_MS,
    workspaceCache,
    heartbeatWriter,
    platformUrl: () => parts.config.platformUrl ?? parts.listenUrl?.() ?? `http://127.0.0.1:${parts.config.port}`,
    templatesDir: parts.config.templatesDir ?? DEFAULT_TEMPLATES_DIR,
    orgTemplatesDir: parts.config.orgTemplatesDir ?? DEFAULT_ORG_TEMPLATES_DIR,
    pluginsDir: parts.config.pluginsDir ?? DEFAULT_PLUGINS_DIR,
    memory: parts.memory ?? (parts.config.memoryPluginUrl ? new MemoryPluginClient(parts.config.memoryPluginUrl) : undefined),
    embedder: parts.config.memoryEmbeddings ? new MemoryEmbedder({ ...parts.config.memoryEmbeddings, policy: () => deps.agentUrlPolicy }) : undefined,
    templateManifests: new TemplateManifests({ log: parts.log }),
    provisionSlots: pLimit(parts.config.provisionConcurrency),
    liveness: parts.liveness ?? createMemoryLiveness(),
    runtimeOverrides,
    agentUrlPolicy: agentUrlPolicy(parts.config.env),
    restarts,
    loops: new Supervisor(parts.db, parts.log, (loop, outcome) => metrics.loopPasses.labels(loop, outcome).inc()),
    a2a,
  };
  return deps;
}

/**
 * Boots the platform: logs the resolved configuration and every bad value, resolves the admin
 * token, opens and migrates the database, connects the bus, and listens.
 */
export async function startServer(config: Config, warnings: ConfigWarning[], log: Logger): Promise<RunningServer> {
  for (const w of warnings) {
    log.warn({ variable: w.variable, value: w.value, applied: w.applied }, `invalid ${w.variable}: ${w.reason}; using ${w.applied}`);
  }
  log.info({ config: describeConfig(config) }, 'configuration');

  const admin = await resolveAdminToken(config);
  const secretsKey = await resolveSecretsKey(config);
  const db = await openDb(config, { onTemplateError: (err) => log.warn({ err }, 'embedded database template unreadable; creating a new database') });
  const closers: (() => Promise<unknown>)[] = [() => db.close()];
  try {
    const applied = await migrateUp(db);
    if (applied.length > 0) log.info({ versions: applied }, 'migrations applied');
    await verifySecretsKey(db, secretsKey.box);
    if (secretsKey.source === 'generated') log.info({ file: secretsKey.file }, 'generated a secrets key for development (set SECRETS_ENCRYPTION_KEY in production)');

    let bus: EventBus;
    let redis: Redis | undefined;
    if (config.redisUrl) {
      bus = await createRedisBus({ url: config.redisUrl, onError: (err) => log.error({ err }, 'redis event bus error') });
      // The rate limiter's store. Without an offline queue a limited route fails fast (503) while
      // Redis is down rather than waiting out reconnects; it never lets a request through unchecked.
      redis = new RedisClient(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3, enableOfflineQueue: false });
      redis.on('error', (err) => log.error({ err }, 'redis error'));
      await redis.connect();
      const r = redis;
      closers.unshift(async () => r.quit());
    } else {
      bus = createMemoryBus((err) => log.error({ err }, 'event handler failed'));
    }
    closers.unshift(() => bus.close());

    const livenessError = (err: unknown, workspaceId?: string) => log.error({ err, workspace_id: workspaceId }, 'liveness error');
    const liveness = config.redisUrl
      ? await createRedisLiveness({ url: config.redisUrl, onError: livenessError })
      : createMemoryLiveness(livenessError);
    closers.unshift(() => liveness.close());

    // Agent sockets held by other replicas are reached through Redis (#15); one process needs nothing.
    const socketRelay = config.redisUrl ? await SocketRelay.connect({ url: config.redisUrl, onError: (err, detail) => log.warn({ err, ...detail }, 'agent socket relay error') }) : undefined;
    if (socketRelay) closers.unshift(() => socketRelay.close());

    // Memory with no configuration (C237, #14): the built-in store, started on first use.
    let memory: MemoryPluginClient | undefined;
    if (!config.memoryPluginUrl && !config.memoryOff) {
      const builtin = new BuiltinMemoryStore({ databaseUrl: config.databaseUrl, dir: builtinMemoryDir(config), log });
      closers.unshift(() => builtin.close());
      memory = new MemoryPluginClient(builtin.url);
    }

    const listening: { url?: string } = {};
    const deps = assembleDeps({ config, db, bus, log, adminToken: admin.token, secrets: secretsKey.box, listenUrl: () => listening.url, liveness, ...(memory ? { memory } : {}), ...(socketRelay ? { socketRelay } : {}) });
    // Agents run by the process backend stop with the server; the health sweep restarts them at
    // the next boot.
    const processBackend = deps.provisioner;
    if (processBackend instanceof ProcessBackend) closers.unshift(() => processBackend.stopAll());
    closers.unshift(() => deps.loops.stop());
    closers.unshift(() => deps.a2a.close());
    const app = await buildApp(deps, redis ? { redis } : {});
    closers.unshift(() => closeApp(app));
    await app.listen({ port: config.port, host: config.host });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `http://${host}:${port}`;
    listening.url = url;
    const stopExpiry = await startLivenessExpiry(deps);
    closers.unshift(async () => stopExpiry());
    deps.loops.start(platformLoops(deps));
    // C237: the memory plugin is probed once; a failed probe is a warning, never a failed start.
    if (config.memoryPluginUrl && deps.memory) {
      const memory = deps.memory;
      void memory
        .health()
        .then((h) => log.info({ status: h.status, capabilities: h.capabilities, version: h.version }, 'memory plugin ready'))
        .catch((err: unknown) => log.warn({ reason: (err as Error).message, url: redactUrl(memory.baseUrl) }, 'memory plugin did not answer its health probe; memory calls fail until it does'));
    }

    if (admin.source === 'env') {
      log.info({ url }, 'molecule is listening');
    } else {
      // Printed, not logged as JSON: this is the one place a human needs the token itself.
      process.stdout.write(
        `\nMolecule is running at ${url}\n` +
          `  admin token (${admin.source === 'generated' ? 'generated, ' : ''}kept in ${admin.file}): ${admin.token}\n` +
          `  open the canvas: ${url}/#token=${encodeURIComponent(admin.token)}\n\n`,
      );
    }
    return {
      app,
      deps,
      url,
      adminToken: admin.token,
      async close() {
        for (const c of closers) await c().catch((err: unknown) => log.error({ err }, 'shutdown step failed'));
      },
    };
  } catch (err) {
    for (const c of closers) await c().catch(() => undefined);
    throw err;
  }
}

/** Runs the platform in the foreground until SIGINT/SIGTERM, then shuts down gracefully. */
export async function runMain(env: Record<string, string | undefined> = process.env): Promise<void> {
  const { config, warnings } = loadConfig(env);
  const log = createLogger({ level: config.logLevel });
  let server;
  try {
    server = await startServer(config, warnings, log);
  } catch (err) {
    if (err instanceof StartupError) {
      log.fatal(err.message);
    } else {
      log.fatal({ err }, 'molecule failed to start');
    }
    process.exitCode = 1;
    return;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    void server.close().then(() => log.info('stopped'));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}
