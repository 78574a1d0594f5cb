import { createStore } from 'zustand/vanilla';
import { Status, type PlatformEvent, type WorkspaceStatus, type WorkspaceView } from '@molecule/contracts';
import { addTraffic, trafficOf, type Traffic } from './traffic.js';

/** What the page shows: still loading, the login prompt, the unreachable screen, or the canvas. */
export type Screen = 'loading' | 'login' | 'unreachable' | 'ready';
/** The live connection (/ws), shown as the toolbar's pill. */
export type Connection = 'connecting' | 'live' | 'reconnecting';

export interface CanvasState {
  screen: Screen;
  /** Why the page is on the login or unreachable screen. */
  message: string;
  connection: Connection;
  workspaces: Record<string, WorkspaceView>;
  /** The last persisted event seen (replay starts after it). */
  lastSeq: number;
  /** The workspace whose panel is open. */
  selected: string | undefined;
  /** The workspaces picked for a batch action (Ctrl/Cmd/Shift+click, or Space on a node). */
  picked: string[];
  /** Who talked to whom lately (the chart's live A2A lines) and whether they are drawn. */
  traffic: Traffic;
  showTraffic: boolean;
  /** Org imports being followed on the chart (started here or anywhere else: `ORG_IMPORT_STARTED`). */
  imports: OrgImport[];
}

/** An org import whose workspaces the toolbar follows until each is online or failed. */
export interface OrgImport {
  id: string;
  org: string;
  ids: string[];
  /** Started on this page: the chart moves to show the new workspaces once they are all drawn. */
  frame?: boolean;
}

/** Follows an import (once, however often it is announced). */
export function followImport(store: CanvasStore, imp: OrgImport): void {
  const { imports } = store.getState();
  if (!imports.some((i) => i.id === imp.id)) store.setState({ imports: [...imports, imp] });
}

/** Stops showing an import's progress. */
export function dismissImport(store: CanvasStore, id: string): void {
  store.setState({ imports: store.getState().imports.filter((i) => i.id !== id) });
}

/** Status events and the status they mean. */
const STATUS_OF: Partial<Record<PlatformEvent['type'], WorkspaceStatus>> = {
  WORKSPACE_PROVISIONING: Status.Provisioning,
  WORKSPACE_PROVISION_FAILED: Status.Failed,
  WORKSPACE_AWAITING_AGENT: Status.AwaitingAgent,
  WORKSPACE_ONLINE: Status.Online,
  WORKSPACE_OFFLINE: Status.Offline,
  WORKSPACE_DEGRADED: Status.Degraded,
  WORKSPACE_PAUSED: Status.Paused,
  WORKSPACE_HIBERNATED: Status.Hibernated,
};

/** Events after which the canvas reads the workspace again (its row changed in ways events do not carry). */
const REFETCH = new Set<PlatformEvent['type']>(['WORKSPACE_CREATED', 'WORKSPACE_UPDATED', 'AGENT_CARD_UPDATED', ...(Object.keys(STATUS_OF) as PlatformEvent['type'][])]);

export function createCanvasStore() {
  return createStore<CanvasState>(() => ({
    screen: 'loading',
    message: '',
    connection: 'connecting',
    workspaces: {},
    lastSeq: 0,
    selected: undefined,
    picked: [],
    traffic: {},
    showTraffic: true,
    imports: [],
  }));
}
export type CanvasStore = ReturnType<typeof createCanvasStore>;

/** Replaces every workspace (the first load, or a reload after a long disconnect). Removed ones are not shown. */
export function setWorkspaces(store: CanvasStore, rows: readonly WorkspaceView[]): void {
  store.setState({ workspaces: Object.fromEntries(rows.filter((w) => w.status !== Status.Removed).map((w) => [w.id, w])) });
}

/** One workspace as the API returned it (after a refetch); a removed one leaves the chart. */
export function putWorkspace(store: CanvasStore, w: WorkspaceView): void {
  store.setState((s) => {
    const next = { ...s.workspaces };
    if (w.status === Status.Removed) delete next[w.id];
    else next[w.id] = w;
    return { workspaces: next };
  });
}

/**
 * Applies one live event to the store at once (status, current task, active tasks, removal) and
 * says whether the workspace should be read again for the rest of its row. Events already seen
 * (a persisted seq at or below the last one) change nothing.
 */
export function applyEvent(store: CanvasStore, e: PlatformEvent): { refetch?: string } {
  const s = store.getState();
  if (e.seq !== null && e.seq !== undefined) {
    if (e.seq <= s.lastSeq) return {};
    store.setState({ lastSeq: e.seq });
  }
  if (e.type === 'ORG_IMPORT_STARTED') {
    const { import_id: importId, org, workspace_ids: ids } = e.payload;
    if (typeof importId === 'string' && typeof org === 'string' && Array.isArray(ids)) followImport(store, { id: importId, org, ids: ids.filter((x): x is string => typeof x === 'string') });
    return {};
  }
  const id = e.workspace_id;
  if (!id) return {};
  const talk = trafficOf(e);
  if (talk) store.setState({ traffic: addTraffic(store.getState().traffic, talk.source, talk.target, Date.now()) });
  if (e.type === 'WORKSPACE_REMOVED') {
    const next = { ...store.getState().workspaces };
    delete next[id];
    const now = store.getState();
    store.setState({ workspaces: next, picked: now.picked.filter((p) => p !== id), ...(now.selected === id ? { selected: undefined } : {}) });
    return {};
  }
  const current = store.getState().workspaces[id];
  const status = STATUS_OF[e.type];
  if (current) {
    const patch: Partial<WorkspaceView> = {};
    if (status) patch.status = status;
    if (e.type === 'TASK_UPDATED' || e.type === 'WORKSPACE_HEARTBEAT') {
      if (typeof e.payload.active_tasks === 'number') patch.active_tasks = e.payload.active_tasks;
      if (typeof e.payload.current_task === 'string') patch.current_task = e.payload.current_task;
    }
    if (e.type === 'WORKSPACE_DEGRADED' && typeof e.payload.sample_error === 'string') patch.last_sample_error = e.payload.sample_error;
    if (Object.keys(patch).length > 0) store.setState({ workspaces: { ...store.getState().workspaces, [id]: { ...current, ...patch } } });
  }
  return REFETCH.has(e.type) || (!current && status) ? { refetch: id } : {};
}

/** How many workspaces are in each status (the toolbar's counts). */
export function countByStatus(workspaces: Record<string, WorkspaceView>): Partial<Record<WorkspaceStatus, number>> {
  const out: Partial<Record<WorkspaceStatus, number>> = {};
  for (const w of Object.values(workspaces)) out[w.status] = (out[w.status] ?? 0) + 1;
  return out;
}

/** Adds a workspace to the batch selection, or takes it out. */
export function togglePicked(store: CanvasStore, id: string): void {
  const { picked } = store.getState();
  store.setState({ picked: picked.includes(id) ? picked.filter((p) => p !== id) : [...picked, id] });
}
