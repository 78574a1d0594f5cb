import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  applyNodeChanges,
  Background,
  Controls,
  Handle,
  MarkerType,
  MiniMap,
  Position,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  useStore,
  type Edge,
  type Node,
  type NodeChange,
  type NodeProps,
  type ReactFlowInstance,
  type Viewport,
} from '@xyflow/react';
import { Status, type CanvasViewport, type WorkspaceView } from '@molecule/contracts';
import { HEADER, layoutOrg, PAD } from './layout.js';
import { STATUS_LOOK, statusLine } from './status.js';
import { trafficOpacity, type Traffic } from './traffic.js';
import { descendantsOf } from './tree.js';

type WorkspaceNodeData = { w: WorkspaceView; team: boolean; picked: boolean; open: boolean };
type WorkspaceNode = Node<WorkspaceNodeData, 'workspace'>;
export type ChartInstance = ReactFlowInstance<WorkspaceNode, Edge>;

/** The current time, ticking every second while `active` (a provisioning card's elapsed time). */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

/** One workspace: name, status in words and colour, runtime and tier, its current work. */
const WorkspaceCard = memo(function WorkspaceCard({ data }: NodeProps<WorkspaceNode>) {
  const { w, team, picked, open } = data;
  const now = useNow(w.status === Status.Provisioning);
  // Zoomed far out the text is too small to read: a card is its name and status only (less to paint).
  const far = useStore((s) => s.transform[2] < FAR_ZOOM);
  const look = STATUS_LOOK[w.status];
  const line = statusLine(w, now);
  if (far) {
    return (
      <div className={['ws ws-far', team ? 'ws-team' : '', picked ? 'ws-picked' : '', open ? 'ws-open' : ''].filter(Boolean).join(' ')} style={{ borderColor: look.colour }} data-status={w.status} data-task={w.current_task || undefined} data-picked={picked ? 'true' : undefined} data-testid={`workspace-${w.id}`}>
        <Ends />
        <div className="ws-name">{w.name}</div>
        <div className="ws-status" style={{ color: look.colour }}>
          {look.label}
        </div>
      </div>
    );
  }
  return (
    <div
      className={['ws', team ? 'ws-team' : '', picked ? 'ws-picked' : '', open ? 'ws-open' : ''].filter(Boolean).join(' ')}
      style={{ borderColor: look.colour }}
      data-status={w.status}
      data-task={w.current_task || undefined}
      data-picked={picked ? 'true' : undefined}
      data-testid={`workspace-${w.id}`}
    >
      <Ends />
      <div className="ws-head">
        <span className="ws-name">{w.name}</span>
        {w.role ? <span className="ws-role" title={w.role}>{w.role}</span> : null}
        {picked ? <span className="ws-check">✓ selected</span> : null}
      </div>
      <div className="ws-status" style={{ color: look.colour }}>
        <span className="dot" style={{ background: look.colour }} aria-hidden="true" />
        {line}
      </div>
      <div className="ws-meta">
        {w.runtime} · tier {w.tier}
        {w.active_tasks > 0 ? ` · ${w.active_tasks} active` : ''}
        {w.restart_pending ? <span className="ws-pending"> · restart to apply secrets</span> : null}
      </div>
      {w.current_task ? (
        <div className="ws-task" title={w.current_task}>
          {w.current_task}
        </div>
      ) : null}
    </div>
  );
});

/** Where the conversation lines attach (not for drawing connections by hand: the chart has none). */
function Ends() {
  return (
    <>
      <Handle type="target" position={Position.Top} isConnectable={false} className="ws-end" />
      <Handle type="source" position={Position.Bottom} isConnectable={false} className="ws-end" />
    </>
  );
}

const nodeTypes = { workspace: WorkspaceCard };
/** Below this zoom a card shows only its name and status. */
const FAR_ZOOM = 0.35;

/** Where a dragged workspace was dropped: onto another workspace (its new parent) or onto the open canvas. */
export interface Drop {
  id: string;
  /** The new parent; null: the top level. */
  parentId: string | null;
  /** Its position relative to that parent's box (to the canvas at the top level). */
  x: number;
  y: number;
}

