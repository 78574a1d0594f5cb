/** Small value helpers every package needs once: JSON without exceptions, record checks, A2A part text. */

export type JsonObject = Record<string, unknown>;

/** A plain object (not null, not an array). */
export function isRecord(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `JSON.parse` of a string or UTF-8 bytes; undefined (never a throw) when it is not JSON. */
export function parseJson(text: string | Uint8Array): unknown {
  try {
    return JSON.parse(typeof text === 'string' ? text : new TextDecoder().decode(text));
  } catch {
    return undefined;
  }
}

/**
 * The text of an A2A `parts` array (either dialect: `{kind:"text", text}` or `{text}`; bare strings
 * too), joined by `separator`; empty texts are skipped. Undefined when `parts` is not an array or holds no text.
 */
export function textOfParts(parts: unknown, separator = ''): string | undefined {
  if (!Array.isArray(parts)) return undefined;
  const texts: string[] = [];
  for (const p of parts) {
    const text = typeof p === 'string' ? p : isRecord(p) && typeof p.text === 'string' ? p.text : '';
    if (text !== '') texts.push(text);
  }
  return texts.length > 0 ? texts.join(separator) : undefined;
}

/** pino's levels, in the order they filter; `LOG_LEVEL` and `MOLECULE_LOG_LEVEL` take one of these. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this looks for
const UNSTORABLE_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Whether JSON text decodes to a value holding, in a string or a key, what PostgreSQL's `text` and
 * `jsonb` cannot store: U+0000 or an unpaired UTF-16 surrogate. Cheap for the common case: only
 * text that spells one of those escapes is walked.
 */
export function jsonHoldsUnstorable(text: string, value: unknown): boolean {
  if (!/\\u(0000|d[89a-f])/i.test(text)) return false;
  const walk = (v: unknown): boolean => {
    if (typeof v === 'string') return UNSTORABLE_TEXT.test(v);
    if (Array.isArray(v)) return v.some(walk);
    if (isRecord(v)) return Object.entries(v).some(([k, x]) => UNSTORABLE_TEXT.test(k) || walk(x));
    return false;
  };
  return walk(value);
}

/**
 * The reply text of an A2A answer in any dialect: a task's status message, a message's parts, or
 * its artifacts (v0.3 `result`, v1 `result.task` / `result.message`). Undefined when there is none.
 */
export function replyText(answer: unknown): string | undefined {
  if (!isRecord(answer) || !isRecord(answer.result)) return undefined;
  const r = answer.result;
  const candidates = [r, isRecord(r.task) ? r.task : undefined, isRecord(r.message) ? r.message : undefined].filter(isRecord);
  for (const c of candidates) {
    const fromStatus = isRecord(c.status) && isRecord(c.status.message) ? textOfParts(c.status.message.parts) : undefined;
    if (fromStatus !== undefined) return fromStatus;
    const fromParts = textOfParts(c.parts);
    if (fromParts !== undefined) return fromParts;
    if (Array.isArray(c.artifacts)) {
      const t = c.artifacts.filter(isRecord).map((a) => textOfParts(a.parts)).find((x) => x !== undefined);
      if (t !== undefined) return t;
    }
  }
  return undefined;
}

/** The data of one SSE event (the text between blank lines): its `data:` lines joined; '' when it has none. */
export function sseEventData(frame: string): string {
  return frame
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).replace(/^ /, ''))
    .join('\n');
}
