import { describe, expect, it } from 'vitest';
import type { PlatformEvent } from '@molecule/contracts';
import { busContract, collector, makeEvent } from './bus.contract.js';
import { createMemoryBus } from './memory-bus.js';

busContract('in-process', async (onError) => createMemoryBus(onError));

describe('in-process bus', () => {
  it('never runs subscriber code inside the publisher’s stack', async () => {
    const bus = createMemoryBus();
    const got = collector<PlatformEvent>();
    bus.subscribe((e) => got.push(e));
    const event = makeEvent();
    const published = bus.publish(event);
    expect(got.items).toEqual([]);
    await published;
    expect(got.items).toEqual([event]);
    await bus.close();
  });

  it('reports kind "memory"', () => {
    expect(createMemoryBus().kind).toBe('memory');
  });
});
