import { LRUCache } from 'lru-cache';
import { isRecord } from '@molecule/contracts';

/** One answer as sent: HTTP status and JSON-RPC body. */
export interface SentAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** How many messageIds the agent remembers, and for how long. */
export const DEDUPE_MAX_MESSAGES = 10_000;
export const DEDUPE_TTL_MS = 60 * 60 * 1000;

/**
 * Idempotent `message/send` by messageId: a message that arrives again (the platform re-sending a
 * delivery its crash interrupted, a client retrying after a dropped connection) gets the first
 * delivery's answer, waiting for it while it still runs, and is processed once. Only answers of
 * work that ran are remembered: a busy refusal or a crash leaves the messageId free to try again.
 */
export class MessageDedupe {
  readonly #answers = new LRUCache<string, { fingerprint: string; answer: Promise<SentAnswer> }>({ max: DEDUPE_MAX_MESSAGES, ttl: DEDUPE_TTL_MS });

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

  /** Runs `work` for a first delivery of `messageId` and remembers its answer; a throw forgets it. */
  run(messageId: string, fingerprint: string, work: () => Promise<SentAnswer>): Promise<SentAnswer> {
    const answer = work();
    this.#answers.set(messageId, { fingerprint, answer });
    answer.catch(() => this.#answers.delete(messageId));
    return answer;
  }
}

/** What makes two deliveries the same message: its params as sent, but the JSON-RPC envelope. */
export function messageFingerprint(body: unknown): string {
  return isRecord(body) ? canonicalJson(body.params) : '';
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
