import type { PlatformEvent } from '@molecule/contracts';

/** Every live event as it arrives, for the views that follow more than statuses (chat, activity, events, edges). */
export interface Feed {
  publish(e: PlatformEvent): void;
  /** Calls `fn` with each event from now on; returns the unsubscribe. */
  subscribe(fn: (e: PlatformEvent) => void): () => void;
}

export function createFeed(): Feed {
  const listeners = new Set<(e: PlatformEvent) => void>();
  return {
    publish(e) {
      for (const fn of listeners) fn(e);
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
