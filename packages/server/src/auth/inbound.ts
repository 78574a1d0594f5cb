import type { Db } from '../db/port.js';
import { healInboundSecret, readInboundSecret } from './repo.js';
import { generateToken } from './tokens.js';

/** How long a read inbound secret is trusted from memory (C206). */
export const INBOUND_SECRET_CACHE_MS = 5 * 60_000;

/**
 * The platform -> workspace bearer (`platform_inbound_secret`, plaintext so the platform can send
 * it; distinct from the hashed workspace -> platform tokens, C204), read through a per-workspace
 * cache of 5 minutes (C206): a stored secret is cached, "none" never is, `issued` writes through
 * (every start rotates it), and `reset` forgets everything.
 */
export class InboundSecrets {
  private readonly cache = new Map<string, { secret: string; until: number }>();

  constructor(
    private readonly db: Db,
    private readonly opts: { ttlMs?: number; now?: () => number } = {},
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** The workspace's secret, or null when it has none; a read error rejects (never cached). */
  async read(workspaceId: string): Promise<string | null> {
    const hit = this.cache.get(workspaceId);
    if (hit && hit.until > this.now()) return hit.secret;
    const secret = await readInboundSecret(this.db, workspaceId);
    if (secret === null) this.cache.delete(workspaceId);
    else this.issued(workspaceId, secret);
    return secret;
  }

  /** A secret was just stored for the workspace: the cache holds it from now. */
  issued(workspaceId: string, secret: string): void {
    this.cache.set(workspaceId, { secret, until: this.now() + (this.opts.ttlMs ?? INBOUND_SECRET_CACHE_MS) });
  }

  /** Forgets every cached secret (a test, or a bulk change made elsewhere). */
  reset(): void {
    this.cache.clear();
  }

  /**
   * The secret, minting and storing one when the workspace has none (C205): present -> `{secret,
   * healed: false}`; missing and stored -> `{secret: the stored one, healed: true}` (a concurrent
   * heal's secret wins, so both callers send the same one); the read or the store failing, or no
   * such workspace, rejects. Callers map the outcomes to their own answers.
   */
  async readOrHeal(workspaceId: string): Promise<{ secret: string; healed: boolean }> {
    const present = await this.read(workspaceId);
    if (present !== null) return { secret: present, healed: false };
    const stored = await healInboundSecret(this.db, workspaceId, generateToken('inbound'));
    if (stored === null) throw new Error(`workspace ${workspaceId} not found: no inbound secret to heal`);
    this.issued(workspaceId, stored);
    return { secret: stored, healed: true };
  }
}
