import { mkdir } from 'node:fs/promises';
import { createPgliteMemoryDb, createPostgresMemoryDb, startMemoryPlugin, type MemoryDb, type RunningMemoryPlugin } from '@molecule/memory-postgres';
import type { Logger } from 'pino';

/** Connections the built-in store may hold on the platform's own PostgreSQL, apart from the platform's pool. */
const BUILTIN_POOL_SIZE = 4;

/**
 * The built-in memory store run inside the platform process when no MEMORY_PLUGIN_URL is set, so
 * memory works with no configuration (#14). It is `packages/memory-postgres` itself, served on a
 * loopback port behind the same memory-plugin-v1 HTTP contract an external plugin speaks, so the
 * platform's client, breaker and capability negotiation are the same code either way. Records go to
 * the platform's PostgreSQL (`DATABASE_URL`, in tables of their own) or to an embedded PGlite in
 * `dir`. It starts on first use: a platform whose agents never remember pays nothing for it. A
 * start that fails is retried by the next call (the client counts it toward its breaker).
 */
export class BuiltinMemoryStore {
  private running: Promise<{ db: MemoryDb; plugin: RunningMemoryPlugin }> | undefined;
  private closed = false;

  constructor(private readonly opts: { databaseUrl: string | undefined; dir: string; log: Logger }) {}

  /** The store's base URL, starting it if it is not running yet. */
  url = async (): Promise<string> => {
    if (this.closed) throw new Error('the built-in memory store is stopped');
    this.running ??= this.start().catch((err: unknown) => {
      this.running = undefined;
      this.opts.log.error({ err }, 'memory: the built-in store could not start');
      throw err;
    });
    return (await this.running).plugin.url;
  };

  private async start(): Promise<{ db: MemoryDb; plugin: RunningMemoryPlugin }> {
    const { databaseUrl, dir, log } = this.opts;
    let db: MemoryDb;
    if (databaseUrl) {
      db = createPostgresMemoryDb(databaseUrl, BUILTIN_POOL_SIZE);
    } else {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      db = await createPgliteMemoryDb(dir);
    }
    try {
      const plugin = await startMemoryPlugin({ db, host: '127.0.0.1', port: 0, log: log.child({ component: 'memory-store' }) });
      log.info({ store: db.kind, embeddings: plugin.embeddings }, 'memory: built-in store started');
      return { db, plugin };
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
  }

  /** Stops the store if it ever started; later calls fail instead of starting it again. */
  async close(): Promise<void> {
    this.closed = true;
    const running = await this.running?.catch(() => undefined);
    this.running = undefined;
    if (!running) return;
    await running.plugin.close();
    await running.db.close();
  }
}
