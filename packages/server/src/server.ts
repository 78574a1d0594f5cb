import type { Redis } from 'ioredis';
import { Redis as RedisClient } from 'ioredis';
import { resolveAdminToken } from './auth/admin-token.js';
import { describeConfig, type Config, type ConfigWarning } from './config.js';
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
import type { Logger } from './log.js';
import { createMetrics } from './metrics/metrics.js';
import { createWorkspaceCache } from './workspaces/cache.js';
import { DELETE_CLEANUP_TIMEOUT_MS } from './workspaces/service.js';

export interface RunningServer {
  app: App;
  deps: AppDeps;
  url: string;
  adminToken: string;
  close(): Promise<void>;
}

/** Builds the deps object from open adapters (shared by `startServer` and tests). */
export function assembleDeps(parts: {
  config: Config;
  db: Db;
  bus: EventBus;
  log: Logger;
  adminToken: string;
  defaultMetrics?: boolean;
}): AppDeps {
  const metrics = createMetrics({ defaultMetrics: parts.defaultMetrics ?? true });
  const workspaceCache = createWorkspaceCache(parts.config.workspaceCacheTtlMs);
  // Other replicas' changes arrive on the bus; this replica's own are invalidated before publishing.
  parts.bus.subscribe((e) => workspaceCache.invalidate(e.workspace_id));
  const broadcaster = createBroadcaster({
    db: parts.db,
    bus: parts.bus,
    onPublishing: (e) => workspaceCache.invalidate(e.workspace_id),
    onPublished: (e) => metrics.events.labels(e.type).inc(),
    onPublishError: (err, e) => {
      metrics.eventPublishErrors.labels(e.type).inc();
      parts.log.error({ err, event_type: e.type, workspace_id: e.workspace_id }, 'event publish failed');
    },
  });
  return {
    config: parts.config,
    db: parts.db,
    bus: parts.bus,
    broadcaster,
    metrics,
    log: parts.log,
    adminToken: parts.adminToken,
    provisioners: {},
    deleteCleanupTimeoutMs: DELETE_CLEANUP_TIMEOUT_MS,
    workspaceCache,
  };
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
  const db = await openDb(config, { onTemplateError: (err) => log.warn({ err }, 'embedded database template unreadable; creating a new database') });
  const closers: (() => Promise<unknown>)[] = [() => db.close()];
  try {
    const applied = await migrateUp(db);
    if (applied.length > 0) log.info({ versions: applied }, 'migrations applied');

    let bus: EventBus;
    let redis: Redis | undefined;
    if (config.redisUrl) {
      bus = await createRedisBus({ url: config.redisUrl, onError: (err) => log.error({ err }, 'redis event bus error') });
      redis = new RedisClient(config.redisUrl, { maxRetriesPerRequest: 3 });
      redis.on('error', (err) => log.error({ err }, 'redis error'));
      const r = redis;
      closers.unshift(async () => r.quit());
    } else {
      bus = createMemoryBus((err) => log.error({ err }, 'event handler failed'));
    }
    closers.unshift(() => bus.close());

    const deps = assembleDeps({ config, db, bus, log, adminToken: admin.token });
    const app = await buildApp(deps, redis ? { redis } : {});
    closers.unshift(() => app.close());
    await app.listen({ port: config.port, host: config.host });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `http://${host}:${port}`;

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
