-- The canvas (issue #11): where a user put each workspace (relative to its parent's box; NULL: the
-- canvas lays it out itself) and the one shared viewport.
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS canvas_x double precision;
ALTER TABLE workspaces ADD COLUMN IF NOT EXISTS canvas_y double precision;
CREATE TABLE IF NOT EXISTS canvas_viewport (
  id smallint PRIMARY KEY CHECK (id = 1),
  x double precision NOT NULL,
  y double precision NOT NULL,
  zoom double precision NOT NULL,
  saved_at timestamptz NOT NULL DEFAULT now()
);
