import { createHash } from 'node:crypto';
import type { Db, Queryable } from '../db/port.js';
import type { Logger } from '../log.js';

export interface LoopSpec {
  /** Also the advisory-lock identity: one replica runs each loop at a time. */
  name: string;
  intervalMs: number;
  /**
   * Passes start just after each wall-clock multiple of `intervalMs` instead of every `intervalMs`
   * from boot: a loop acting on whole seconds (cron times) then looks at most a few ms after them.
   */
  aligned?: boolean;
  /** One pass: read current state, fix what differs. Must be safe to run twice. */
  tick: (q: Queryable) => Promise<void>;
}

export interface LoopStatus {
  last_tick_at: string | null;
  last_error_at: string | null;
  runs: number;
  skipped_locked: number;
  errors: number;
}

/** How long after an aligned loop's wall-clock mark its pass starts: timers may fire a little early. */
const ALIGN_SLACK_MS = 5;

/** A stable 63-bit advisory-lock key per loop name. */
export function loopLockKey(name: string): bigint {
  return createHash('sha256').update(`molecule-loop:${name}`).digest().readBigInt64BE(0) & 0x7fffffffffffffffn;
}

/**
 * Runs background loops (C179): each pass runs under a Postgres advisory lock (skipped when another
 * replica holds it), a pass that throws is logged and the loop carries on, and passes never overlap.
 * `stop` waits for passes in flight.
 */
export class Supervisor {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  readonly status = new Map<string, LoopStatus>();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    /** Told the outcome of every pass (the `molecule_loop_passes_total` metric). */
    private readonly onPass: (loop: string, outcome: 'ran' | 'skipped_locked' | 'error') => void = () => {},
  ) {}

  start(loops: readonly LoopSpec[]): void {
    for (const loop of loops) {
      this.status.set(loop.name, { last_tick_at: null, last_error_at: null, runs: 0, skipped_locked: 0, errors: 0 });
      let running = false;
      const pass = () => {
        if (running || this.stopped) return;
        running = true;
        const p = this.runOnce(loop).finally(() => {
          running = false;
          this.inFlight.delete(p);
        });
        this.inFlight.add(p);
      };
      pass(); // once at boot, then on the interval
      if (loop.aligned) this.alignedTimer(loop.intervalMs, pass);
      else this.timers.push(setInterval(pass, loop.intervalMs).unref());
    }
  }

  /** Calls `pass` ALIGN_SLACK_MS after every wall-clock multiple of `intervalMs`, until stopped. */
  private alignedTimer(intervalMs: number, pass: () => void): void {
    const arm = () => {
      if (this.stopped) return;
      const t = setTimeout(() => {
        this.timers.splice(this.timers.indexOf(t), 1);
        pass();
        arm();
      }, intervalMs - (Date.now() % intervalMs) + ALIGN_SLACK_MS).unref();
      this.timers.push(t);
    };
    arm();
  }

  /** One pass of one loop, now (tests, and the first pass at boot). Never throws. */
  async runOnce(loop: LoopSpec): Promise<void> {
    const st = this.status.get(loop.name) ?? { last_tick_at: null, last_error_at: null, runs: 0, skipped_locked: 0, errors: 0 };
    this.status.set(loop.name, st);
    try {
      const r = await this.db.tryWithAdvisoryLock(loopLockKey(loop.name), loop.tick);
      if (!r.ran) {
        st.skipped_locked++;
        this.onPass(loop.name, 'skipped_locked');
        return;
      }
      st.runs++;
      st.last_tick_at = new Date().toISOString();
      this.onPass(loop.name, 'ran');
    } catch (err) {
      st.errors++;
      this.onPass(loop.name, 'error');
      st.last_error_at = new Date().toISOString();
      this.log.error({ err, loop: loop.name }, 'background loop pass failed; it will run again');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.allSettled([...this.inFlight]);
  }
}
