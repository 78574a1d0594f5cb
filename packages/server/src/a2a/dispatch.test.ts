import { describe, expect, it } from 'vitest';
import { createMemoryBus } from '../events/memory-bus.js';
import { CeilingTimeoutError, CONNECT_TIMEOUT_MS, HEADERS_TIMEOUT_MS } from './dispatch.js';
import { dispatchTimer, WorkspaceActivity } from './idle.js';
import { AGENT_CALL_CEILING_SECONDS } from './limits.js';

describe('outbound A2A limits', () => {
  it('C049 connect 10 s and answer headers 60 s, no overall timeout (the idle timer bounds long work)', () => {
    expect(CONNECT_TIMEOUT_MS).toBe(10_000);
    expect(HEADERS_TIMEOUT_MS).toBe(60_000);
  });

  it('C042 agent-to-agent dispatches end at the 30-minute ceiling even while the target keeps sending events', async () => {
    expect(AGENT_CALL_CEILING_SECONDS).toBe(30 * 60);
    const bus = createMemoryBus();
    const activity = new WorkspaceActivity(bus);
    // Idle 5 s, ceiling 1 s: events every 100 ms keep the idle clock from firing; the ceiling still does.
    const timer = dispatchTimer(activity, 'w1', 5, 1);
    const beat = setInterval(() => void bus.publish({ type: 'WORKSPACE_HEARTBEAT', workspace_id: 'w1', payload: {}, at: new Date().toISOString(), seq: null }), 100);
    try {
      await new Promise<void>((resolve) => timer.signal.addEventListener('abort', () => resolve(), { once: true }));
      expect(timer.signal.reason).toBeInstanceOf(CeilingTimeoutError);
    } finally {
      clearInterval(beat);
      timer.done();
      activity.close();
      await bus.close();
    }
  });

  it('C042 a canvas dispatch has no ceiling: a target that keeps sending events is never cut off', async () => {
    const bus = createMemoryBus();
    const activity = new WorkspaceActivity(bus);
    const timer = dispatchTimer(activity, 'w1', 1);
    const beat = setInterval(() => void bus.publish({ type: 'WORKSPACE_HEARTBEAT', workspace_id: 'w1', payload: {}, at: new Date().toISOString(), seq: null }), 100);
    try {
      // Longer than the 1 s idle window and than the ceiling the agent-to-agent test used.
      await new Promise((r) => setTimeout(r, 1500));
      expect(timer.signal.aborted).toBe(false);
    } finally {
      clearInterval(beat);
      timer.done();
      activity.close();
      await bus.close();
    }
  });
});
