import { describe, expect, it } from 'vitest';
import { ERROR_WINDOW_SIZE, TaskTracker } from './tasks.js';

describe('TaskTracker', () => {
  it('admits up to max_concurrent_tasks; a released or finished slot frees room', () => {
    const t = new TaskTracker(2);
    const a = t.tryReserve()!;
    const b = t.tryReserve()!;
    expect(t.tryReserve()).toBeUndefined();
    a.release();
    const c = t.tryReserve()!;
    expect(c).toBeDefined();
    b.start('t-b', 'b');
    b.finish({ kind: 'completed' });
    expect(t.inFlight).toBe(1);
    c.release();
    expect(t.inFlight).toBe(0);
  });

  it('makes every slot transition idempotent', () => {
    const t = new TaskTracker(1);
    const s = t.tryReserve()!;
    s.start('t', 'x');
    s.release(); // no-op once started
    expect(t.inFlight).toBe(1);
    s.finish({ kind: 'completed' });
    s.finish({ kind: 'failed', error: 'again' });
    s.release();
    expect(t.inFlight).toBe(0);
    expect(t.snapshot().errorRate).toBe(0);
  });

  it('reports the newest running task as current_task, summarised to one line', () => {
    const t = new TaskTracker(3);
    const a = t.tryReserve()!;
    const b = t.tryReserve()!;
    a.start('a', 'first\n  task');
    b.start('b', 'x'.repeat(500));
    expect(t.snapshot().activeTasks).toBe(2);
    expect(t.snapshot().currentTask).toHaveLength(200);
    b.finish({ kind: 'completed' });
    expect(t.snapshot().currentTask).toBe('first task');
    a.finish({ kind: 'completed' });
    expect(t.snapshot()).toMatchObject({ activeTasks: 0, currentTask: '' });
  });

  it('computes error_rate over a sliding window of finished tasks; canceled tasks do not count', () => {
    const t = new TaskTracker(1);
    const run = (kind: 'completed' | 'failed' | 'canceled', error = 'boom') => {
      const s = t.tryReserve()!;
      s.start('t', 'x');
      s.finish(kind === 'failed' ? { kind, error } : { kind });
    };
    expect(t.snapshot()).toMatchObject({ errorRate: 0, sampleError: '' });
    run('failed', 'first');
    run('completed');
    run('canceled');
    expect(t.snapshot()).toMatchObject({ errorRate: 0.5, sampleError: 'first' });
    run('failed', 'second');
    expect(t.snapshot().sampleError).toBe('second');
    for (let i = 0; i < ERROR_WINDOW_SIZE; i++) run('completed');
    expect(t.snapshot()).toMatchObject({ errorRate: 0, sampleError: '' });
    run('failed', 'again');
    expect(t.snapshot().errorRate).toBeCloseTo(1 / ERROR_WINDOW_SIZE);
  });

  it('waitIdle resolves when the last slot is given back, or false on timeout', async () => {
    const t = new TaskTracker(1);
    expect(await t.waitIdle(10)).toBe(true);
    const s = t.tryReserve()!;
    expect(await t.waitIdle(10)).toBe(false);
    const idle = t.waitIdle(5000);
    s.release();
    expect(await idle).toBe(true);
  });
});
