-- Budgets per workspace and per team, with a reset period (issue #12 part 7).
-- team_budget_limit (USD cents) caps the spend of a workspace's whole subtree; budget_period says
-- when both of its limits start over (UTC). The period list mirrors BUDGET_PERIODS in
-- packages/contracts/src/budget.ts (a test holds the two together).
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS team_budget_limit bigint CHECK (team_budget_limit >= 0);
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS budget_period text NOT NULL DEFAULT 'monthly';
ALTER TABLE workspaces DROP CONSTRAINT IF EXISTS workspaces_budget_period_check;
ALTER TABLE workspaces ADD CONSTRAINT workspaces_budget_period_check CHECK (budget_period IN ('daily', 'weekly', 'monthly'));

-- Spend is kept per UTC day (was: per month), so a daily or weekly period can be summed. A month's
-- existing total becomes the row of its first day: monthly sums are unchanged.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = 'workspace_spend' AND column_name = 'month') THEN
    ALTER TABLE workspace_spend RENAME COLUMN month TO day;
  END IF;
END $$;
