import type { PlatformEvent } from '@molecule/contracts';
import { deliver, type EventBus, type EventHandler } from './bus.js';

/** The embedded default: events reach subscribers in this process only. */
export function createMemoryBus(onHandlerError: (err: unknown) => void = () => {}): EventBus {
  const handlers = new Set<EventHandler>();
  return {
    kind: 'memory',
    async publish(event: PlatformEvent) {
      // Deliver on a later tick, as a network bus would, so publishers never run subscriber code
      // inside their own stack.
      await Promise.resolve();
      deliver([...handlers], event, onHandlerError);
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    // In-process delivery has no gaps.
    onGap: () => () => {},
    async close() {
      handlers.clear();
    },
  };
}
