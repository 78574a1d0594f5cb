#!/usr/bin/env node
import { mkdirSync } from 'node:fs';
import { pino } from 'pino';
import { loadConfig } from './config.js';
import { createPgliteMemoryDb, createPostgresMemoryDb } from './db.js';
import { startMemoryPlugin } from './plugin.js';

const boot = pino({ name: 'molecule-memory-postgres' });
const config = loadConfig(process.env, (msg) => boot.warn(msg));
const log = pino({ name: 'molecule-memory-postgres', level: config.logLevel });
log.info({ host: config.host, port: config.port, database: config.databaseUrl ? 'postgres' : 'pglite', dataDir: config.databaseUrl ? undefined : config.dataDir }, 'config');

if (!config.databaseUrl) mkdirSync(config.dataDir, { recursive: true });
const db = config.databaseUrl ? createPostgresMemoryDb(config.databaseUrl) : await createPgliteMemoryDb(config.dataDir);
try {
  const plugin = await startMemoryPlugin({ db, host: config.host, port: config.port, log });
  const stop = async (signal: string) => {
    log.info({ signal }, 'stopping');
    await plugin.close();
    await db.close();
    process.exit(0);
  };
  process.once('SIGTERM', (s) => void stop(s));
  process.once('SIGINT', (s) => void stop(s));
} catch (err) {
  log.fatal({ err }, 'memory plugin failed to start');
  await db.close().catch((e: unknown) => log.error({ err: e }, 'closing the database failed'));
  process.exit(1);
}
