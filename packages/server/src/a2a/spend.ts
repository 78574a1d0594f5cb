import type { Queryable } from '../db/port.js';

/** Price of model tokens reported by agents, in micro-USD per token ($3 / $15 per million). */
export const INPUT_MICROS_PER_TOKEN = 3;
export const OUTPUT_MICROS_PER_TOKEN = 15;
/** Reported counts above this are treated as this (a buggy agent must not wreck the budget math). */
export const MAX_TOKENS_PER_ANSWER = 10_000_000;

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

/** Adds one answer's usage to the workspace's spend for the current month (UTC). */
export async function addSpend(q: Queryable, workspaceId: string, usage: Usage): Promise<void> {
  const micros = usage.input_tokens * INPUT_MICROS_PER_TOKEN + usage.output_tokens * OUTPUT_MICROS_PER_TOKEN;
  await q.query(
    `INSERT INTO workspace_spend (workspace_id, month, input_tokens, output_tokens, spend_micros)
     VALUES ($1, date_trunc('month', now() AT TIME ZONE 'UTC')::date, $2, $3, $4)
     ON CONFLICT (workspace_id, month) DO UPDATE
       SET input_tokens = workspace_spend.input_tokens + EXCLUDED.input_tokens,
           output_tokens = workspace_spend.output_tokens + EXCLUDED.output_tokens,
           spend_micros = workspace_spend.spend_micros + EXCLUDED.spend_micros`,
    [workspaceId, usage.input_tokens, usage.output_tokens, micros],
  );
}

/** This month's spend in USD cents (rounded down). */
export async function monthlySpendCents(q: Queryable, workspaceId: string): Promise<number> {
  const r = await q.query<{ micros: string | null }>(
    `SELECT spend_micros::text AS micros FROM workspace_spend WHERE workspace_id = $1 AND month = date_trunc('month', now() AT TIME ZONE 'UTC')::date`,
    [workspaceId],
  );
  return Math.floor(Number(r.rows[0]?.micros ?? 0) / 10_000);
}
