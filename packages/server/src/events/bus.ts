import type { PlatformEvent } from '@molecule/contracts';

export type EventHandler = (event: PlatformEvent) => void;

/**
 * Fan-out of platform events to every subscriber in every replica. Delivery is at-most-once and
 * in publish order per publisher; persisted events can be replayed from `structure_events`.
 */
export interface EventBus {
  readonly kind: 'memory' | 'redis';
  publish(event: PlatformEvent): Promise<void>;
  /** Registers a handler; the returned function removes it. A throwing handler never affects others. */
  subscribe(handler: EventHandler): () => void;
  /**
   * Registers a handler for gaps: this replica's subscription may have missed events (Redis
   * reconnected). Caches kept true by events drop everything then. The returned function removes it.
   */
  onGap(handler: () => void): () => void;
  close(): Promise<void>;
}

/** Calls each handler; one failing handler is reported and does not stop the rest. */
export function deliver(
  handlers: Iterable<EventHandler>,
  event: PlatformEvent,
  onHandlerError: (err: unknown) => void,
): void {
  for (const h of handlers) {
    try {
      h(event);
    } catch (err) {
      onHandlerError(err);
    }
  }
}
