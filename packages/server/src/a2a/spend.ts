import { isRecord, MAX_REPORTED_TOKENS } from '@molecule/contracts';

/** Price of model tokens reported by agents, in micro-USD per token ($3 / $15 per million). */
export const INPUT_MICROS_PER_TOKEN = 3;
export const OUTPUT_MICROS_PER_TOKEN = 15;
/** Reported counts above this are treated as this (a buggy agent must not wreck the budget math). */
export const MAX_TOKENS_PER_ANSWER = MAX_REPORTED_TOKENS;

export interface Usage {
  input_tokens: number;
  output_tokens: number;
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.min(Math.floor(v), MAX_TOKENS_PER_ANSWER) : 0);

/**
 * Token usage an agent reported in a JSON-RPC answer (or a stream's last event): `result.usage` or a
 * top-level `usage` (upstream's places), or the metadata of the result, of its final status message
 * (where molecule-agent puts it), in either dialect (v1 wraps the result in `task`, `message` or
 * `statusUpdate`). Counts are `input_tokens` / `output_tokens` (`prompt_tokens` /
 * `completion_tokens` also read). Undefined when there is none.
 */
export function usageOf(answer: unknown): Usage | undefined {
  if (!isRecord(answer)) return undefined;
  const result = isRecord(answer.result) ? answer.result : undefined;
  const bodies = result ? [result, result.task, result.message, result.statusUpdate, result.status_update].filter(isRecord) : [];
  const places: unknown[] = [result?.usage, answer.usage];
  for (const b of bodies) {
    places.push(isRecord(b.metadata) ? b.metadata.usage : undefined);
    const message = isRecord(b.status) ? b.status.message : undefined;
    places.push(isRecord(message) && isRecord(message.metadata) ? message.metadata.usage : undefined);
  }
  for (const u of places) {
    if (!isRecord(u)) continue;
    const usage = { input_tokens: count(u.input_tokens ?? u.prompt_tokens), output_tokens: count(u.output_tokens ?? u.completion_tokens) };
    if (usage.input_tokens > 0 || usage.output_tokens > 0) return usage;
  }
  return undefined;
}
