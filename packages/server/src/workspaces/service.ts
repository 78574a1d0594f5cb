import { connectSnippets } from './connect.js';
import {
  DEFAULT_MAX_CONCURRENT_TASKS,
  DEFAULT_RUNTIME,
  DEFAULT_TIER,
  EXTERNAL_RUNTIME,
  Status,
  type CreateWorkspaceBody,
  type ExternalConnection,
  type PlatformEvent,
  type Runtime,
  type UpdateWorkspaceBody,
} from '@molecule/contracts';
import { mintWorkspaceToken, revokeAllWorkspaceTokens } from '../auth/credentials.js';
import { loadChain } from '../hierarchy/access.js';
import { DomainError, conflict, invalid, notFound } from '../errors.js';
import { removedError } from './errors.js';
import { provisionWorkspaceAuto, stopWorkspace, type ProvisioningDeps } from '../provisioning/pipeline.js';
import { keepModelChoice } from '../secrets/service.js';
import { runtimeSupport } from '../provisioning/runtimes.js';
import { templateExists } from '../provisioning/templates.js';
import type { AppDeps } from '../deps.js';
import {
  getWorkspace,
  insertWorkspace,
  liveChildren,
  loadSubtree,
  markRemoved,
  purgeWorkspaces,
  setModel,
  updateFields,
  type WorkspaceRow,
} from './repo.js';
import { purgeWorkspaceMemory } from '../memory/purge.js';

/** What workspace CRUD and the lifecycle touch: provisioning, the delete bound (C155) and the restart coalescer (C148). */
export type WorkspaceDeps = ProvisioningDeps & Pick<AppDeps, 'deleteCleanupTimeoutMs' | 'restarts' | 'templateManifests' | 'memory'>;

export const DELETE_CLEANUP_TIMEOUT_MS = 30_000;

async function requireLiveParent(deps: WorkspaceDeps, parentId: string): Promise<WorkspaceRow> {
  const parent = await getWorkspace(deps.db, parentId);
  if (!parent) throw notFound('parent workspace not found');
  if (parent.status === Status.Removed) throw conflict('parent workspace is removed');
  return parent;
}

/** How an agent run elsewhere connects as workspace `id`: the fields and the snippets stamped with `token` (C268). */
export function externalConnection(id: string, platformUrl: string, token: string): ExternalConnection {
  const base = platformUrl.replace(/\/+$/, '');
  return {
    workspace_id: id,
    platform_url: base,
    auth_token: token,
    registry_endpoint: `${base}/registry/register`,
    heartbeat_endpoint: `${base}/registry/heartbeat`,
    ...connectSnippets({ workspace_id: id, platform_url: base, auth_token: token }),
  };
}

export interface CreateResult {
  row: WorkspaceRow;
  connection?: ExternalConnection;
}

/**
 * Creates a workspace. Everything is validated before any write (C132). External workspaces start
 * `awaiting_agent` with a freshly minted token (C019) and default to poll delivery (C274); every
 * other runtime goes through `provisionWorkspaceAuto` (C110).
 */
export async function createWorkspace(
  deps: WorkspaceDeps,
  body: CreateWorkspaceBody,
  platformUrl: string,
): Promise<CreateResult> {
  if (body.parent_id) await requireLiveParent(deps, body.parent_id);
  const [created] = await createWorkspaceTree(deps, [{ body, parent: body.parent_id ? { id: body.parent_id } : null }]);
  const { row, token } = created!;
  if (token !== undefined) return { row, connection: externalConnection(row.id, platformUrl, token) };
  return { row: (await getWorkspace(deps.db, row.id)) ?? row };
}

/** One workspace of a tree to create: its parent is an existing workspace (`{id}`), an earlier node (`{index}`), or none. */
export interface NewWorkspace {
  body: Omit<CreateWorkspaceBody, 'parent_id'>;
  parent: { id: string } | { index: number } | null;
}

/**
 * Creates workspaces, parents before children (a node's `parent.index` must point to an earlier
 * node), all rows and their events in one transaction: the tree appears whole or not at all. Then
 * each chosen model is kept (C126) and every non-external workspace goes through
 * `provisionWorkspaceAuto` (C110), whose provision slots bound how many start at once (C123, C200).
 * External workspaces start `awaiting_agent` with a freshly minted token (C019) and default to poll
 * delivery (C274). Templates are checked before any write (C132); existing parents are the caller's
 * to check.
 */
