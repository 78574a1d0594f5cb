import type { CanvasViewport } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';

/** The one saved viewport, if any. */
export async function readViewport(q: Queryable): Promise<CanvasViewport | undefined> {
  const r = await q.query<CanvasViewport>('SELECT x, y, zoom FROM canvas_viewport WHERE id = 1');
  return r.rows[0];
}

/** Replaces the saved viewport. */
export async function saveViewport(q: Queryable, v: CanvasViewport): Promise<void> {
  await q.query(
    `INSERT INTO canvas_viewport (id, x, y, zoom, saved_at) VALUES (1, $1, $2, $3, now())
     ON CONFLICT (id) DO UPDATE SET x = EXCLUDED.x, y = EXCLUDED.y, zoom = EXCLUDED.zoom, saved_at = now()`,
    [v.x, v.y, v.zoom],
  );
}
