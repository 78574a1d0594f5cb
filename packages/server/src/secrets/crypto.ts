import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { StartupError } from '../auth/admin-token.js';
import type { Config } from '../config.js';
import { readOrCreatePrivateFile } from '../data-file.js';
import type { Queryable } from '../db/port.js';
import { keyFingerprint } from './repo.js';

/** The envelope's version: `v1.<iv>.<tag>.<ciphertext>` (base64url), AES-256-GCM, 96-bit IV. */
const VERSION = 'v1';
/** Where a generated development key is kept, in the data dir (mode 0600). */
export const SECRETS_KEY_FILE = 'secrets.key';

/** A sealed value could not be opened: another key, a damaged envelope, or a row moved elsewhere. */
export class SecretDecryptError extends Error {
  override name = 'SecretDecryptError';
}

/**
 * Seals and opens secret values with one 256-bit key. Each value is bound to where it is stored
 * (`context`, e.g. `global:OPENAI_API_KEY`) as GCM associated data, so a sealed value copied to
 * another key or workspace does not open.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromKey(key: Buffer): SecretBox {
    if (key.length !== 32) throw new Error('a secrets key is 32 bytes');
    return new SecretBox(Buffer.from(key));
  }

  /** A box with a fresh random key (tests). */
  static random(): SecretBox {
    return new SecretBox(randomBytes(32));
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }

  open(envelope: string, context: string): string {
    const parts = envelope.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) throw new SecretDecryptError('not a sealed secret (unknown envelope version)');
    try {
      const [iv, tag, ct] = parts.slice(1).map((p) => Buffer.from(p, 'base64url'));
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv!);
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag!);
      return Buffer.concat([decipher.update(ct!), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretDecryptError('the secret does not open with this key');
    }
  }

  /** A fingerprint of the key (HMAC of a fixed label): stored once, compared on every start. */
  fingerprint(): string {
    return createHmac('sha256', this.key).update('molecule secrets key check v1').digest('hex');
  }
}

/**
 * Reads SECRETS_ENCRYPTION_KEY: base64 or base64url of 32 bytes, 64 hex digits, or 32 raw
 * characters. Anything else is a startup error that says what is expected.
 */
export function parseSecretsKey(raw: string): Buffer {
  const s = raw.trim();
  if (/^[0-9a-fA-F]{64}$/.test(s)) return Buffer.from(s, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(s)) {
    const b = Buffer.from(s, s.includes('-') || s.includes('_') ? 'base64url' : 'base64');
    if (b.length === 32) return b;
  }
  if (Buffer.byteLength(s, 'utf8') === 32) return Buffer.from(s, 'utf8');
  throw new StartupError('SECRETS_ENCRYPTION_KEY must be 32 bytes: base64 of 32 bytes (for example: openssl rand -base64 32), 64 hex digits, or 32 characters.');
}

/**
 * The key secrets are sealed with. SECRETS_ENCRYPTION_KEY wins; it is required in production. In
 * development, without it, a key is generated on first start into the data dir (0600) and reused.
 */
export async function resolveSecretsKey(
  config: Pick<Config, 'secretsEncryptionKey' | 'env' | 'dataDir'>,
): Promise<{ box: SecretBox; source: 'env' | 'file' | 'generated'; file?: string }> {
  if (config.secretsEncryptionKey !== undefined) return { box: SecretBox.fromKey(parseSecretsKey(config.secretsEncryptionKey)), source: 'env' };
  if (config.env === 'production') {
    throw new StartupError('SECRETS_ENCRYPTION_KEY is required when MOLECULE_ENV=production (32 bytes, for example: openssl rand -base64 32).');
  }
  const r = await readOrCreatePrivateFile(config.dataDir, SECRETS_KEY_FILE, () => randomBytes(32).toString('base64'));
  try {
    return { box: SecretBox.fromKey(parseSecretsKey(r.value)), source: r.created ? 'generated' : 'file', file: r.file };
  } catch (err) {
    if (err instanceof StartupError) throw new StartupError(`${r.file} does not hold a valid secrets key: ${err.message}`);
    throw err;
  }
}

/**
 * Checks the key against the fingerprint stored with the secrets (taken as the key while no secret
 * is stored). A different key is a startup error: the platform would otherwise hand agents values it
 * cannot open.
 */
export async function verifySecretsKey(q: Queryable, box: SecretBox): Promise<void> {
  const mine = box.fingerprint();
  const stored = await keyFingerprint(q, mine);
  if (stored.length !== mine.length || !timingSafeEqual(Buffer.from(stored), Buffer.from(mine))) {
    throw new StartupError(
      'SECRETS_ENCRYPTION_KEY is not the key the stored secrets were sealed with (the key check failed). Start with the original key; nothing was changed.',
    );
  }
}
