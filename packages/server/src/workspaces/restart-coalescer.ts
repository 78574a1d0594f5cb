/**
 * Restarts coalesced per workspace (C148): one cycle runs at a time; requests that arrive meanwhile
 * fold into one more cycle after it. A cycle that throws clears its state, so the next request
 * starts fresh.
 */
export class RestartCoalescer {
  private readonly state = new Map<string, { pending: boolean }>();

  constructor(private readonly cycle: (id: string) => Promise<void>, private readonly onError: (id: string, err: unknown) => void) {}

  /** Schedules a cycle; resolves when the cycle it joined (or started) has finished. */
  request(id: string): Promise<void> {
    const s = this.state.get(id);
    if (s) {
      s.pending = true;
      return Promise.resolve();
    }
    this.state.set(id, { pending: false });
    return this.loop(id);
  }

  private async loop(id: string): Promise<void> {
    try {
      for (;;) {
        try {
          await this.cycle(id);
        } catch (err) {
          this.onError(id, err);
        }
        const s = this.state.get(id);
        if (!s?.pending) break;
        s.pending = false;
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
