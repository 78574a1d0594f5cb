import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunnableConfig } from '@langchain/core/runnables';
import { MemorySaver, type Checkpoint, type CheckpointMetadata, type CheckpointTuple } from '@langchain/langgraph';

type CheckpointListOptions = Parameters<MemorySaver['list']>[1];
type PendingWrite = Parameters<MemorySaver['putWrites']>[1][number];

/** The checkpoints' folder inside the workspace directory. */
export const CHECKPOINTS_DIR = path.join('.molecule', 'langgraph', 'threads');

type Stored = MemorySaver['storage'][string];
type Writes = MemorySaver['writes'];

/** JSON with the saver's serialized bytes as `{"$b64": ...}`. */
function encode(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $b64: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  return value;
}

function decode(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === 'object') {
    const b64 = (value as { $b64?: unknown }).$b64;
    if (typeof b64 === 'string') return new Uint8Array(Buffer.from(b64, 'base64'));
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) out[k] = decode(v);
    return out;
  }
  return value;
}

const threadOf = (config: RunnableConfig): string | undefined => {
  const id: unknown = config.configurable?.thread_id;
  return typeof id === 'string' && id !== '' ? id : undefined;
};

/**
 * LangGraph's in-memory saver made durable: each thread's checkpoints and pending writes live in one
 * JSON file under the workspace directory (named by a hash of the thread id, so an id never becomes
 * a path), loaded on first use and rewritten (temp file + rename) after every change. Chosen over
 * the SQLite saver because better-sqlite3 fetches its native binary at install time.
 */
export class FileCheckpointSaver extends MemorySaver {
  private readonly loaded = new Map<string, Promise<void>>();
  private saving: Promise<unknown> = Promise.resolve();
  private seq = 0;

  constructor(private readonly dir: string) {
    super();
  }

  private file(threadId: string): string {
    return path.join(this.dir, `${createHash('sha256').update(threadId).digest('hex').slice(0, 32)}.json`);
  }

  private ensure(threadId: string | undefined): Promise<void> {
    if (threadId === undefined) return Promise.resolve();
    let p = this.loaded.get(threadId);
    if (!p) {
      p = this.load(threadId);
      this.loaded.set(threadId, p);
    }
    return p;
  }

  private async load(threadId: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file(threadId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const saved = JSON.parse(text) as { storage?: unknown; writes?: unknown };
    if (saved.storage) this.storage[threadId] = decode(saved.storage) as Stored;
    for (const [key, value] of Object.entries((saved.writes ?? {}) as Record<string, unknown>)) this.writes[key] = decode(value) as Writes[string];
  }

  private save(threadId: string): Promise<void> {
    const writes: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this.writes)) if ((JSON.parse(key) as unknown[])[0] === threadId) writes[key] = value;
    const text = JSON.stringify({ thread_id: threadId, storage: encode(this.storage[threadId] ?? {}), writes: encode(writes) });
    const file = this.file(threadId);
    const tmp = `${file}.${process.pid}.${this.seq++}.tmp`;
    const next = this.saving.then(async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, file);
    });
    this.saving = next.catch(() => undefined);
    return next;
  }

  override async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    await this.ensure(threadOf(config));
    return super.getTuple(config);
  }

  override async *list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    await this.ensure(threadOf(config));
    yield* super.list(config, options);
  }

  override async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata): Promise<RunnableConfig> {
    const threadId = threadOf(config);
    await this.ensure(threadId);
    const out = await super.put(config, checkpoint, metadata);
    if (threadId !== undefined) await this.save(threadId);
    return out;
  }

  override async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void> {
    const threadId = threadOf(config);
    await this.ensure(threadId);
    await super.putWrites(config, writes, taskId, taskPath);
    if (threadId !== undefined) await this.save(threadId);
  }

  override async getDeltaChannelHistory(options: Parameters<MemorySaver['getDeltaChannelHistory']>[0]): ReturnType<MemorySaver['getDeltaChannelHistory']> {
    await this.ensure(threadOf(options.config));
    return super.getDeltaChannelHistory(options);
  }

  override async deleteThread(threadId: string): Promise<void> {
    await this.ensure(threadId);
    await super.deleteThread(threadId);
    await this.saving;
    await rm(this.file(threadId), { force: true });
  }
}
