import { z } from 'zod';
import { BudgetView, ErrorBody, PatchBudgetBody, ReportUsageBody } from '@molecule/contracts';
import { requireAdmin, requireOwnWorkspaceToken, requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import type { App } from '../http/types.js';
import { budgetView, reportUsage, setBudget, type BudgetDeps } from './service.js';

const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 410: ErrorBody };

const VIEW_DESCRIPTION =
  'Amounts are USD cents. `budget_limit` caps the workspace\'s own spend, `team_budget_limit` the spend of its whole subtree (itself and every workspace under it), ' +
  'both over `budget_period` (UTC: daily, weekly from Monday, or monthly, the default), which started at `period_start` and starts over at `period_resets_at`. ' +
  '`monthly_spend` is always this calendar month\'s; remaining amounts may be negative. `blocked_by` names the limit that refuses A2A calls to it now (402), or null.';

/**
 * Budgets: `GET/PATCH /workspaces/:id/budget` (upstream's shape, extended with a team limit, a
 * period and what blocks calls) and `POST /workspaces/:id/usage`, the agent's own usage report.
 */
export function registerBudgetRoutes(app: App, deps: BudgetDeps & AuthDeps): void {
  const admin = requireAdmin(deps);
  const wsAccess = requireWorkspaceAccess(deps);
  const own = requireOwnWorkspaceToken(deps);

  app.get(
    '/workspaces/:id/budget',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: { summary: "A workspace's budget: limits, spend this period, remaining, and what blocks calls", description: VIEW_DESCRIPTION, tags: ['budgets'], params: IdParams, response: { 200: BudgetView, ...errors } },
    },
    async (req) => budgetView(deps.db, req.params.id),
  );

  app.patch(
    '/workspaces/:id/budget',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: "Set or clear a workspace's budget limits and period",
        description:
          'Any of `budget_limit`, `team_budget_limit` (USD cents, integers >= 0; null clears) and `budget_period` (null: monthly), at least one; keys left out are unchanged. Records WORKSPACE_UPDATED `{budget}`. Answers the budget as GET does.',
        tags: ['budgets'],
        params: IdParams,
        body: PatchBudgetBody,
        response: { 200: BudgetView, ...errors },
      },
    },
    async (req) => setBudget(deps, req.params.id, req.body),
  );

  app.post(
    '/workspaces/:id/usage',
    {
      // Any credential passes authentication; the route's own rule then admits only this workspace's token.
      config: { access: 'credential' },
      onRequest: own,
      schema: {
        summary: 'Report model tokens the agent used outside an A2A answer (its own token only)',
        description:
          'Adds `input_tokens` and `output_tokens` (each 0 to 10,000,000) to the workspace\'s spend today, priced as reported A2A usage ($3 / $15 per million). Usage reported in an A2A answer is counted already: do not report it again. Answers the budget as GET does.',
        tags: ['budgets'],
        params: IdParams,
        body: ReportUsageBody,
        response: { 200: BudgetView, ...errors },
      },
    },
    async (req) => reportUsage(deps, req.params.id, req.body),
  );
}
