-- Digest pins for runtime images (C133): a pinned runtime runs <image>@sha256:<digest> instead of
-- whatever its tag points at. template_name is the runtime whose image is pinned (e.g. molecule).
CREATE TABLE IF NOT EXISTS runtime_image_pins (
  template_name  text PRIMARY KEY,
  digest         text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  pinned_by      text NOT NULL DEFAULT '',
  note           text NOT NULL DEFAULT '',
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
