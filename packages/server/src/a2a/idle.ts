import type { EventBus } from '../events/bus.js';
import { CeilingTimeoutError, IdleTimeoutError } from './dispatch.js';

/**
 * Per-workspace event subscriptions (C097) over one bus subscription: any event about a workspace
 * (heartbeat, activity row, task update, status change) reaches every watcher of that workspace.
 * The bus carries every replica's events, so a beat received by another replica counts too.
 */
export class WorkspaceActivity {
  readonly #watchers = new Map<string, Set<() => void>>();
  readonly #unsubscribe: () => void;

  constructor(bus: EventBus) {
    this.#unsubscribe = bus.subscribe((e) => {
      if (e.workspace_id === null) return;
      const set = this.#watchers.get(e.workspace_id);
      if (set) for (const fn of set) fn();
    });
  }

  /** Calls `fn` on every event about `workspaceId` until the returned function is called. */
  watch(workspaceId: string, fn: () => void): () => void {
    let set = this.#watchers.get(workspaceId);
    if (!set) this.#watchers.set(workspaceId, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.#watchers.get(workspaceId) === set) this.#watchers.delete(workspaceId);
    };
  }

  /** Workspaces with at least one watcher (diagnostics and tests). */
  get watched(): number {
    return this.#watchers.size;
  }

  close(): void {
    this.#unsubscribe();
    this.#watchers.clear();
  }
}

export interface DispatchTimer {
  signal: AbortSignal;
  /** Stops the timers and the subscription; call it when the exchange ends. */
  done(): void;
}

/**
 * The cancellation of one dispatch: aborted with IdleTimeoutError after `idleSeconds` without an
 * event from the target (every event resets the clock, C041), and with CeilingTimeoutError after
 * `ceilingSeconds` whatever happens (agent-to-agent calls only, C042).
 */
export function dispatchTimer(activity: WorkspaceActivity, workspaceId: string, idleSeconds: number, ceilingSeconds?: number): DispatchTimer {
  const ctl = new AbortController();
  const idle = setTimeout(() => ctl.abort(new IdleTimeoutError(idleSeconds)), idleSeconds * 1000);
  const ceiling = ceilingSeconds === undefined ? undefined : setTimeout(() => ctl.abort(new CeilingTimeoutError(ceilingSeconds)), ceilingSeconds * 1000);
  const stopWatching = activity.watch(workspaceId, () => idle.refresh());
  return {
    signal: ctl.signal,
    done() {
      clearTimeout(idle);
      if (ceiling) clearTimeout(ceiling);
      stopWatching();
    },
  };
}
