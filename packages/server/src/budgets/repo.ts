import { Status, type BudgetPeriod, type WorkspaceStatus } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';

/** One workspace of a parent chain with its budget settings. */
export interface BudgetChainRow {
  id: string;
  parent_id: string | null;
  status: WorkspaceStatus;
  budget_limit: number | null;
  team_budget_limit: number | null;
  budget_period: BudgetPeriod;
  /** 0 for the workspace itself, 1 for its parent... */
  depth: number;
}

/** `[self, parent, ...]` with each one's limits and period, at most `maxDepth + 1` rows; empty for an unknown id. */
export async function budgetChain(q: Queryable, id: string, maxDepth: number): Promise<BudgetChainRow[]> {
  const r = await q.query<Omit<BudgetChainRow, 'budget_limit' | 'team_budget_limit'> & { budget_limit: string | null; team_budget_limit: string | null }>(
    `WITH RECURSIVE chain AS (
       SELECT id, parent_id, status, budget_limit, team_budget_limit, budget_period, 0 AS depth FROM workspaces WHERE id = $1
       UNION ALL
       SELECT w.id, w.parent_id, w.status, w.budget_limit, w.team_budget_limit, w.budget_period, c.depth + 1
         FROM workspaces w JOIN chain c ON w.id = c.parent_id
        WHERE c.depth < $2
     )
     SELECT id, parent_id, status, budget_limit::text, team_budget_limit::text, budget_period, depth FROM chain ORDER BY depth`,
    [id, maxDepth],
  );
  const num = (v: string | null) => (v === null ? null : Number(v));
  return r.rows.map((x) => ({ ...x, budget_limit: num(x.budget_limit), team_budget_limit: num(x.team_budget_limit) }));
}

/** A workspace's own spend (micro-USD) on the UTC days [fromDay, toDay). */
export async function workspaceSpendMicros(q: Queryable, id: string, fromDay: string, toDay: string): Promise<number> {
  const r = await q.query<{ micros: string }>(
    `SELECT coalesce(sum(spend_micros), 0)::text AS micros FROM workspace_spend WHERE workspace_id = $1 AND day >= $2::date AND day < $3::date`,
    [id, fromDay, toDay],
  );
  return Number(r.rows[0]?.micros ?? 0);
}

/**
 * The spend (micro-USD) of a workspace and every workspace under it, removed ones included (their
 * spend was spent), on the UTC days [fromDay, toDay). The walk down stops `maxDepth` levels below.
 */
export async function subtreeSpendMicros(q: Queryable, rootId: string, fromDay: string, toDay: string, maxDepth: number): Promise<number> {
  const r = await q.query<{ micros: string }>(
    `WITH RECURSIVE team AS (
       SELECT id, 0 AS depth FROM workspaces WHERE id = $1
       UNION ALL
       SELECT w.id, t.depth + 1 FROM workspaces w JOIN team t ON w.parent_id = t.id WHERE t.depth < $4
     )
     SELECT coalesce(sum(s.spend_micros), 0)::text AS micros
       FROM workspace_spend s JOIN (SELECT DISTINCT id FROM team) t ON s.workspace_id = t.id
      WHERE s.day >= $2::date AND s.day < $3::date`,
    [rootId, fromDay, toDay, maxDepth],
  );
  return Number(r.rows[0]?.micros ?? 0);
}

/** Adds tokens and their price to a workspace's spend row of one UTC day. */
export async function addSpendRow(q: Queryable, id: string, day: string, s: { input_tokens: number; output_tokens: number; micros: number }): Promise<void> {
  await q.query(
    `INSERT INTO workspace_spend (workspace_id, day, input_tokens, output_tokens, spend_micros)
     VALUES ($1, $2::date, $3, $4, $5)
     ON CONFLICT (workspace_id, day) DO UPDATE
       SET input_tokens = workspace_spend.input_tokens + EXCLUDED.input_tokens,
           output_tokens = workspace_spend.output_tokens + EXCLUDED.output_tokens,
           spend_micros = workspace_spend.spend_micros + EXCLUDED.spend_micros`,
    [id, day, s.input_tokens, s.output_tokens, s.micros],
  );
}

/** What a budget change sets: a field left undefined is unchanged. */
export interface BudgetUpdate {
  budget_limit?: number | null;
  team_budget_limit?: number | null;
  budget_period?: BudgetPeriod;
}

/** Writes a budget change to a workspace that is not removed; false when there is none (unknown or removed). */
export async function updateBudget(q: Queryable, id: string, u: BudgetUpdate): Promise<boolean> {
  const r = await q.query(
    `UPDATE workspaces
        SET budget_limit = CASE WHEN $2::boolean THEN $3::bigint ELSE budget_limit END,
            team_budget_limit = CASE WHEN $4::boolean THEN $5::bigint ELSE team_budget_limit END,
            budget_period = coalesce($6::text, budget_period),
            updated_at = now()
      WHERE id = $1 AND status <> $7`,
    [id, u.budget_limit !== undefined, u.budget_limit ?? null, u.team_budget_limit !== undefined, u.team_budget_limit ?? null, u.budget_period ?? null, Status.Removed],
  );
  return r.rowCount > 0;
}
