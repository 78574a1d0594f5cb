import { RuntimeMetadata, type RuntimeCapability } from '@molecule/contracts';

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
    const valid = seconds !== undefined && Number.isFinite(seconds) && seconds > 0;
    this.#update(workspaceId, (e) => ({ ...e, idleTimeoutSeconds: valid ? seconds : undefined }));
  }

  /** Stores a copy (C029); an undefined or empty map clears the workspace's capabilities. */
  setCapabilities(workspaceId: string, capabilities: Readonly<Record<string, boolean>> | undefined): void {
    if (workspaceId === '') return;
    const copy = capabilities && Object.keys(capabilities).length > 0 ? new Map(Object.entries(capabilities)) : undefined;
    this.#update(workspaceId, (e) => ({ ...e, capabilities: copy }));
  }

  /**
   * Applies one heartbeat's declaration (C005). Absent metadata means an old runtime that said
   * nothing, so both fields return to the platform defaults (C002).
   */
  applyHeartbeat(workspaceId: string, metadata: RuntimeMetadata | undefined): void {
    this.setIdleTimeout(workspaceId, metadata?.idle_timeout_seconds);
    this.setCapabilities(workspaceId, metadata?.capabilities);
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

/** Reads the runtime_metadata carried by a WORKSPACE_HEARTBEAT event; undefined when absent or malformed. */
export function heartbeatMetadata(payload: Record<string, unknown>): RuntimeMetadata | undefined {
  const parsed = RuntimeMetadata.safeParse(payload.runtime_metadata);
  return parsed.success ? parsed.data : undefined;
}
