import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ADMIN_TOKEN_FILE } from '@molecule/contracts';
import { isLoopbackHost, type Config } from '../config.js';

export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * The admin credential. ADMIN_TOKEN wins. Without it, a loopback-only server generates one on
 * first start and keeps it in the data dir (mode 0600); a server reachable from the network refuses
 * to start rather than open its admin routes (upstream fails open here).
 */
export async function resolveAdminToken(
  config: Pick<Config, 'adminToken' | 'host' | 'dataDir'>,
): Promise<{ token: string; source: 'env' | 'file' | 'generated'; file?: string }> {
  if (config.adminToken) return { token: config.adminToken, source: 'env' };
  if (!isLoopbackHost(config.host)) {
    throw new StartupError(
      `ADMIN_TOKEN is not set and HOST=${config.host} accepts connections from other machines. ` +
        'Set ADMIN_TOKEN to a long random value (for example: openssl rand -base64 32), or bind HOST=127.0.0.1.',
    );
  }
  const file = path.join(config.dataDir, ADMIN_TOKEN_FILE);
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing.length >= 16) {
      await chmod(file, 0o600);
      return { token: existing, source: 'file', file };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { token, source: 'generated', file };
}
