import type { WorkspaceView } from '@molecule/contracts';

/** Every descendant of `id` among the shown workspaces, depth first (what a delete takes with it). */
export function descendantsOf(workspaces: Record<string, WorkspaceView>, id: string): WorkspaceView[] {
  const out: WorkspaceView[] = [];
  const walk = (parent: string, seen: Set<string>) => {
    for (const w of Object.values(workspaces)) {
      if (w.parent_id !== parent || seen.has(w.id)) continue;
      seen.add(w.id);
      out.push(w);
      walk(w.id, seen);
    }
  };
  walk(id, new Set([id]));
  return out;
}
