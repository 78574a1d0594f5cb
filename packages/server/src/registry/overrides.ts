import { readRuntimeMetadata, type RuntimeCapability, type RuntimeMetadata } from '@molecule/contracts';

interface Entry {
  idleTimeoutSeconds?: number;
  capabilities?: ReadonlyMap<string, boolean>;
}

/**
 * What each workspace's runtime last declared in its heartbeat (C027-C031): an idle-timeout
 * override and a capability map, two independent fields per workspace. In memory only: after a
 * platform restart every workspace runs on platform defaults until its next heartbeat (C031).
 * Every replica keeps its own copy, fed from the WORKSPACE_HEARTBEAT events on the bus, so it does
 * not matter which replica received the beat. Node runs this on one thread; no locking is needed.
 */
export class RuntimeOverrides {
  readonly #entries = new Map<string, Entry>();

  /** Seconds > 0 set the override; zero, negative or undefined clear it (C028). */
  setIdleTimeout(workspaceId: string, seconds: number | undefined): void {
    if (workspaceId === '') return;
    this.#update(workspaceId, (e) => ({ ...e, idleTimeoutSeconds: validSeconds(seconds) }));
  }

  /** Stores a copy (C029); an undefined or empty map clears the workspace's capabilities. */
  setCapabilities(workspaceId: string, capabilities: Readonly<Record<string, boolean>> | undefined): void {
    if (workspaceId === '') return;
    this.#update(workspaceId, (e) => ({ ...e, capabilities: capabilityMap(capabilities) }));
  }

  /**
   * Applies one heartbeat's declaration (C005). Absent metadata means an old runtime that said
   * nothing, so both fields return to the platform defaults (C002).
   */
  applyHeartbeat(workspaceId: string, metadata: RuntimeMetadata | undefined): void {
    if (workspaceId === '') return;
    // Every beat lands here, twice (its own replica, then the bus): an unchanged declaration,
    // the usual case, changes nothing and allocates nothing.
    const seconds = validSeconds(metadata?.idle_timeout_seconds);
    const declared = metadata?.capabilities;
    const e = this.#entries.get(workspaceId);
    if (e && e.idleTimeoutSeconds === seconds && sameCapabilities(e.capabilities, declared)) return;
    this.#update(workspaceId, () => ({ idleTimeoutSeconds: seconds, capabilities: capabilityMap(declared) }));
  }

  /** The declared idle timeout in seconds, or undefined for the platform default. */
  idleTimeoutSeconds(workspaceId: string): number | undefined {
    return this.#entries.get(workspaceId)?.idleTimeoutSeconds;
  }

  /** A copy of the declared capability map (empty when none was declared). */
  capabilities(workspaceId: string): Record<string, boolean> {
    return Object.fromEntries(this.#entries.get(workspaceId)?.capabilities ?? []);
  }

  /** True only when the runtime declared `name` as true (C030). */
  hasCapability(workspaceId: string, name: RuntimeCapability): boolean {
    return this.#entries.get(workspaceId)?.capabilities?.get(name) === true;
  }

  /** The runtime runs its own scheduler; the platform's cron steps aside (C030). */
  providesNativeScheduler(workspaceId: string): boolean {
    return this.hasCapability(workspaceId, 'scheduler');
  }

  /** Forgets one workspace (it was removed). */
  delete(workspaceId: string): void {
    this.#entries.delete(workspaceId);
  }

  /** Clears the whole cache (C028). */
  reset(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  #update(workspaceId: string, fn: (e: Entry) => Entry): void {
    const next = fn(this.#entries.get(workspaceId) ?? {});
    // No husks: an entry with neither field set is removed (C029).
    if (next.idleTimeoutSeconds === undefined && next.capabilities === undefined) this.#entries.delete(workspaceId);
    else this.#entries.set(workspaceId, next);
  }
}

/** Seconds > 0 are an override; anything else means the platform default. */
function validSeconds(seconds: number | undefined): number | undefined {
  return seconds !== undefined && Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

/** A stored copy of a declared map; an undefined or empty one is no map. */
function capabilityMap(capabilities: Readonly<Record<string, boolean>> | undefined): ReadonlyMap<string, boolean> | undefined {
  return capabilities && Object.keys(capabilities).length > 0 ? new Map(Object.entries(capabilities)) : undefined;
}

function sameCapabilities(stored: ReadonlyMap<string, boolean> | undefined, declared: Readonly<Record<string, boolean>> | undefined): boolean {
  if (stored === undefined) return declared === undefined || Object.keys(declared).length === 0;
  if (declared === undefined) return false;
  let n = 0;
  for (const k in declared) {
    if (!Object.hasOwn(declared, k)) continue;
    n++;
    if (stored.get(k) !== declared[k]) return false;
  }
  return n === stored.size;
}

/** Reads the runtime_metadata carried by a WORKSPACE_HEARTBEAT event; undefined when absent or malformed. */
export function heartbeatMetadata(payload: Record<string, unknown>): RuntimeMetadata | undefined {
  return readRuntimeMetadata(payload.runtime_metadata);
}
