import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { MemoryDb } from './db.js';
import { createMemoryServer } from './http.js';
import { migrate, type EmbeddingStore } from './migrate.js';
import { MemoryStore } from './store.js';

export const PLUGIN_VERSION = '0.1.0';

export interface MemoryPluginOptions {
  db: MemoryDb;
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  log: Logger;
}

export interface RunningMemoryPlugin {
  /** `http://host:port`, the base URL the platform calls. */
  url: string;
  port: number;
  embeddings: EmbeddingStore;
  /** Stops listening (open requests finish). The database is the caller's to close. */
  close(): Promise<void>;
}

/**
 * Migrates the store (idempotent, under an advisory lock) and serves memory-plugin-v1 on
 * `host:port`. Throws when the database cannot be migrated or the port cannot be bound.
 */
export async function startMemoryPlugin(opts: MemoryPluginOptions): Promise<RunningMemoryPlugin> {
  const embeddings = await migrate(opts.db);
  const server = createMemoryServer(new MemoryStore(opts.db, embeddings), PLUGIN_VERSION, opts.log);
  server.keepAliveTimeout = 65_000;
  server.listen(opts.port ?? 8090, opts.host ?? '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  opts.log.info({ host: addr.address, port: addr.port, db: opts.db.kind, embeddings }, 'memory plugin listening');
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    embeddings,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
