import type { Queryable } from '../db/port.js';
import { INPUT_MICROS_PER_TOKEN, OUTPUT_MICROS_PER_TOKEN, type Usage } from './spend.js';

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
