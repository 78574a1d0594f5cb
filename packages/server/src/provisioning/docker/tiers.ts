import { DEFAULT_TIER, type Tier } from '@molecule/contracts';

/**
 * Resource limits per workspace tier (workspaces.tier), the one table the docker backend applies and
 * docs/configuration.md documents. Limits only: no tier grants privileges, the host's PID namespace
 * or the engine's socket.
 */
export const TIER_LIMITS: Readonly<Record<Tier, { memoryMiB: number; cpus: number }>> = {
  1: { memoryMiB: 256, cpus: 0.5 },
  2: { memoryMiB: 512, cpus: 1 },
  3: { memoryMiB: 2048, cpus: 2 },
  4: { memoryMiB: 4096, cpus: 4 },
};

/** The container limits of a tier; an unknown tier gets the default tier's (T2). */
export function tierHostConfig(tier: number): { Memory: number; MemorySwap: number; NanoCpus: number; PidsLimit: number } {
  const t = TIER_LIMITS[tier as Tier] ?? TIER_LIMITS[DEFAULT_TIER];
  const memory = t.memoryMiB * 1024 * 1024;
  // Swap equal to memory means none on top: the limit is the limit.
  return { Memory: memory, MemorySwap: memory, NanoCpus: Math.round(t.cpus * 1e9), PidsLimit: 512 };
}
