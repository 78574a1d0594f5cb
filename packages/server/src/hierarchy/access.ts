import { Status } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import { loadAncestry, loadRooted, type RootedRow } from './repo.js';

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

/** Loads `[self, parent, ...]` for one workspace, capped one past the depth limit: the one walk of the parent chain. */
export async function loadChain(q: Queryable, id: string): Promise<ChainNode[]> {
  return (await loadAncestry(q, id, MAX_HIERARCHY_DEPTH)).map(({ id, parent_id, status }) => ({ id, parent_id, removed: status === Status.Removed }));
}

/** `[self, parent, ..., root]` (ids, names, statuses), at most MAX_HIERARCHY_DEPTH up. */
export async function ancestry(q: Queryable, id: string): Promise<{ id: string; parent_id: string | null; name: string; status: string }[]> {
  return loadAncestry(q, id, MAX_HIERARCHY_DEPTH);
}

/** The nearest paused ancestor of a workspace (not itself), if any: a paused subtree is meant to stay down. */
export async function pausedAncestor(q: Queryable, id: string): Promise<{ id: string; name: string } | undefined> {
  const up = (await loadAncestry(q, id, MAX_HIERARCHY_DEPTH)).find((n) => n.depth > 0 && n.status === Status.Paused);
  return up && { id: up.id, name: up.name };
}

/** The single "may A talk to B" check every caller uses (A2A, discovery, event filtering...). */
export async function canCommunicate(q: Queryable, callerId: string, targetId: string): Promise<AccessDecision> {
  const [caller, target] = await Promise.all([loadChain(q, callerId), loadChain(q, targetId)]);
  return decideAccess(caller, target);
}

/** Every live workspace with the root of its org, roots first within each org (exports walk orgs this way). */
export function workspacesWithRoots(q: Queryable): Promise<RootedRow[]> {
  return loadRooted(q, MAX_HIERARCHY_DEPTH);
}
