import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createMemoryBus } from '../events/memory-bus.js';
import { A2ADispatcher, CeilingTimeoutError, CONNECT_TIMEOUT_MS, HEADERS_TIMEOUT_MS } from './dispatch.js';
import { dispatchTimer, WorkspaceActivity } from './idle.js';
import { AGENT_CALL_CEILING_SECONDS } from './limits.js';

describe('outbound A2A limits', () => {
  it('C049 connect 10 s and answer headers 60 s, no overall timeout (the idle timer bounds long work)', () => {
    expect(CONNECT_TIMEOUT_MS).toBe(10_000);
    expect(HEADERS_TIMEOUT_MS).toBe(60_000);
  });

  /** A dispatch timer for a target that sends an event every 100 ms while `check` runs. */
  async function whileTargetBeats(ceilingSeconds: number | undefined, check: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const bus = createMemoryBus();
    const activity = new WorkspaceActivity(bus);
    const timer = ceilingSeconds === undefined ? dispatchTimer(activity, 'w1', 1) : dispatchTimer(activity, 'w1', 5, ceilingSeconds);
    const beat = setInterval(() => void bus.publish({ type: 'WORKSPACE_HEARTBEAT', workspace_id: 'w1', payload: {}, at: new Date().toISOString(), seq: null }), 100);
    try {
      await check(timer.signal);
    } finally {
      clearInterval(beat);
      timer.done();
      activity.close();
      await bus.close();
    }
  }

  it('C042 agent-to-agent dispatches end at the 30-minute ceiling even while the target keeps sending events', async () => {
    expect(AGENT_CALL_CEILING_SECONDS).toBe(30 * 60);
    // Idle 5 s, ceiling 1 s: events every 100 ms keep the idle clock from firing; the ceiling still does.
    await whileTargetBeats(1, async (signal) => {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      expect(signal.reason).toBeInstanceOf(CeilingTimeoutError);
    });
  });

  it('C042 a canvas dispatch has no ceiling: a target that keeps sending events is never cut off', async () => {
    // Idle 1 s, no ceiling; waits longer than the idle window and than the ceiling the test above used.
    await whileTargetBeats(undefined, async (signal) => {
      await new Promise((r) => setTimeout(r, 1500));
      expect(signal.aborted).toBe(false);
    });
  });

  it('destroy ends a request the agent has not answered (shutdown, once the queue grace is over) and resolves', async () => {
    const agent = createServer(() => undefined);
    await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
    const received = new Promise((resolve) => agent.once('request', resolve));
    const dispatcher = new A2ADispatcher(() => ({ allowPrivate: true, resolve: async () => [] }));
    try {
      const sent = dispatcher.post(`http://127.0.0.1:${(agent.address() as AddressInfo).port}/`, '{}', new AbortController().signal);
      await received;
      await dispatcher.destroy();
      await expect(sent).rejects.toThrow();
    } finally {
      agent.closeAllConnections();
      agent.close();
    }
  });
});
