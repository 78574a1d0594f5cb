import { Status, type WorkspaceStatus } from '@molecule/contracts';
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

export interface RootedRow {
  id: string;
  name: string;
  root_id: string;
}

/**
 * Every workspace that is not removed, with the top of its reporting line (walked through removed
 * ancestors too), in one statement; the root of each group first, then by creation. A chain deeper
 * than `maxDepth` (corrupt data) leaves its workspace out.
 */
export async function loadRooted(q: Queryable, maxDepth: number): Promise<RootedRow[]> {
  const r = await q.query<RootedRow>(
    `WITH RECURSIVE up AS (
       SELECT id AS start, id AS cur, parent_id, 0 AS depth FROM workspaces WHERE status <> $2
       UNION ALL
       SELECT up.start, w.id, w.parent_id, up.depth + 1
         FROM up JOIN workspaces w ON w.id = up.parent_id
        WHERE up.depth < $1
     )
     SELECT s.id, s.name, up.cur AS root_id
       FROM up JOIN workspaces s ON s.id = up.start
      WHERE up.parent_id IS NULL
      ORDER BY up.cur, (s.id = up.cur) DESC, s.created_at, s.id`,
    [maxDepth, Status.Removed],
  );
  return r.rows;
}