export async function createWorkspaceTree(deps: WorkspaceDeps, nodes: readonly NewWorkspace[]): Promise<{ row: WorkspaceRow; token?: string }[]> {
  const catalog = await deps.templateManifests.catalog(deps.templatesDir);
  // A runtime this backend cannot run is refused before any row is written, naming what would run it (issue #16).
  // The runtime: the request's, else its template's (config.yaml `runtime:`), else molecule.
  const runtimeOf = (body: NewWorkspace['body']): string => body.runtime ?? (body.template ? catalog.byName.get(body.template)?.runtime : undefined) ?? DEFAULT_RUNTIME;
  for (const runtime of new Set(nodes.map((n) => runtimeOf(n.body)))) {
    const support = runtimeSupport(deps.config.provisioner, runtime, deps.config.runtimeImages);
    if (!support) throw invalid(`unknown runtime "${runtime}"`);
    if (!support.runnable && deps.config.provisioner !== 'none') throw invalid(support.reason!);
  }
  for (const t of new Set(nodes.map((n) => n.body.template).filter((t): t is string => !!t))) {
    if (!(await templateExists(deps.templatesDir, t))) throw invalid(`unknown template "${t}"`);
  }
  const events: PlatformEvent[] = [];
  const created = await deps.db.tx(async (q) => {
    const out: { row: WorkspaceRow; token?: string }[] = [];
    for (const [i, { body, parent }] of nodes.entries()) {
      let parentId: string | null = null;
      if (parent && 'index' in parent) {
        if (parent.index >= i) throw new Error(`workspace tree node ${i} names a later parent`);
        parentId = out[parent.index]!.row.id;
      } else if (parent) parentId = parent.id;
      const runtime = runtimeOf(body) as Runtime;
      const external = runtime === EXTERNAL_RUNTIME;
      // Task slots: the request's, else the template's, else 1. The agent is started with the row's value.
      const templateSlots = body.template ? catalog.byName.get(body.template)?.maxConcurrentTasks : undefined;
      const row = await insertWorkspace(q, {
        name: body.name,
        role: body.role ?? null,
        parent_id: parentId,
        runtime,
        template: body.template ?? null,
        model: body.model ?? null,
        tier: body.tier ?? DEFAULT_TIER,
        status: external ? Status.AwaitingAgent : Status.Provisioning,
        delivery_mode: body.delivery_mode ?? (external ? 'poll' : 'push'),
        budget_limit: body.budget_limit ?? null,
        max_concurrent_tasks: body.max_concurrent_tasks || templateSlots || DEFAULT_MAX_CONCURRENT_TASKS,
        hibernation_idle_minutes: body.hibernation_idle_minutes ?? null,
      });
      const summary = { name: row.name, tier: row.tier, runtime: row.runtime, parent_id: row.parent_id };
      events.push(await deps.broadcaster.record(q, 'WORKSPACE_CREATED', row.id, summary));
      if (external) {
        events.push(await deps.broadcaster.record(q, 'WORKSPACE_AWAITING_AGENT', row.id, { name: row.name, external: true }));
        out.push({ row, token: (await mintWorkspaceToken(q, row.id)).token });
      } else {
        events.push(await deps.broadcaster.record(q, 'WORKSPACE_PROVISIONING', row.id, summary));
        out.push({ row });
      }
    }
    return out;
  });
  await deps.broadcaster.publish(events);
  for (const { row } of created) {
    // The chosen model outlives the create request: kept as secrets, so restarts keep it (C126).
    if (row.model) await keepModelChoice(deps, row.id, row.model);
  }
  for (const { row } of created) await provisionWorkspaceAuto(deps, row);
  return created;
}

/**
 * Updates name, role, parent, idle hibernation and canvas position. A new parent must exist (404), be live (409), and must not be the
 * workspace itself or one of its descendants (400: that would make a cycle).
 */
