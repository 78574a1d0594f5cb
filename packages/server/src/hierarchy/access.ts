import { Status } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';

/** Parent chains longer than this are treated as corrupt and deny access. */
export const MAX_HIERARCHY_DEPTH = 32;

export interface ChainNode {
  id: string;
  parent_id: string | null;
  removed: boolean;
}

export type AccessReason =
  | 'self'
  | 'siblings'
  | 'root_peers'
  | 'parent'
  | 'child'
  | 'ancestor'
  | 'descendant'
  | 'unrelated'
  | 'removed'
  | 'unknown'
  | 'too_deep';

export interface AccessDecision {
  allowed: boolean;
  reason: AccessReason;
}

const allow = (reason: AccessReason): AccessDecision => ({ allowed: true, reason });
const deny = (reason: AccessReason): AccessDecision => ({ allowed: false, reason });

/**
 * "May workspace A talk to workspace B", decided from both parent chains
 * (`[self, parent, grandparent, ...]`, at most MAX_HIERARCHY_DEPTH + 1 long). Rules, in order:
 *
 * 1. a missing or removed workspace on either side: deny (upstream ignores removal; we do not);
 * 2. a chain that hits the depth cap without reaching a root: deny;
 * 3. self: allow;
 * 4. same parent: allow (siblings); two roots are also peers (one org per platform);
 * 5. direct parent or direct child: allow;
 * 6. any ancestor or descendant: allow. Decided explicitly: a manager may reach anyone in the
 *    reporting line below it, and anyone may escalate to any manager above it, as upstream's code
 *    does (its old docs forbade skip-level calls);
 * 7. anything else (cousins, uncles, other subtrees): deny.
 */
export function decideAccess(caller: readonly ChainNode[], target: readonly ChainNode[]): AccessDecision {
  const a = caller[0];
  const b = target[0];
  if (!a || !b) return deny('unknown');
  if (a.removed || b.removed) return deny('removed');
  const truncated = (c: readonly ChainNode[]) => c.length > MAX_HIERARCHY_DEPTH && c[c.length - 1]!.parent_id !== null;
  if (truncated(caller) || truncated(target)) return deny('too_deep');
  if (a.id === b.id) return allow('self');
  if (a.parent_id !== null && a.parent_id === b.parent_id) return allow('siblings');
  if (a.parent_id === null && b.parent_id === null) return allow('root_peers');
  if (a.parent_id === b.id) return allow('parent');
  if (b.parent_id === a.id) return allow('child');
  if (caller.some((n) => n.id === b.id)) return allow('ancestor');
  if (target.some((n) => n.id === a.id)) return allow('descendant');
  return deny('unrelated');
}

/** Loads `[self, parent, ...]` for one workspace, capped one past the depth limit. */
export async function loadChain(q: Queryable, id: string): Promise<ChainNode[]> {
  const r = await q.query<{ id: string; parent_id: string | null; removed: boolean; depth: number }>(
    `WITH RECURSIVE chain AS (
       SELECT id, parent_id, status, 0 AS depth FROM workspaces WHERE id = $1
       UNION ALL
       SELECT w.id, w.parent_id, w.status, c.depth + 1
         FROM workspaces w JOIN chain c ON w.id = c.parent_id
        WHERE c.depth < $2
     )
     SELECT id, parent_id, status = $3 AS removed, depth FROM chain ORDER BY depth`,
    [id, MAX_HIERARCHY_DEPTH, Status.Removed],
  );
  return r.rows.map(({ id, parent_id, removed }) => ({ id, parent_id, removed }));
}

/** The single "may A talk to B" check every caller uses (A2A, discovery, event filtering...). */
export async function canCommunicate(q: Queryable, callerId: string, targetId: string): Promise<AccessDecision> {
  const [caller, target] = await Promise.all([loadChain(q, callerId), loadChain(q, targetId)]);
  return decideAccess(caller, target);
}
