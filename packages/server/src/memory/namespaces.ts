import type { Queryable } from '../db/port.js';
import { denied, notFound } from '../errors.js';
import { ancestry, MAX_HIERARCHY_DEPTH } from '../hierarchy/access.js';

/** What one workspace may read and write in memory, derived from the org chart now (C234-C236). */
export interface NamespaceAccess {
  workspaceId: string;
  rootId: string;
  isRoot: boolean;
  /** `workspace:<self>`, `team:<root>`, `org:<root>`. */
  readable: string[];
  /** The same, without `org:<root>` unless the workspace is the root (C235). */
  writable: string[];
}

export const workspaceNamespace = (id: string) => `workspace:${id}`;
export const teamNamespace = (rootId: string) => `team:${rootId}`;
export const orgNamespace = (rootId: string) => `org:${rootId}`;

/**
 * Resolves a workspace's namespaces from its parent chain, walked to the root on every call (so a
 * re-parenting counts from the next request; client-named namespaces are never trusted, C236).
 * Removed ancestors still count in the walk (C235). 404 for an unknown workspace; a chain deeper than
 * the hierarchy cap (corrupt data, a cycle) is refused.
 */
export async function resolveNamespaces(q: Queryable, workspaceId: string): Promise<NamespaceAccess> {
  const chain = await ancestry(q, workspaceId);
  if (chain.length === 0) throw notFound('workspace not found');
  const top = chain[chain.length - 1]!;
  if (top.parent_id !== null && chain.length > MAX_HIERARCHY_DEPTH) throw denied('the workspace hierarchy is too deep to resolve memory namespaces');
  const rootId = top.parent_id === null ? top.id : top.parent_id;
  const isRoot = chain.length === 1 && chain[0]!.parent_id === null;
  const readable = [workspaceNamespace(workspaceId), teamNamespace(rootId), orgNamespace(rootId)];
  return { workspaceId, rootId, isRoot, readable, writable: isRoot ? readable : readable.slice(0, 2) };
}

/** The requested namespaces the workspace may read (all it may read when none is requested, C236). */
export function intersectReadable(access: NamespaceAccess, requested: readonly string[] | undefined): string[] {
  if (!requested || requested.length === 0) return [...access.readable];
  return access.readable.filter((n) => requested.includes(n));
}

export const canWrite = (access: NamespaceAccess, namespace: string): boolean => access.writable.includes(namespace);
