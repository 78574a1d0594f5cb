import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { LRUCache } from 'lru-cache';
import { isRecord } from '@molecule/contracts';
import type { Logger } from './log.js';

/** One answer as sent: HTTP status and JSON-RPC body. */
export interface SentAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** How many messageIds the agent remembers, and for how long. */
export const DEDUPE_MAX_MESSAGES = 10_000;
export const DEDUPE_TTL_MS = 24 * 60 * 60 * 1000;
/** Where, under the configs dir, the answers are kept across restarts. */
export const DEDUPE_JOURNAL_FILE = '.molecule/answered-messages.jsonl';
/** An answer larger than this is remembered in memory only (a restart forgets it). */
export const DEDUPE_JOURNAL_MAX_ANSWER_BYTES = 1024 * 1024;

interface Remembered {
  fingerprint: string;
  answer: Promise<SentAnswer>;
}

/** One line of the journal: messageId, fingerprint, when, and the answer as sent. */
interface JournalLine {
  m: string;
  f: string;
  t: number;
  s: number;
  b: Record<string, unknown>;
}

/**
 * Idempotent `message/send` by messageId: a message that arrives again (the platform re-delivering
 * a queued message whose first delivery it gave up waiting for, a client retrying after a dropped
 * connection) gets the first delivery's answer, waiting for it while it still runs, and is
 * processed once. Only answers of work that ran are remembered: a busy refusal or a crash leaves
 * the messageId free to try again.
 *
 * With a journal file, finished answers are appended to it before they are sent, and read back at
 * start, so a restarted agent still answers a repeat from the stored result (work the restart
 * interrupted never finished, so its repeat runs it again). The file is rewritten to the
 * remembered set once it holds twice as many lines.
 */
export class MessageDedupe {
  readonly #answers: LRUCache<string, Remembered>;
  /** Settled answers, as journalled (the LRU holds promises; compaction writes these). */
  readonly #settled = new Map<string, JournalLine>();
  #lines = 0;
  #writes: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string | undefined,
    private readonly log: Logger | undefined,
    private readonly max: number,
  ) {
    this.#answers = new LRUCache<string, Remembered>({ max, ttl: DEDUPE_TTL_MS });
  }

  /** Remembers in memory only. */
  static inMemory(max = DEDUPE_MAX_MESSAGES): MessageDedupe {
    return new MessageDedupe(undefined, undefined, max);
  }

  /** Remembers in `file` too, reading back what it holds (unreadable or torn lines are skipped). */
  static async open(file: string, log: Logger, max = DEDUPE_MAX_MESSAGES): Promise<MessageDedupe> {
    try {
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    } catch (err) {
      log.warn({ err, file }, 'cannot keep answered messageIds on disk: remembering them in memory only');
      return MessageDedupe.inMemory(max);
    }
    const d = new MessageDedupe(file, log, max);
    const exists = await stat(file).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!exists) return d;
    const cutoff = Date.now() - DEDUPE_TTL_MS;
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    for await (const raw of lines) {
      d.#lines++;
      const line = parseLine(raw);
      if (!line || line.t < cutoff) continue;
      d.#remember(line);
    }
    log.info({ remembered: d.#settled.size, file }, 'answered messageIds read back');
    return d;
  }

  /**
   * The remembered answer for `messageId`, re-addressed to the JSON-RPC `id` of this request;
   * undefined (synchronously, so a concurrent repeat cannot slip past) when there is none, and
   * 'conflict' when the messageId was first used for another message (`fingerprint` differs).
   */
  replay(messageId: string, id: unknown, fingerprint: string): Promise<SentAnswer | undefined> | 'conflict' | undefined {
    const prior = this.#answers.get(messageId);
    if (!prior) return undefined;
    if (prior.fingerprint !== fingerprint) return 'conflict';
    return prior.answer.then(
      (answer) => ({ status: answer.status, body: { ...answer.body, id } }),
      () => undefined,
    );
  }

  /**
   * Runs `work` for a first delivery of `messageId` and remembers its answer (journalled before it
   * is returned); a throw forgets it.
   */
  run(messageId: string, fingerprint: string, work: () => Promise<SentAnswer>): Promise<SentAnswer> {
    const answer = work().then(async (a) => {
      await this.#journal({ m: messageId, f: fingerprint, t: Date.now(), s: a.status, b: a.body });
      return a;
    });
    this.#answers.set(messageId, { fingerprint, answer });
    answer.catch(() => this.#answers.delete(messageId));
    return answer;
  }

  /** Waits for journal writes in flight (shutdown, tests). */
  async flush(): Promise<void> {
    await this.#writes;
  }

  #remember(line: JournalLine): void {
    this.#answers.set(line.m, { fingerprint: line.f, answer: Promise.resolve({ status: line.s, body: line.b }) });
    this.#keep(line);
  }

  /** Newest last, at most as many as the memory holds. */
  #keep(line: JournalLine): void {
    this.#settled.delete(line.m);
    this.#settled.set(line.m, line);
    if (this.#settled.size > this.max) this.#settled.delete(this.#settled.keys().next().value!);
  }

  /** Appends one answer; a failed write is logged (the answer still goes out, only a restart forgets it). */
  #journal(line: JournalLine): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    const text = JSON.stringify(line);
    if (Buffer.byteLength(text) > DEDUPE_JOURNAL_MAX_ANSWER_BYTES) return Promise.resolve();
    const write = this.#writes.then(async () => {
      try {
        if (this.#lines >= 2 * this.max) await this.#compact(file);
        this.#keep(line);
        await appendFile(file, `${text}\n`, { mode: 0o600 });
        this.#lines++;
      } catch (err) {
        this.log?.warn({ err, file }, 'could not journal an answered messageId; a restart will forget it');
      }
    });
    this.#writes = write;
    return write;
  }

  /** Rewrites the journal to what is remembered and still fresh, atomically (write, then rename). */
  async #compact(file: string): Promise<void> {
    const cutoff = Date.now() - DEDUPE_TTL_MS;
    const keep = [...this.#settled.values()].filter((l) => l.t >= cutoff);
    const tmp = `${file}.tmp`;
    await writeFile(tmp, keep.map((l) => `${JSON.stringify(l)}\n`).join(''), { mode: 0o600 });
    await rename(tmp, file);
    this.#lines = keep.length;
  }
}

function parseLine(raw: string): JournalLine | undefined {
  try {
    const v: unknown = JSON.parse(raw);
    if (isRecord(v) && typeof v.m === 'string' && typeof v.f === 'string' && typeof v.t === 'number' && typeof v.s === 'number' && isRecord(v.b)) {
      return { m: v.m, f: v.f, t: v.t, s: v.s, b: v.b };
    }
  } catch {
    // A line torn by a crash mid-write: skipped.
  }
  return undefined;
}

/**
 * What makes two deliveries the same message: its params as sent, but the JSON-RPC envelope; a
 * digest, so a large message costs its hash, not its size, to remember.
 */
export function messageFingerprint(body: unknown): string {
  return createHash('sha256')
    .update(isRecord(body) ? canonicalJson(body.params) : '')
    .digest('base64url');
}

/** JSON with object keys sorted, so a resend that orders its fields differently is the same message. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isRecord(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The messageId the sender chose (undefined when it sent none: nothing to match a repeat with). */
export function senderMessageId(body: unknown): string | undefined {
  if (!isRecord(body) || !isRecord(body.params)) return undefined;
  const m = body.params.message;
  if (isRecord(m) && typeof m.messageId === 'string' && m.messageId !== '') return m.messageId;
  return undefined;
}
