import { StartupError } from './auth/admin-token.js';
import { loadConfig } from './config.js';
import { createLogger } from './log.js';
import { startServer } from './server.js';

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
