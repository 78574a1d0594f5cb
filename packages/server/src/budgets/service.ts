import { DEFAULT_BUDGET_PERIOD, type BudgetBlock, type BudgetPeriod, type BudgetView, type PatchBudgetBody } from '@molecule/contracts';
import type { AppDeps } from '../deps.js';
import type { Queryable } from '../db/port.js';
import { DomainError } from '../errors.js';
import { MAX_HIERARCHY_DEPTH } from '../hierarchy/access.js';
import { requireLiveWorkspace } from '../workspaces/errors.js';
import { INPUT_MICROS_PER_TOKEN, OUTPUT_MICROS_PER_TOKEN, type Usage } from '../a2a/spend.js';
import { periodWindow, utcDay, type PeriodWindow } from './period.js';
import { addSpendRow, budgetChain, subtreeSpendMicros, updateBudget, workspaceSpendMicros, type BudgetChainRow } from './repo.js';

export type BudgetDeps = Pick<AppDeps, 'db' | 'log' | 'broadcaster' | 'workspaceCache'>;

/** Micro-USD to whole USD cents, rounded down (a limit is reached when the cents reach it). */
const cents = (micros: number): number => Math.floor(micros / 10_000);

const days = (w: PeriodWindow): [string, string] => [utcDay(w.start), utcDay(w.end)];

async function teamSpendCents(q: Queryable, node: BudgetChainRow, now: Date): Promise<number> {
  return cents(await subtreeSpendMicros(q, node.id, ...days(periodWindow(node.budget_period, now)), MAX_HIERARCHY_DEPTH));
}

async function ownSpendCents(q: Queryable, node: BudgetChainRow, now: Date): Promise<number> {
  return cents(await workspaceSpendMicros(q, node.id, ...days(periodWindow(node.budget_period, now))));
}

function block(node: BudgetChainRow, scope: BudgetBlock['scope'], limit: number, spend: number, now: Date): BudgetBlock {
  return { scope, workspace_id: node.id, limit, spend, period: node.budget_period, resets_at: periodWindow(node.budget_period, now).end.toISOString() };
}

/**
 * The one budget check ("may a call reach this workspace now"), for the A2A proxy and for
 * `GET /workspaces/:id/budget`'s `blocked_by`. The limit that refuses calls, or null: the target's
 * own limit when its own spend in its period reached it, else the nearest team limit (the target's
 * own, then its parent's, up to the root) that its team's spend in that team root's period reached.
 * Throws on a database error (the caller decides fail-open or closed); an unknown id is null.
 */
export async function budgetBlock(q: Queryable, workspaceId: string, now: Date = new Date()): Promise<BudgetBlock | null> {
  const chain = await budgetChain(q, workspaceId, MAX_HIERARCHY_DEPTH);
  const self = chain[0];
  if (!self) return null;
  if (self.budget_limit !== null) {
    const spend = await ownSpendCents(q, self, now);
    if (spend >= self.budget_limit) return block(self, 'workspace', self.budget_limit, spend, now);
  }
  for (const node of chain) {
    if (node.team_budget_limit === null) continue;
    const spend = await teamSpendCents(q, node, now);
    if (spend >= node.team_budget_limit) return block(node, 'team', node.team_budget_limit, spend, now);
  }
  return null;
}

/**
 * The proxy's budget gate: `budgetBlock`, and on a database error no refusal.
 * Fail-open (as upstream): a budget caps spending, it is not an access control, and while the
 * database fails no spend can be recorded either; the error is logged with the workspace id.
 */
export async function budgetGate(deps: Pick<AppDeps, 'db' | 'log'>, workspaceId: string): Promise<BudgetBlock | null> {
  try {
    return await budgetBlock(deps.db, workspaceId);
  } catch (err) {
    deps.log.error({ err, workspace_id: workspaceId }, 'budget check failed; the call is let through (fail-open)');
    return null;
  }
}

