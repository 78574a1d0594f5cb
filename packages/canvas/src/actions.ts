import { Status, type WorkspaceView } from '@molecule/contracts';
import { ApiError, type Api } from './api.js';
import { descendantsOf } from './tree.js';

/** A lifecycle action the canvas offers on a workspace. */
export type LifecycleAction = 'restart' | 'pause' | 'resume' | 'hibernate';

export const ACTION_LABEL: Record<LifecycleAction, string> = { restart: 'Restart', pause: 'Pause', resume: 'Resume', hibernate: 'Hibernate' };

/** The lifecycle actions a workspace in its status accepts (the same list in the panel, the menu and the shortcuts). */
export function actionsFor(w: WorkspaceView): LifecycleAction[] {
  if (w.status === Status.Paused || w.status === Status.Hibernated) return ['resume'];
  const out: LifecycleAction[] = ['restart', 'pause'];
  if ((w.status === Status.Online || w.status === Status.Degraded) && w.runtime !== 'external') out.push('hibernate');
  return out;
}

/** An error in words a user can act on. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** The outcome of an action on several workspaces: which failed and why. */
export interface BatchResult {
  ok: string[];
  failed: { id: string; error: string }[];
}

/**
 * Runs `one` on each workspace (all at once) and reports which failed: a partial failure keeps
 * going, so the caller can keep the failed ones selected and say why.
 */
export async function runBatch(ids: readonly string[], one: (id: string) => Promise<unknown>): Promise<BatchResult> {
  const settled = await Promise.allSettled(ids.map((id) => one(id)));
  const out: BatchResult = { ok: [], failed: [] };
  settled.forEach((s, i) => (s.status === 'fulfilled' ? out.ok.push(ids[i]!) : out.failed.push({ id: ids[i]!, error: errorText(s.reason) })));
  return out;
}

/**
 * Deletes workspaces, parents before children: a workspace whose ancestor is also being deleted
 * goes with that ancestor (its own delete would be a 410 race), so only the topmost are sent.
 */
export function topmost(workspaces: Record<string, WorkspaceView>, ids: readonly string[]): string[] {
  const chosen = new Set(ids);
  return ids.filter((id) => {
    const seen = new Set<string>();
    for (let p = workspaces[id]?.parent_id; p && !seen.has(p); p = workspaces[p]?.parent_id) {
      if (chosen.has(p)) return false;
      seen.add(p);
    }
    return true;
  });
}

/** Used by a delete: whether any of these workspaces has live children (the API wants `confirm` then). */
export async function removeWorkspace(api: Api, workspaces: Record<string, WorkspaceView>, id: string): Promise<unknown> {
  const hasChildren = Object.values(workspaces).some((w) => w.parent_id === id);
  return api.remove(id, hasChildren);
}

/** Why a workspace may not move under `parentId` (itself, or one of its own members: a cycle), or undefined when it may. */
export function moveRefusal(workspaces: Record<string, WorkspaceView>, id: string, parentId: string | null): string | undefined {
  const w = workspaces[id];
  if (!w || !parentId) return undefined;
  if (parentId === id) return `${w.name} cannot report to itself.`;
  if (descendantsOf(workspaces, id).some((d) => d.id === parentId)) {
    return `${w.name} cannot report to ${workspaces[parentId]?.name ?? 'that workspace'}: it is one of its own members.`;
  }
  return undefined;
}
