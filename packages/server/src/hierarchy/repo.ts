import type { WorkspaceStatus } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';

export interface AncestryRow {
  id: string;
  parent_id: string | null;
  name: string;
  status: WorkspaceStatus;
  /** 0 for the workspace itself, 1 for its parent... */
  depth: number;
}

/** `[self, parent, grandparent, ...]` for one workspace, at most `maxDepth + 1` rows. Empty for an unknown id. */
export async function loadAncestry(q: Queryable, id: string, maxDepth: number): Promise<AncestryRow[]> {
  const r = await q.query<AncestryRow>(
    `WITH RECURSIVE chain AS (
       SELECT id, parent_id, name, status, 0 AS depth FROM workspaces WHERE id = $1
       UNION ALL
       SELECT w.id, w.parent_id, w.name, w.status, c.depth + 1
         FROM workspaces w JOIN chain c ON w.id = c.parent_id
        WHERE c.depth < $2
     )
     SELECT id, parent_id, name, status, depth FROM chain ORDER BY depth`,
    [id, maxDepth],
  );
  return r.rows;
}
