import type { WorkspaceView } from '@molecule/contracts';

export const NODE_W = 230;
export const NODE_H = 96;
const GAP = 24;
const PAD = 20;
const HEADER = 104;
const PER_ROW = 3;

export interface Placed {
  id: string;
  parentId: string | undefined;
  /** Relative to the parent's box (xyflow's sub-flow positions), or to the canvas for roots. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** A workspace with children: drawn as a team box holding them. */
  team: boolean;
}

/**
 * The org chart's layout: roots side by side; a workspace with children is a team box whose header
 * is the workspace itself and whose body holds its children, three to a row, recursively. A child
 * whose parent is not shown (removed, or not yet loaded) is placed as a root. Deterministic: the same
 * workspaces (ordered by creation) always give the same boxes.
 */
export function layoutOrg(workspaces: readonly WorkspaceView[]): Placed[] {
  const ids = new Set(workspaces.map((w) => w.id));
  const sorted = [...workspaces].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  const children = new Map<string | undefined, WorkspaceView[]>();
  for (const w of sorted) {
    const p = w.parent_id !== null && ids.has(w.parent_id) ? w.parent_id : undefined;
    children.set(p, [...(children.get(p) ?? []), w]);
  }
  const out: Placed[] = [];
  const size = new Map<string, { width: number; height: number }>();
  const measure = (w: WorkspaceView, seen: Set<string>): { width: number; height: number } => {
    const kids = seen.has(w.id) ? [] : (children.get(w.id) ?? []);
    if (kids.length === 0) {
      size.set(w.id, { width: NODE_W, height: NODE_H });
      return size.get(w.id)!;
    }
    const next = new Set(seen).add(w.id);
    const boxes = kids.map((k) => measure(k, next));
    let width = 0;
    let height = 0;
    for (let r = 0; r < boxes.length; r += PER_ROW) {
      const row = boxes.slice(r, r + PER_ROW);
      width = Math.max(width, row.reduce((a, b) => a + b.width, 0) + GAP * (row.length - 1));
      height += Math.max(...row.map((b) => b.height)) + (r > 0 ? GAP : 0);
    }
    const box = { width: Math.max(NODE_W, width + 2 * PAD), height: HEADER + height + PAD };
    size.set(w.id, box);
    return box;
  };
  const place = (w: WorkspaceView, parentId: string | undefined, x: number, y: number, seen: Set<string>) => {
    const box = size.get(w.id)!;
    const kids = seen.has(w.id) ? [] : (children.get(w.id) ?? []);
    out.push({ id: w.id, parentId, x, y, width: box.width, height: box.height, team: kids.length > 0 });
    const next = new Set(seen).add(w.id);
    let cy = HEADER;
    for (let r = 0; r < kids.length; r += PER_ROW) {
      const row = kids.slice(r, r + PER_ROW);
      let cx = PAD;
      for (const k of row) {
        place(k, w.id, cx, cy, next);
        cx += size.get(k.id)!.width + GAP;
      }
      cy += Math.max(...row.map((k) => size.get(k.id)!.height)) + GAP;
    }
  };
  let x = 0;
  for (const root of children.get(undefined) ?? []) {
    const box = measure(root, new Set());
    place(root, undefined, x, 0, new Set());
    x += box.width + 2 * GAP;
  }
  return out;
}
