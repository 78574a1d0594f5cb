import { MAX_REPORTED_TOKENS } from '@molecule/contracts';

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
 * Token usage an agent reported in a JSON-RPC answer: `result.usage` or a top-level `usage`, with
 * `input_tokens` / `output_tokens` (`prompt_tokens` / `completion_tokens` also read). Undefined
 * when there is none.
 */
export function usageOf(answer: unknown): Usage | undefined {
  if (typeof answer !== 'object' || answer === null) return undefined;
  const a = answer as { usage?: unknown; result?: { usage?: unknown } };
  const u = (a.result && typeof a.result === 'object' ? a.result.usage : undefined) ?? a.usage;
  if (typeof u !== 'object' || u === null) return undefined;
  const r = u as Record<string, unknown>;
  const usage = { input_tokens: count(r.input_tokens ?? r.prompt_tokens), output_tokens: count(r.output_tokens ?? r.completion_tokens) };
  return usage.input_tokens === 0 && usage.output_tokens === 0 ? undefined : usage;
}
