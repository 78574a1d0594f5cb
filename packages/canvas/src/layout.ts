import type { WorkspaceView } from '@molecule/contracts';

export const NODE_W = 230;
export const NODE_H = 96;
const GAP = 24;
/** A team box's inner margin, and the height of its header (the team's own card): members sit below it. */
export const PAD = 20;
export const HEADER = 104;
const PER_ROW = 3;
/** The width:height the top level aims for when it wraps into rows. */
const SCREEN_ASPECT = 1.6;

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
 * The org chart's layout: roots side by side, in rows; a workspace with children is a team box whose header
 * is the workspace itself and whose body holds its children, three to a row, recursively. A
 * workspace a user placed (x and y set, relative to its parent's box) stays where it was put, and
 * its team box grows to hold it. A child whose parent is not shown (removed, or not yet loaded) is
 * placed as a root. Deterministic: the same workspaces (ordered by creation) give the same boxes.
 */
export function layoutOrg(workspaces: readonly WorkspaceView[]): Placed[] {
  const ids = new Set(workspaces.map((w) => w.id));
  const sorted = [...workspaces].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  const children = new Map<string | undefined, WorkspaceView[]>();
  for (const w of sorted) {
    const p = w.parent_id !== null && ids.has(w.parent_id) ? w.parent_id : undefined;
    const list = children.get(p);
    if (list) list.push(w);
    else children.set(p, [w]);
  }
  const out: Placed[] = [];
  const size = new Map<string, { width: number; height: number }>();
  const placed = (w: WorkspaceView) => w.x !== null && w.y !== null;
  /** Where each member of `w` goes inside its box: where a user put it, else the next grid cell. */
  const spots = new Map<string, { x: number; y: number }>();
  const measure = (w: WorkspaceView, seen: Set<string>): { width: number; height: number } => {
    const kids = seen.has(w.id) ? [] : (children.get(w.id) ?? []);
    if (kids.length === 0) {
      size.set(w.id, { width: NODE_W, height: NODE_H });
      return size.get(w.id)!;
    }
    const next = new Set(seen).add(w.id);
    const boxes = new Map(kids.map((k) => [k.id, measure(k, next)]));
    let right = 0;
    let bottom = HEADER;
    const grid = kids.filter((k) => !placed(k));
    let cy = HEADER;
    for (let r = 0; r < grid.length; r += PER_ROW) {
      const row = grid.slice(r, r + PER_ROW);
      let cx = PAD;
      for (const k of row) {
        spots.set(k.id, { x: cx, y: cy });
        cx += boxes.get(k.id)!.width + GAP;
      }
      right = Math.max(right, cx - GAP);
      cy += Math.max(...row.map((k) => boxes.get(k.id)!.height)) + GAP;
      bottom = Math.max(bottom, cy - GAP);
    }
    for (const k of kids.filter(placed)) {
      // A member is kept clear of the header and inside the box's left and top margins.
      const spot = { x: Math.max(PAD, k.x!), y: Math.max(HEADER, k.y!) };
      spots.set(k.id, spot);
      right = Math.max(right, spot.x + boxes.get(k.id)!.width);
      bottom = Math.max(bottom, spot.y + boxes.get(k.id)!.height);
    }
    const box = { width: Math.max(NODE_W, right + PAD), height: bottom + PAD };
    size.set(w.id, box);
    return box;
  };
  const place = (w: WorkspaceView, parentId: string | undefined, x: number, y: number, seen: Set<string>) => {
    const box = size.get(w.id)!;
    const kids = seen.has(w.id) ? [] : (children.get(w.id) ?? []);
    out.push({ id: w.id, parentId, x, y, width: box.width, height: box.height, team: kids.length > 0 });
    const next = new Set(seen).add(w.id);
    for (const k of kids) {
      const spot = spots.get(k.id)!;
      place(k, w.id, spot.x, spot.y, next);
    }
  };
  // Roots a user did not place go in rows, wrapped so the whole org is about as wide as a screen
  // is for its height (a row of 50 teams would be a thin strip no zoom can show).
  const roots = children.get(undefined) ?? [];
  const boxes = roots.map((r) => measure(r, new Set()));
  const area = boxes.reduce((a, b) => a + (b.width + 2 * GAP) * (b.height + 2 * GAP), 0);
  const rowMax = Math.max(...boxes.map((b) => b.width), Math.sqrt(area * SCREEN_ASPECT));
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  roots.forEach((root, i) => {
    const box = boxes[i]!;
    if (placed(root)) {
      place(root, undefined, root.x!, root.y!, new Set());
      return;
    }
    if (x > 0 && x + box.width > rowMax) {
      x = 0;
      y += rowHeight + 2 * GAP;
      rowHeight = 0;
    }
    place(root, undefined, x, y, new Set());
    x += box.width + 2 * GAP;
    rowHeight = Math.max(rowHeight, box.height);
  });
  return out;
}
