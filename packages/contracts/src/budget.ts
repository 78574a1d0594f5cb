import { z } from 'zod';

/**
 * Budgets (issue #12 part 7). Amounts are USD cents; spend comes from the token usage agents report
 * (in their A2A answers, or `POST /workspaces/:id/usage`). A workspace has its own limit
 * (`budget_limit`, its own spend) and a team limit (`team_budget_limit`, the spend of its whole
 * subtree: itself and every workspace under it), both counted over its budget period.
 */

/**
 * How often a workspace's budget starts over, in UTC: `daily` at midnight, `weekly` on Monday at
 * midnight (ISO weeks), `monthly` on the 1st at midnight (the default, upstream's only period).
 * Mirrored by a CHECK on `workspaces.budget_period` (migration 012; a test holds the two together).
 */
export const BUDGET_PERIODS = ['daily', 'weekly', 'monthly'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];
export const DEFAULT_BUDGET_PERIOD: BudgetPeriod = 'monthly';

/** Whose limit refuses a call: the target's own (`workspace`), or a team limit of it or an ancestor (`team`). */
export const BUDGET_SCOPES = ['workspace', 'team'] as const;
export type BudgetScope = (typeof BUDGET_SCOPES)[number];

/** The limit that refuses calls to a workspace now, and the spend that reached it. */
export const BudgetBlock = z.object({
  scope: z.enum(BUDGET_SCOPES),
  /** Whose limit it is: the target itself, or the team root (the target or an ancestor). */
  workspace_id: z.uuid(),
  /** USD cents. */
  limit: z.number().int(),
  /** USD cents spent in that limit's current period (rounded down). */
  spend: z.number().int(),
  period: z.enum(BUDGET_PERIODS),
  /** When that period ends and the spend starts over (RFC 3339, UTC). */
  resets_at: z.string(),
});
export type BudgetBlock = z.infer<typeof BudgetBlock>;

/**
 * `GET /workspaces/:id/budget` (and the answer of a PATCH). Upstream's three fields first:
 * `monthly_spend` is always this calendar month's spend; `budget_remaining` is the limit minus the
 * spend of the budget period (the same as upstream's with the default monthly period), may be negative.
 */
export const BudgetView = z.object({
  budget_limit: z.number().int().nullable(),
  monthly_spend: z.number().int(),
  budget_remaining: z.number().int().nullable(),
  budget_period: z.enum(BUDGET_PERIODS),
  period_start: z.string(),
  period_resets_at: z.string(),
  /** This workspace's own spend in the current period (USD cents). */
  period_spend: z.number().int(),
  team_budget_limit: z.number().int().nullable(),
  /** The spend of this workspace and everything under it in the current period (USD cents). */
  team_spend: z.number().int(),
  team_remaining: z.number().int().nullable(),
  /** The limit that refuses A2A calls to this workspace now; null when calls are served. */
  blocked_by: BudgetBlock.nullable(),
});
export type BudgetView = z.infer<typeof BudgetView>;

const cents = (field: string) =>
  z
    .number({ error: `${field} must be an integer (USD cents) or null` })
    .int(`${field} must be an integer (USD cents) or null`)
    .min(0, `${field} must be >= 0 (USD cents)`)
    .nullable()
    .optional();

/** The answer when a PATCH names none of its fields (upstream's text, then ours). */
export const BUDGET_FIELD_REQUIRED = 'budget_limit field is required (or team_budget_limit, budget_period)';

/**
 * `PATCH /workspaces/:id/budget` (admin): any of the three, at least one. A limit of null clears it;
 * a period of null goes back to the default (monthly). Keys left out are unchanged.
 */
export const PatchBudgetBody = z
  .strictObject({
    budget_limit: cents('budget_limit'),
    team_budget_limit: cents('team_budget_limit'),
    budget_period: z.enum(BUDGET_PERIODS, { error: `budget_period must be one of ${BUDGET_PERIODS.join(', ')} or null` }).nullable().optional(),
  })
  .refine((b) => b.budget_limit !== undefined || b.team_budget_limit !== undefined || b.budget_period !== undefined, BUDGET_FIELD_REQUIRED);
export type PatchBudgetBody = z.infer<typeof PatchBudgetBody>;

/** Largest token count one usage report may carry (the same cap as a reported A2A answer's). */
export const MAX_REPORTED_TOKENS = 10_000_000;

const tokens = (field: string) =>
  z
    .number({ error: `${field} must be a whole number of tokens` })
    .int(`${field} must be a whole number of tokens`)
    .min(0, `${field} must be >= 0`)
    .max(MAX_REPORTED_TOKENS, `${field} must be at most ${MAX_REPORTED_TOKENS}`)
    .default(0);

/**
 * `POST /workspaces/:id/usage` (the agent's own token): model tokens the agent used outside an
 * A2A answer (its own scheduled work, tools...), added to its spend now.
 */
export const ReportUsageBody = z.strictObject({ input_tokens: tokens('input_tokens'), output_tokens: tokens('output_tokens') });
export type ReportUsageBody = z.infer<typeof ReportUsageBody>;
