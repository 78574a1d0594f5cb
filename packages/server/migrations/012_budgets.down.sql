-- Back to one spend row per month (the days of a month summed) and no team limit or period.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = 'workspace_spend' AND column_name = 'day') THEN
    CREATE TEMP TABLE workspace_spend_by_month ON COMMIT DROP AS
      SELECT workspace_id, date_trunc('month', day)::date AS month,
             sum(input_tokens)::bigint AS input_tokens, sum(output_tokens)::bigint AS output_tokens, sum(spend_micros)::bigint AS spend_micros
        FROM workspace_spend GROUP BY 1, 2;
    DELETE FROM workspace_spend;
    ALTER TABLE workspace_spend RENAME COLUMN day TO month;
    INSERT INTO workspace_spend (workspace_id, month, input_tokens, output_tokens, spend_micros)
      SELECT workspace_id, month, input_tokens, output_tokens, spend_micros FROM workspace_spend_by_month;
    DROP TABLE workspace_spend_by_month;
  END IF;
END $$;
ALTER TABLE workspaces DROP CONSTRAINT IF EXISTS workspaces_budget_period_check;
ALTER TABLE workspaces DROP COLUMN IF EXISTS budget_period;
ALTER TABLE workspaces DROP COLUMN IF EXISTS team_budget_limit;