const liveWorkspace = requireLiveWorkspace;

/** `GET /workspaces/:id/budget`: limits, spend of the current period, remaining, and what blocks calls. 404 unknown, 410 removed. */
export async function budgetView(q: Queryable, workspaceId: string, now: Date = new Date()): Promise<BudgetView> {
  await liveWorkspace(q, workspaceId);
  const self = (await budgetChain(q, workspaceId, 0))[0];
  if (!self) throw new DomainError('not_found', 'workspace not found');
  const window = periodWindow(self.budget_period, now);
  const [periodSpend, monthlySpend, teamSpend, blockedBy] = await Promise.all([
    ownSpendCents(q, self, now),
    workspaceSpendMicros(q, self.id, ...days(periodWindow('monthly', now))).then(cents),
    teamSpendCents(q, self, now),
    budgetBlock(q, workspaceId, now),
  ]);
  return {
    budget_limit: self.budget_limit,
    monthly_spend: monthlySpend,
    budget_remaining: self.budget_limit === null ? null : self.budget_limit - periodSpend,
    budget_period: self.budget_period,
    period_start: window.start.toISOString(),
    period_resets_at: window.end.toISOString(),
    period_spend: periodSpend,
    team_budget_limit: self.team_budget_limit,
    team_spend: teamSpend,
    team_remaining: self.team_budget_limit === null ? null : self.team_budget_limit - teamSpend,
    blocked_by: blockedBy,
  };
}

/**
 * `PATCH /workspaces/:id/budget`: sets the fields given (a null limit clears it, a null period is
 * the default, monthly), records WORKSPACE_UPDATED with the new settings, and answers the view.
 * 404 unknown, 410 removed; nothing changes then.
 */
export async function setBudget(deps: BudgetDeps, workspaceId: string, body: PatchBudgetBody): Promise<BudgetView> {
  await liveWorkspace(deps.db, workspaceId);
  const period: BudgetPeriod | undefined = body.budget_period === null ? DEFAULT_BUDGET_PERIOD : body.budget_period;
  const update = {
    ...(body.budget_limit !== undefined ? { budget_limit: body.budget_limit } : {}),
    ...(body.team_budget_limit !== undefined ? { team_budget_limit: body.team_budget_limit } : {}),
    ...(period !== undefined ? { budget_period: period } : {}),
  };
  if (!(await updateBudget(deps.db, workspaceId, update))) await liveWorkspace(deps.db, workspaceId);
  deps.workspaceCache.invalidate(workspaceId);
  const view = await budgetView(deps.db, workspaceId);
  await deps.broadcaster.recordAndBroadcast('WORKSPACE_UPDATED', workspaceId, {
    budget: { budget_limit: view.budget_limit, team_budget_limit: view.team_budget_limit, budget_period: view.budget_period },
  });
  return view;
}

/** What a usage report costs, in micro-USD. */
export const usageMicros = (u: Usage): number => u.input_tokens * INPUT_MICROS_PER_TOKEN + u.output_tokens * OUTPUT_MICROS_PER_TOKEN;

/** Adds model usage to a workspace's spend on the UTC day of `at` (now by default). */
export async function recordUsage(q: Queryable, workspaceId: string, usage: Usage, at: Date = new Date()): Promise<void> {
  await addSpendRow(q, workspaceId, utcDay(at), { ...usage, micros: usageMicros(usage) });
}

/**
 * `POST /workspaces/:id/usage`: the agent's own report of tokens it used outside an A2A answer.
 * Answers the budget view after it. 404 unknown, 410 removed.
 */
export async function reportUsage(deps: BudgetDeps, workspaceId: string, usage: Usage): Promise<BudgetView> {
  await liveWorkspace(deps.db, workspaceId);
  if (usage.input_tokens > 0 || usage.output_tokens > 0) await recordUsage(deps.db, workspaceId, usage);
  return budgetView(deps.db, workspaceId);
}