export async function updateWorkspace(deps: WorkspaceDeps, id: string, body: UpdateWorkspaceBody): Promise<WorkspaceRow> {
  const current = await getWorkspace(deps.db, id);
  if (!current) throw notFound('workspace not found');
  if (current.status === Status.Removed) throw removedError(current);
  if (body.parent_id) {
    if (body.parent_id === id) throw invalid('a workspace cannot be its own parent');
    await requireLiveParent(deps, body.parent_id);
    const chain = await loadChain(deps.db, body.parent_id);
    if (chain.some((n) => n.id === id)) throw invalid('parent_id would create a cycle: it is a descendant of this workspace');
  }
  // A position is relative to the parent's box: a new parent without one lays the workspace out afresh.
  const moved = body.parent_id !== undefined && body.parent_id !== current.parent_id && body.x === undefined;
  const updated = await updateFields(deps.db, id, moved ? { ...body, x: null, y: null } : body);
  if (!updated) throw notFound('workspace not found');
  await deps.broadcaster.recordAndBroadcast('WORKSPACE_UPDATED', id, { ...body });
  return updated;
}

export type DeleteResult =
  | { ok: true; status: 'removed' | 'purged'; cascade_deleted: number }
  | { ok: false; removed_count: number; stop_failures: number };

/**
 * Deletes a workspace and its whole subtree (C153-C157):
 * 1. every workspace of the subtree is marked removed (its tokens revoked, WORKSPACE_REMOVED
 *    recorded) in one transaction before anything is stopped, so a late register or heartbeat
 *    cannot revive it;
 * 2. each is stopped on its backend, detached from the request and bounded (C155); a failed stop
 *    skips volume removal (C156).
 * The subtree is resolved without a status filter, so a retry after a failed stop re-attempts it
 * (C157). With `purge`, the rows are then hard-deleted.
 */
export async function deleteWorkspace(
  deps: WorkspaceDeps,
  id: string,
  opts: { confirm: boolean; purge: boolean },
): Promise<DeleteResult> {
  const root = await getWorkspace(deps.db, id);
  if (!root) throw notFound('workspace not found');
  if (!opts.confirm && root.status !== Status.Removed) {
    const children = await liveChildren(deps.db, id);
    if (children.length > 0) {
      throw new DomainError('confirmation_required', 'this workspace has children; repeat with ?confirm=true to delete them too', {
        status: 'confirmation_required',
        children,
        children_count: children.length,
      });
    }
  }
  return runDetached(deps, async (signal) => {
    const subtree = await loadSubtree(deps.db, id);
    const ids = subtree.map((w) => w.id);
    const events = await deps.db.tx(async (q) => {
      const changed = new Set(await markRemoved(q, ids));
      await revokeAllWorkspaceTokens(q, ids);
      const recorded: PlatformEvent[] = [];
      for (const w of subtree) {
        if (!changed.has(w.id)) continue;
        const payload = w.id === id ? { cascade_deleted: subtree.length - 1 } : { parent_removed: id };
        recorded.push(await deps.broadcaster.record(q, 'WORKSPACE_REMOVED', w.id, payload));
      }
      return recorded;
    });
    // The removal is the state change: announce it now, not after the (possibly slow) stops.
    await deps.broadcaster.publish(events);
    deps.restarts.forget(ids);
    const outcomes = await Promise.all(subtree.map((w) => stopWorkspace(deps, w, signal)));
    const failures = outcomes.filter((o) => !o.ok).length;
    if (failures > 0) return { ok: false as const, removed_count: subtree.length, stop_failures: failures };
    if (opts.purge) {
      await deps.db.tx((q) => purgeWorkspaces(q, ids));
      await purgeWorkspaceMemory(deps, ids);
      return { ok: true as const, status: 'purged' as const, cascade_deleted: subtree.length - 1 };
    }
    return { ok: true as const, status: 'removed' as const, cascade_deleted: subtree.length - 1 };
  });
}

/**
 * Runs cleanup that must finish even if the client hangs up: nothing here listens to the request,
 * and the signal given to backends fires after `deleteCleanupTimeoutMs`.
 */
function runDetached<T>(deps: WorkspaceDeps, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  return fn(AbortSignal.timeout(deps.deleteCleanupTimeoutMs));
}



/** Sets (or, with "", clears) the model a workspace's agent runs with: the row's `model` and its kept choice (C126). */
export async function setWorkspaceModel(deps: WorkspaceDeps, id: string, model: string): Promise<void> {
  await setModel(deps.db, id, model === '' ? null : model);
  await keepModelChoice(deps, id, model);
  await deps.broadcaster.recordAndBroadcast('WORKSPACE_UPDATED', id, { model: model === '' ? null : model });
}
