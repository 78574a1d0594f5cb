import { invalid } from '../errors.js';
import { loadChain, MAX_HIERARCHY_DEPTH } from '../hierarchy/access.js';
import { requireLiveWorkspace } from '../workspaces/errors.js';
import { liveChildren } from '../workspaces/read.js';
import { createWorkspaceTree, deleteWorkspace, type WorkspaceDeps } from '../workspaces/service.js';

export interface ExpandResult {
  status: 'expanded';
  /** Created now. */
  children: { id: string; name: string; role: string | null }[];
  /** Members of the team that were there already (a live child of that name): left as they are. */
  existing: { id: string; name: string }[];
}

const liveWorkspace = (deps: WorkspaceDeps, id: string) => requireLiveWorkspace(deps.db, id);

/**
 * Creates the team a workspace's template declares (`sub_workspaces:`) as its children, through the
 * one create-and-provision path (C199: backend chosen per workspace, credentials minted, PARENT_ID
 * set). Idempotent: a member whose name a live child already has is left alone, so a second expand
 * creates only what is missing (upstream duplicates the team). 400 when the workspace has no
 * template or its template declares no team; 410 for a removed workspace.
 */
export async function expandTeam(deps: WorkspaceDeps, id: string): Promise<ExpandResult> {
  const ws = await liveWorkspace(deps, id);
  const manifest = ws.template ? (await deps.templateManifests.catalog(deps.templatesDir)).byName.get(ws.template) : undefined;
  if (!manifest) throw invalid('no config found for workspace');
  if (manifest.team.length === 0) throw invalid('workspace has no sub_workspaces defined in config');
  if ((await loadChain(deps.db, id)).length + 1 > MAX_HIERARCHY_DEPTH) throw invalid(`the team would sit deeper than ${MAX_HIERARCHY_DEPTH} levels`);
  const present = new Map((await liveChildren(deps.db, id)).map((c) => [c.name, c.id]));
  const missing = manifest.team.filter((m) => !present.has(m.name));
  const created = await createWorkspaceTree(
    deps,
    missing.map((m) => ({
      body: { name: m.name, ...(m.role ? { role: m.role } : {}), ...(m.template ? { template: m.template } : {}), ...(m.runtime ? { runtime: m.runtime } : {}), ...(m.model ? { model: m.model } : {}), tier: ws.tier },
      parent: { id },
    })),
  );
  const children = created.map(({ row }) => ({ id: row.id, name: row.name, role: row.role }));
  await deps.broadcaster.recordAndBroadcast('WORKSPACE_EXPANDED', id, { children });
  return {
    status: 'expanded',
    children,
    existing: manifest.team.filter((m) => present.has(m.name)).map((m) => ({ id: present.get(m.name)!, name: m.name })),
  };
}

export type CollapseResult = { ok: true; removed: string[] } | { ok: false; removed: string[]; stop_failures: number };

/**
 * Removes a workspace's children and everything under them through the one delete path: marked
 * removed and their tokens revoked first, then each stopped on whichever backend runs it (C198;
 * upstream stops with Docker only and leaves grandchildren running). Answers the names removed; a
 * stop that fails is counted and a retry is safe.
 */
export async function collapseTeam(deps: WorkspaceDeps, id: string): Promise<CollapseResult> {
  await liveWorkspace(deps, id);
  const children = await liveChildren(deps.db, id);
  let stopFailures = 0;
  for (const c of children) {
    const r = await deleteWorkspace(deps, c.id, { confirm: true, purge: false });
    if (!r.ok) stopFailures += r.stop_failures;
  }
  const removed = children.map((c) => c.name);
  await deps.broadcaster.recordAndBroadcast('WORKSPACE_COLLAPSED', id, { removed_children: removed });
  return stopFailures > 0 ? { ok: false, removed, stop_failures: stopFailures } : { ok: true, removed };
}
