import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';

/**
 * Which of an agent's own sessions (or threads) each A2A context is, kept in a JSON file in the
 * workspace (mode 0600, replaced whole) so that a restarted agent resumes the same conversations.
 * A missing file is an empty map; an unreadable one too, logged: every context then starts afresh.
 */
export class ContextIds {
  private ids: Map<string, string> | undefined;

  constructor(
    private readonly file: string,
    /** What the ids are, for the log ("the ACP session map"). */
    private readonly what: string,
    private readonly log: Logger,
  ) {}

  async get(contextId: string): Promise<string | undefined> {
    return (await this.load()).get(contextId);
  }

  /** Records the context's id; the file is written only when it changed. */
  async set(contextId: string, id: string): Promise<void> {
    const ids = await this.load();
    if (ids.get(contextId) === id) return;
    ids.set(contextId, id);
    await this.save(ids);
  }

  /** Forgets the context's id, if it had one. */
  async delete(contextId: string): Promise<void> {
    const ids = await this.load();
    if (ids.delete(contextId)) await this.save(ids);
  }

  async load(): Promise<Map<string, string>> {
    if (this.ids) return this.ids;
    const ids = new Map<string, string>();
    try {
      const saved: unknown = JSON.parse(await readFile(this.file, 'utf8'));
      if (typeof saved === 'object' && saved !== null) for (const [ctx, id] of Object.entries(saved)) if (typeof id === 'string') ids.set(ctx, id);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err }, `${this.what} could not be read; starting new ones`);
    }
    return (this.ids = ids);
  }

  private async save(ids: Map<string, string>): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(Object.fromEntries(ids)), { mode: 0o600 });
    await rename(tmp, this.file);
  }
}
