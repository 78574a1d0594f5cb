import { memo, useMemo } from 'react';
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, type Node, type NodeProps } from '@xyflow/react';
import type { WorkspaceView } from '@molecule/contracts';
import { layoutOrg } from './layout.js';
import { STATUS_LOOK, statusLine } from './status.js';

type WorkspaceNodeData = { w: WorkspaceView; team: boolean; now: number };
type WorkspaceNode = Node<WorkspaceNodeData, 'workspace'>;

/** One workspace: name, status in words and colour, runtime and tier, its current work. */
const WorkspaceCard = memo(function WorkspaceCard({ data }: NodeProps<WorkspaceNode>) {
  const { w, team, now } = data;
  const look = STATUS_LOOK[w.status];
  const line = statusLine(w, now);
  return (
    <div
      className={team ? 'ws ws-team' : 'ws'}
      style={{ borderColor: look.colour }}
      role="group"
      aria-label={`${w.name}: ${line}`}
      data-status={w.status}
      data-testid={`workspace-${w.id}`}
    >
      <div className="ws-head">
        <span className="ws-name">{w.name}</span>
        {w.role ? <span className="ws-role">{w.role}</span> : null}
      </div>
      <div className="ws-status" style={{ color: look.colour }}>
        <span className="dot" style={{ background: look.colour }} aria-hidden="true" />
        {line}
      </div>
      <div className="ws-meta">
        {w.runtime} · tier {w.tier}
        {w.active_tasks > 0 ? ` · ${w.active_tasks} active` : ''}
      </div>
      {w.current_task ? <div className="ws-task" title={w.current_task}>{w.current_task}</div> : null}
    </div>
  );
});

const nodeTypes = { workspace: WorkspaceCard };

/** The org chart: every workspace, teams as boxes holding their members; zoom, pan, fit, minimap. */
export function OrgChart({ workspaces, now, selected, onSelect }: { workspaces: WorkspaceView[]; now: number; selected: string | undefined; onSelect: (id: string) => void }) {
  const nodes = useMemo<WorkspaceNode[]>(() => {
    const byId = new Map(workspaces.map((w) => [w.id, w]));
    return layoutOrg(workspaces).map((p) => ({
      id: p.id,
      type: 'workspace',
      position: { x: p.x, y: p.y },
      ...(p.parentId ? { parentId: p.parentId, extent: 'parent' as const } : {}),
      width: p.width,
      height: p.height,
      data: { w: byId.get(p.id)!, team: p.team, now },
      draggable: false,
      selected: p.id === selected,
      ariaLabel: `${byId.get(p.id)!.name}: ${statusLine(byId.get(p.id)!, now)}. Press Enter for details.`,
    }));
  }, [workspaces, now, selected]);
  // Enter or Space on a focused node opens its panel (a click does too).
  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key !== 'Enter' && e.key !== ' ') return;
    const id = (document.activeElement as HTMLElement | null)?.closest('.react-flow__node')?.getAttribute('data-id');
    if (id) {
      e.preventDefault();
      onSelect(id);
    }
  };
  return (
    <ReactFlowProvider>
      <div className="chart" aria-label="Org chart" onKeyDown={onKeyDown}>
        <ReactFlow nodes={nodes} edges={[]} nodeTypes={nodeTypes} onNodeClick={(_e, n) => onSelect(n.id)} elementsSelectable={false} fitView fitViewOptions={{ maxZoom: 1 }} minZoom={0.1} proOptions={{ hideAttribution: true }}>
          <Background />
          <Controls fitViewOptions={{ maxZoom: 1 }} />
          <MiniMap pannable zoomable ariaLabel="Minimap" nodeColor={(n) => STATUS_LOOK[(n.data as WorkspaceNodeData).w.status].colour} />
        </ReactFlow>
      </div>
    </ReactFlowProvider>
  );
}