export interface OrgChartProps {
  workspaces: Record<string, WorkspaceView>;
  /** The workspace whose panel is open. */
  open: string | undefined;
  picked: readonly string[];
  traffic: Traffic;
  showTraffic: boolean;
  /** Where the chart opens; undefined: fit everything in view. */
  viewport: CanvasViewport | undefined;
  onOpen: (id: string) => void;
  onPick: (id: string) => void;
  onDrop: (drop: Drop) => Promise<void>;
  onMenu: (id: string, at: { x: number; y: number }) => void;
  /** A key pressed on a focused workspace (shortcuts). */
  onNodeKey: (id: string, e: React.KeyboardEvent) => void;
  onViewport: (v: CanvasViewport) => void;
  onInit: (chart: ChartInstance) => void;
}

/** The org chart: every workspace, teams as boxes holding their members; drag to re-parent; zoom, pan, fit, minimap. */
export function OrgChart(props: OrgChartProps) {
  return (
    <ReactFlowProvider>
      <Chart {...props} />
    </ReactFlowProvider>
  );
}

function Chart({ workspaces, open, picked, traffic, showTraffic, viewport, onOpen, onPick, onDrop, onMenu, onNodeKey, onViewport, onInit }: OrgChartProps) {
  const rf = useReactFlow<WorkspaceNode, Edge>();
  // The layout depends on the org's shape only (who reports to whom, placed positions, order), not
  // on statuses or tasks: a status event does not lay the chart out again.
  const shape = useMemo(() => shapeKey(workspaces), [workspaces]);
  const shapeRef = useRef({ key: '', placed: [] as ReturnType<typeof layoutOrg> });
  if (shapeRef.current.key !== shape) shapeRef.current = { key: shape, placed: layoutOrg(Object.values(workspaces)) };
  const placed = shapeRef.current.placed;
  const pickedSet = useMemo(() => new Set(picked), [picked]);
  // A node whose workspace, place and marks did not change is the same object as before, so its card does not render again.
  const previous = useRef(new Map<string, WorkspaceNode>());
  const derived = useMemo<WorkspaceNode[]>(() => {
    const next = new Map<string, WorkspaceNode>();
    const out = placed.map((p) => {
      const w = workspaces[p.id]!;
      const isPicked = pickedSet.has(p.id);
      const isOpen = p.id === open;
      const before = previous.current.get(p.id);
      const same =
        before &&
        before.data.w === w &&
        before.data.team === p.team &&
        before.data.picked === isPicked &&
        before.data.open === isOpen &&
        before.position.x === p.x &&
        before.position.y === p.y &&
        before.width === p.width &&
        before.height === p.height &&
        before.parentId === p.parentId;
      const n: WorkspaceNode = same
        ? before
        : {
            id: p.id,
            type: 'workspace',
            position: { x: p.x, y: p.y },
            ...(p.parentId ? { parentId: p.parentId } : {}),
            width: p.width,
            height: p.height,
            data: { w, team: p.team, picked: isPicked, open: isOpen },
            ariaLabel: `${w.name}: ${statusLine(w)}${isPicked ? ', selected' : ''}. Enter opens it; Space selects it; Shift+F10 for actions.`,
          };
      next.set(p.id, n);
      return n;
    });
    previous.current = next;
    return out;
  }, [placed, workspaces, pickedSet, open]);
  // The chart shows the store's layout; a drag moves a node here until the drop is saved (or refused).
  const [nodes, setNodes] = useState(derived);
  useEffect(() => setNodes(derived), [derived]);
  const onNodesChange = useCallback((changes: NodeChange<WorkspaceNode>[]) => setNodes((ns) => applyNodeChanges(changes, ns)), []);

  const edges = useMemo<Edge[]>(() => {
    if (!showTraffic) return [];
    const now = Date.now();
    return Object.entries(traffic)
      .filter(([, t]) => workspaces[t.source] && workspaces[t.target])
      .map(([key, t]) => ({
        id: `traffic-${key}`,
        source: t.source,
        target: t.target,
        animated: !reducedMotion(),
        ariaLabel: `${workspaces[t.source]!.name} messaged ${workspaces[t.target]!.name} (${t.count})`,
        label: t.count > 1 ? String(t.count) : undefined,
        style: { stroke: '#2f6fdb', strokeWidth: 2.5, opacity: trafficOpacity(t.at, now) },
        markerEnd: { type: MarkerType.ArrowClosed, color: '#2f6fdb' },
        zIndex: 1000,
      }));
  }, [traffic, showTraffic, workspaces]);

  const onNodeDragStop = useCallback(
    (event: React.MouseEvent | MouseEvent | TouchEvent, node: WorkspaceNode) => {
      const point = 'clientX' in event ? rf.screenToFlowPosition({ x: event.clientX, y: event.clientY }) : undefined;
      const abs = (id: string) => rf.getInternalNode(id)?.internals.positionAbsolute;
      const movedAbs = abs(node.id);
      if (!point || !movedAbs) return;
      const going = new Set([node.id, ...descendantsOf(workspaces, node.id).map((d) => d.id)]);
      // The drop target: the innermost other workspace under the pointer.
      const under = rf
        .getNodes()
        .filter((n) => !going.has(n.id))
        .map((n) => ({ n, at: abs(n.id), width: n.width ?? 0, height: n.height ?? 0 }))
        .filter(({ at, width, height }) => at && point.x >= at.x && point.x <= at.x + width && point.y >= at.y && point.y <= at.y + height)
        .sort((a, b) => a.width * a.height - b.width * b.height)[0];
      const parentId = under?.n.id ?? null;
      const w = workspaces[node.id]!;
      const currentParent = w.parent_id && workspaces[w.parent_id] ? w.parent_id : null;
      let x: number;
      let y: number;
      if (parentId === currentParent) {
        ({ x, y } = node.position);
      } else {
        const base = parentId ? abs(parentId)! : { x: 0, y: 0 };
        x = movedAbs.x - base.x;
        y = movedAbs.y - base.y;
      }
      if (parentId) {
        x = Math.max(PAD, x);
        y = Math.max(HEADER, y);
      }
      void onDrop({ id: node.id, parentId, x: Math.round(x), y: Math.round(y) }).catch(() => setNodes(derived));
    },
    [rf, workspaces, onDrop, derived],
  );

  // Enter on a focused node opens it; Space picks it; Shift+F10 or the menu key opens its actions.
  const onKeyDown = (e: React.KeyboardEvent) => {
    const el = (document.activeElement as HTMLElement | null)?.closest('.react-flow__node');
    const id = el?.getAttribute('data-id');
    if (!id || !workspaces[id]) return;
    if (e.key === 'Enter') {
      e.preventDefault();
      onOpen(id);
    } else if (e.key === ' ') {
      e.preventDefault();
      onPick(id);
    } else if (e.key === 'ContextMenu' || (e.key === 'F10' && e.shiftKey)) {
      e.preventDefault();
      const r = el!.getBoundingClientRect();
      onMenu(id, { x: r.left + 24, y: r.top + 24 });
    } else {
      onNodeKey(id, e);
    }
  };

  // The viewport is saved a moment after the user stops moving around.
  const saveTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const onMoveEnd = useCallback(
    (_e: unknown, v: Viewport) => {
      clearTimeout(saveTimer.current);
      saveTimer.current = setTimeout(() => onViewport({ x: Math.round(v.x), y: Math.round(v.y), zoom: Math.round(v.zoom * 1000) / 1000 }), 400);
    },
    [onViewport],
  );
  useEffect(() => () => clearTimeout(saveTimer.current), []);

  return (
    <div className="chart" aria-label="Org chart" onKeyDown={onKeyDown}>
      <ReactFlow<WorkspaceNode, Edge>
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onNodeClick={(e, n) => (e.ctrlKey || e.metaKey || e.shiftKey ? onPick(n.id) : onOpen(n.id))}
        onNodeContextMenu={(e, n) => {
          e.preventDefault();
          onMenu(n.id, { x: e.clientX, y: e.clientY });
        }}
        onNodeDragStop={onNodeDragStop}
        onMoveEnd={onMoveEnd}
        onInit={onInit}
        nodeDragThreshold={4}
        elementsSelectable={false}
        nodesConnectable={false}
        edgesFocusable={false}
        {...(viewport ? { defaultViewport: viewport } : { fitView: true, fitViewOptions: { maxZoom: 1 } })}
        minZoom={0.1}
        proOptions={{ hideAttribution: true }}
      >
        <Background />
        <Controls fitViewOptions={{ maxZoom: 1 }} />
        <MiniMap pannable zoomable ariaLabel="Minimap" nodeColor={(n) => STATUS_LOOK[(n.data as WorkspaceNodeData).w.status].colour} />
      </ReactFlow>
    </div>
  );
}

/** What the layout depends on: each workspace's id, parent, placed position and creation time. */
export function shapeKey(workspaces: Record<string, WorkspaceView>): string {
  let key = '';
  for (const w of Object.values(workspaces)) key += `${w.id}|${w.parent_id ?? ''}|${w.x ?? ''}|${w.y ?? ''}|${w.created_at};`;
  return key;
}

/** The user asked for less motion: no animated lines, no animated panning. */
export function reducedMotion(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-reduced-motion: reduce)').matches;
}
