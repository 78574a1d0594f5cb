import type { PlatformEvent } from '@molecule/contracts';

/** How long a conversation line stays on the chart after its last message. */
export const TRAFFIC_TTL_MS = 3 * 60 * 1000;

/** Who talked to whom lately: one entry per (caller, target), with its last message time. */
export type Traffic = Record<string, { source: string; target: string; at: number; count: number }>;

/** The caller and target of an event that is one workspace messaging another (the proxy's a2a_send row). */
export function trafficOf(e: PlatformEvent): { source: string; target: string } | undefined {
  if (e.type !== 'ACTIVITY_LOGGED' || e.payload.activity_type !== 'a2a_send') return undefined;
  const { source_id: source, target_id: target } = e.payload;
  if (typeof source !== 'string' || typeof target !== 'string' || source === target) return undefined;
  return { source, target };
}

/** Records one message, and drops lines older than the TTL. */
export function addTraffic(t: Traffic, source: string, target: string, at: number): Traffic {
  const key = `${source}>${target}`;
  return { ...pruneTraffic(t, at), [key]: { source, target, at, count: (t[key]?.count ?? 0) + 1 } };
}

/** The lines still inside the TTL (the same object when none expired). */
export function pruneTraffic(t: Traffic, now: number): Traffic {
  const keep = Object.entries(t).filter(([, v]) => now - v.at < TRAFFIC_TTL_MS);
  return keep.length === Object.keys(t).length ? t : Object.fromEntries(keep);
}

/** A line fades from fully drawn to faint over the TTL. */
export function trafficOpacity(at: number, now: number): number {
  const age = Math.min(1, Math.max(0, (now - at) / TRAFFIC_TTL_MS));
  return Math.round((1 - 0.8 * age) * 100) / 100;
}
