import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Config } from '../config.js';
import { DEFAULTS } from '../config.js';
import { migrateUp } from '../db/migrate.js';
import { createPgliteDb } from '../db/pglite.js';
import { createPostgresDb } from '../db/postgres.js';
import type { Db } from '../db/port.js';
import type { AppDeps } from '../deps.js';
import type { EventBus } from '../events/bus.js';
import { createMemoryBus } from '../events/memory-bus.js';
import { buildApp } from '../http/app.js';
import type { App } from '../http/types.js';
import { createLogger } from '../log.js';
import { assembleDeps, closeApp } from '../main.js';

export type DbKind = 'pglite' | 'postgres';

/**
 * Reads a service setting that `scripts/test.sh` exports; integration tests fail loudly without it.
 * TEST_DOCKER_HOST and TEST_RUNTIME_IMAGE need a Docker engine, which needs root (scripts/services.sh).
 */
export function requireServiceUrl(name: 'TEST_DATABASE_URL' | 'TEST_REDIS_URL' | 'TEST_DOCKER_HOST' | 'TEST_RUNTIME_IMAGE'): string {
  const v = process.env[name];
  if (!v) {
    const docker = name === 'TEST_DOCKER_HOST' || name === 'TEST_RUNTIME_IMAGE' ? '; it starts a Docker engine only as root, and its [services] lines say why none started' : '';
    throw new Error(`${name} is not set: run integration tests through \`npm test\` (scripts/test.sh starts the services${docker})`);
  }
  return v;
}

export interface TestDb {
  db: Db;
  /** The URL for a fresh per-test Postgres database (postgres kind only). */
  url?: string;
  drop(): Promise<void>;
}

/**
 * A fresh, empty database: in-memory PGlite, or a new database created on the test Postgres
 * server (dropped afterwards). Not migrated.
 */
export async function freshDb(kind: DbKind): Promise<TestDb> {
  if (kind === 'pglite') {
    const db = await createPgliteDb();
    return { db, drop: () => db.close() };
  }
  const base = requireServiceUrl('TEST_DATABASE_URL');
  const name = `molecule_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  const url = u.toString();
  const db = createPostgresDb({ url, max: 5 });
  return {
    db,
    url,
    async drop() {
      await db.close();
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A migrated database of the given kind. */
export async function migratedDb(kind: DbKind): Promise<TestDb> {
  const t = await freshDb(kind);
  await migrateUp(t.db);
  return t;
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    ...DEFAULTS,
    adminToken: undefined,
    databaseUrl: undefined,
    redisUrl: undefined,
    dataDir: '/nonexistent',
    externalPlatformUrl: undefined,
    platformUrl: undefined,
    templatesDir: undefined,
    orgTemplatesDir: undefined,
    pluginsDir: undefined,
    pluginSourceDirs: [],
    pluginAllowUnpinned: false,
    memoryPluginUrl: undefined,
    memoryOff: true,
    memoryEmbeddings: undefined,
    provisionTimeoutSeconds: undefined,
    controlPlaneUrl: undefined,
    controlPlaneToken: undefined,
    orgId: undefined,
    provisioner: 'none',
    logLevel: 'silent',
    ...overrides,
  };
}

export interface TestApp {
  app: App;
  deps: AppDeps;
  adminToken: string;
  db: Db;
  bus: EventBus;
  /** Authorization header for the admin token. */
  admin: { authorization: string };
  close(): Promise<void>;
}

export interface TestAppOptions {
  kind?: DbKind;
  config?: Partial<Config>;
  bus?: EventBus;
  /** Adjusts the deps before the app is built (provisioners, timeouts). */
  tweak?: (deps: AppDeps) => void;
}

const CLOSE_STEP_WARN_MS = 10_000;

/** Runs one step of a test platform's close, saying on stderr which one if it runs past CLOSE_STEP_WARN_MS. */
async function closeStep(name: string, step: () => Promise<unknown>): Promise<void> {
  const warn = setTimeout(() => process.stderr.write(`test platform close: still closing ${name} after ${CLOSE_STEP_WARN_MS / 1000} s\n`), CLOSE_STEP_WARN_MS);
  try {
    await step();
  } finally {
    clearTimeout(warn);
  }
}

/** A complete app on a fresh migrated database; `inject` requests or `listen` on port 0. */
export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const t = await migratedDb(opts.kind ?? 'pglite');
  const bus = opts.bus ?? createMemoryBus();
  const adminToken = `admin-${randomBytes(16).toString('hex')}`;
  const config = testConfig(opts.config);
  const deps = assembleDeps({
    config,
    db: t.db,
    bus,
    log: createLogger({ level: 'silent', pretty: false }),
    adminToken,
    defaultMetrics: false,
  });
  opts.tweak?.(deps);
  const app = await buildApp(deps);
  await app.ready();
  return {
    app,
    deps,
    adminToken,
    db: t.db,
    bus,
    admin: { authorization: `Bearer ${adminToken}` },
    async close() {
      // As at a real shutdown, a request still open after a second is cut rather than waited on;
      // a step still running after CLOSE_STEP_WARN_MS says which on stderr (a hung close is
      // otherwise just a hook timeout in CI).
      await closeStep('the HTTP server', () => closeApp(app, 1000));
      await closeStep('the A2A proxy', () => deps.a2a.close());
      await closeStep('the event bus', () => bus.close());
      await closeStep('the database', () => t.drop());
    },
  };
}
