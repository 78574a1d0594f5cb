DROP TABLE IF EXISTS canvas_viewport;
ALTER TABLE workspaces DROP COLUMN IF EXISTS canvas_y;
ALTER TABLE workspaces DROP COLUMN IF EXISTS canvas_x;
