/** How a task ended. Canceled tasks say nothing about the agent's health and stay out of the error rate. */
export type TaskOutcome = { kind: 'completed' } | { kind: 'failed'; error: string } | { kind: 'canceled' };

/** How many finished tasks the error rate looks back over. */
export const ERROR_WINDOW_SIZE = 20;
const SUMMARY_MAX = 200;

/** What the heartbeat reports about the agent's work (C001). */
export interface TaskSnapshot {
  activeTasks: number;
  /** The most recently started task still running, summarised; '' when idle. */
  currentTask: string;
  /** Failed / (completed + failed) over the last {@link ERROR_WINDOW_SIZE} finished tasks. */
  errorRate: number;
  /** The newest error still inside the window; '' when the window holds none. */
  sampleError: string;
}

/**
 * One unit of admission. A request reserves a slot before the A2A handler sees it; the executor
 * then `start`s it and `finish`es it when the task ends. A slot that never starts (the request
 * failed before execution) is given back with `release`. Every method is idempotent past its state.
 */
export class TaskSlot {
  private state: 'reserved' | 'running' | 'done' = 'reserved';
  taskId = '';

  constructor(
    private readonly tracker: TaskTracker,
    private readonly seq: number,
  ) {}

  get started(): boolean {
    return this.state !== 'reserved';
  }

  start(taskId: string, summary: string): void {
    if (this.state !== 'reserved') return;
    this.state = 'running';
    this.taskId = taskId;
    this.tracker.onStart(this, this.seq, summarise(summary));
  }

  finish(outcome: TaskOutcome): void {
    if (this.state !== 'running') return;
    this.state = 'done';
    this.tracker.onFinish(this, outcome);
  }

  /** Gives the slot back if it was never started; a no-op once the executor owns it. */
  release(): void {
    if (this.state !== 'reserved') return;
    this.state = 'done';
    this.tracker.onRelease();
  }
}

function summarise(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > SUMMARY_MAX ? `${oneLine.slice(0, SUMMARY_MAX - 1)}…` : oneLine;
}

/**
 * The single source of truth for "how busy is this agent": admission against
 * max_concurrent_tasks, the running tasks, and the sliding error window the heartbeat reports.
 */
export class TaskTracker {
  private held = 0;
  private seq = 0;
  private readonly running = new Map<TaskSlot, { seq: number; summary: string }>();
  private readonly window: { error: string | undefined }[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(readonly maxConcurrent: number) {}

  /** Slots reserved or running. */
  get inFlight(): number {
    return this.held;
  }

  /** A slot when one is free, otherwise undefined: the caller answers "busy". */
  tryReserve(): TaskSlot | undefined {
    if (this.held >= this.maxConcurrent) return undefined;
    return this.forceReserve();
  }

  /** A slot regardless of the limit, for work that was already admitted elsewhere. */
  forceReserve(): TaskSlot {
    this.held++;
    return new TaskSlot(this, ++this.seq);
  }

  snapshot(): TaskSnapshot {
    let current: { seq: number; summary: string } | undefined;
    for (const r of this.running.values()) if (!current || r.seq > current.seq) current = r;
    const finished = this.window.length;
    const errors = this.window.filter((w) => w.error !== undefined);
    return {
      activeTasks: this.running.size,
      currentTask: current?.summary ?? '',
      errorRate: finished === 0 ? 0 : errors.length / finished,
      sampleError: errors.at(-1)?.error ?? '',
    };
  }

  /** Resolves when nothing is reserved or running, or after `timeoutMs`. */
  async waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.held === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  /** @internal */
  onStart(slot: TaskSlot, seq: number, summary: string): void {
    this.running.set(slot, { seq, summary });
  }

  /** @internal */
  onFinish(slot: TaskSlot, outcome: TaskOutcome): void {
    this.running.delete(slot);
    if (outcome.kind !== 'canceled') {
      this.window.push({ error: outcome.kind === 'failed' ? outcome.error || 'task failed' : undefined });
      if (this.window.length > ERROR_WINDOW_SIZE) this.window.shift();
    }
    this.onRelease();
  }

  /** @internal */
  onRelease(): void {
    this.held--;
    if (this.held === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
