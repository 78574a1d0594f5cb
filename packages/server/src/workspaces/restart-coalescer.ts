export interface RestartOptions {
  /** Rewrite the configs from the workspace's template, discarding edits (C130). */
  applyTemplate?: boolean;
}

/**
 * Restarts coalesced per workspace (C148): one cycle runs at a time; requests that arrive meanwhile
 * fold into one more cycle after it. A cycle that throws clears its state, so the next request
 * starts fresh.
 */
export class RestartCoalescer {
  private readonly state = new Map<string, { pending: boolean; applyTemplate: boolean }>();

  constructor(
    private readonly cycle: (id: string, opts: RestartOptions) => Promise<void>,
    private readonly onError: (id: string, err: unknown) => void,
  ) {}

  /**
   * Schedules a cycle; a request folded into a pending cycle adds its options to it (any request
   * for the template wins). Resolves when the cycle it started has finished.
   */
  request(id: string, opts: RestartOptions = {}): Promise<void> {
    const s = this.state.get(id);
    if (s) {
      s.pending = true;
      s.applyTemplate ||= opts.applyTemplate ?? false;
      return Promise.resolve();
    }
    this.state.set(id, { pending: false, applyTemplate: false });
    return this.loop(id, { applyTemplate: opts.applyTemplate ?? false });
  }

  private async loop(id: string, first: RestartOptions): Promise<void> {
    let opts = first;
    try {
      for (;;) {
        try {
          await this.cycle(id, opts);
        } catch (err) {
          this.onError(id, err);
        }
        const s = this.state.get(id);
        if (!s?.pending) break;
        opts = { applyTemplate: s.applyTemplate };
        s.pending = false;
        s.applyTemplate = false;
      }
    } finally {
      this.state.delete(id);
    }
  }

  /** Drops state for workspaces that no longer exist (C159). */
  forget(ids: readonly string[]): void {
    for (const id of ids) this.state.delete(id);
  }

  get size(): number {
    return this.state.size;
  }
}
