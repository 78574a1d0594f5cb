import { randomBytes } from 'node:crypto';
import { ADMIN_TOKEN_FILE } from '@molecule/contracts';
import { isLoopbackHost, type Config } from '../config.js';
import { readOrCreatePrivateFile } from '../data-file.js';

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
  const r = await readOrCreatePrivateFile(config.dataDir, ADMIN_TOKEN_FILE, () => randomBytes(32).toString('base64url'));
  if (r.value.length < 16) {
    throw new StartupError(`${r.file} holds a token shorter than 16 characters: delete the file to have a new one generated, or set ADMIN_TOKEN.`);
  }
  return { token: r.value, source: r.created ? 'generated' : 'file', file: r.file };
}
