import { createHash, hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Typed prefixes make a leaked token recognisable (secret scanners) and route its lookup. */
export const TOKEN_PREFIX = { workspace: 'mol_ws_', org: 'mol_org_', session: 'mol_sess_', inbound: 'mol_in_' } as const;
export type TokenKind = keyof typeof TOKEN_PREFIX;

/** A new credential: the typed prefix plus 32 random bytes, base64url (43 chars). */
export function generateToken(kind: TokenKind): string {
  return TOKEN_PREFIX[kind] + randomBytes(32).toString('base64url');
}

/** Only this is stored; the plaintext is shown once and never kept. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** `hashToken` as hex, in one call (the heartbeat's hot path). */
export function hashTokenHex(token: string): string {
  return hash('sha256', token, 'hex');
}

/** The part of a token safe to display so users can tell their tokens apart. */
export function displayPrefix(token: string): string {
  const kind = Object.values(TOKEN_PREFIX).find((p) => token.startsWith(p)) ?? '';
  return token.slice(0, kind.length + 6);
}

export function tokenKind(token: string): TokenKind | undefined {
  for (const [kind, prefix] of Object.entries(TOKEN_PREFIX)) {
    if (token.startsWith(prefix)) return kind as TokenKind;
  }
  return undefined;
}

/** Constant-time string equality: both sides are hashed first so lengths never leak either. */
export function constantTimeEqual(a: string, b: string): boolean {
  return timingSafeEqual(hashToken(a), hashToken(b));
}

/** Constant-time check of a presented credential against a stored SHA-256. */
export function matchesHash(presented: string, expectedHash: Buffer): boolean {
  return timingSafeEqual(hashToken(presented), expectedHash);
}
