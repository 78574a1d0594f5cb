import path from 'node:path';
import os from 'node:os';

export interface PluginConfig {
  host: string;
  port: number;
  /** PostgreSQL; unset: embedded PGlite in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  logLevel: string;
}

export const DEFAULT_PORT = 8090;

/**
 * Reads the environment once. A bad PORT is reported (variable, value, default applied) through
 * `warn` and replaced by the default.
 */
export function loadConfig(env: NodeJS.ProcessEnv, warn: (msg: string) => void): PluginConfig {
  let port = DEFAULT_PORT;
  if (env.PORT !== undefined && env.PORT !== '') {
    const n = Number(env.PORT);
    if (Number.isInteger(n) && n >= 0 && n <= 65535) port = n;
    else warn(`PORT=${env.PORT} is not a port number; using ${DEFAULT_PORT}`);
  }
  return {
    host: env.HOST || '127.0.0.1',
    port,
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.MEMORY_DATA_DIR || path.join(os.homedir(), '.molecule', 'memory'),
    logLevel: env.LOG_LEVEL || 'info',
  };
}
