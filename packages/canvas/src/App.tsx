import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { WORKSPACE_STATUSES, type CanvasViewport, type ExternalConnection } from '@molecule/contracts';
import { ACTION_LABEL, actionsFor, errorText, moveRefusal, removeWorkspace, runBatch, topmost, type LifecycleAction } from './actions.js';
import { ApiError, createApi, PlatformUnavailableError } from './api.js';
import { ConfirmDelete } from './ConfirmDelete.js';
import { ConnectDialog, CreateDialog } from './CreateDialog.js';
import { Dialog } from './Dialog.js';
import { createFeed } from './feed.js';
import { connectLive } from './live.js';
import { ContextMenu, type MenuItem } from './Menu.js';
import { OrgChart, reducedMotion, type ChartInstance, type Drop } from './OrgChart.js';
import { Panel } from './Panel.js';
import { SearchDialog } from './Search.js';
import { SecretsEditor } from './Secrets.js';
import { STATUS_LOOK } from './status.js';
import { countByStatus, createCanvasStore, dismissImport, followImport, putWorkspace, setWorkspaces, togglePicked, type CanvasState, type CanvasStore } from './store.js';
import { ImportOrgDialog, ImportProgress, TemplatePalette } from './OrgImport.js';
import { OrgTokens } from './OrgTokens.js';
import type { CanvasCommands } from './tab.js';
import { pruneTraffic } from './traffic.js';

const store = createCanvasStore();
const api = createApi({
  onUnauthorized: () => {
    if (store.getState().screen === 'ready') store.setState({ screen: 'login', message: 'Your session expired or was signed out: open the canvas link again.' });
  },
});
const feed = createFeed();
/** The viewport saved last time; undefined: none saved (the chart fits everything in view). */
let savedViewport: CanvasViewport | undefined;

export function useCanvas<T>(s: CanvasStore, pick: (state: CanvasState) => T): T {
  return useSyncExternalStore(s.subscribe, () => pick(s.getState()));
}

/** Signs in with the token of the login URL (in the fragment, never sent in a URL), then loads. */
async function start(): Promise<void> {
  const m = /(?:^|&)token=([^&]+)/.exec(location.hash.slice(1));
  if (m) {
    history.replaceState(null, '', location.pathname);
    try {
      await api.login(decodeURIComponent(m[1]!));
    } catch (err) {
      if (err instanceof PlatformUnavailableError) throw err;
      store.setState({ screen: 'login', message: 'That login link is not valid (it may be from an earlier start of the platform).' });
      return;
    }
  }
  await load();
}

/** From the unreachable screen: back to the canvas once the platform is healthy again. */
async function recover(): Promise<void> {
  const h = await api.health();
  if (!h.ok) {
    store.setState({ message: h.message });
    return;
  }
  await load();
}

async function load(): Promise<void> {
  try {
    const [rows, viewport] = await Promise.all([api.workspaces(), api.viewport().catch(() => undefined)]);
    savedViewport = viewport && (viewport.x !== 0 || viewport.y !== 0 || viewport.zoom !== 1) ? viewport : undefined;
    setWorkspaces(store, rows);
    store.setState({ screen: 'ready', message: '' });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) store.setState({ screen: 'login', message: 'Not signed in (or the session expired): open the canvas link again.' });
    else store.setState({ screen: 'unreachable', message: errorText(err) });
  }
}


export function App() {
  const screen = useCanvas(store, (s) => s.screen);
  const message = useCanvas(store, (s) => s.message);
  useEffect(() => {
    const run = () => void start().catch((err: unknown) => store.setState({ screen: 'unreachable', message: errorText(err) }));
    run();
    // A login link opened in a tab already on this page changes only the fragment: sign in then too.
    window.addEventListener('hashchange', run);
    return () => window.removeEventListener('hashchange', run);
  }, []);
  useEffect(() => (screen === 'ready' ? connectLive(store, api, { feed, onUnreachable: (m) => store.setState({ screen: 'unreachable', message: m }) }) : undefined), [screen]);
  // The unreachable screen tries again by itself every few seconds (and on the button).
  useEffect(() => {
    if (screen !== 'unreachable') return;
    const t = setInterval(() => void recover(), 5000);
    return () => clearInterval(t);
  }, [screen]);

  if (screen === 'loading') {
    return (
      <main className="centre" aria-busy="true">
        Loading…
      </main>
    );
  }
  if (screen === 'login') {
    return (
      <main className="centre">
        <h1>Molecule</h1>
        <p role="alert">{message}</p>
        <p>
          Open the canvas link the platform printed when it started (<code>npm start</code> shows it). With <code>ADMIN_TOKEN</code> set, open{' '}
          <code>/#token=&lt;ADMIN_TOKEN&gt;</code>.
        </p>
      </main>
    );
  }
  if (screen === 'unreachable') {
    return (
      <main className="centre">
        <h1>The platform is unreachable</h1>
        <p role="alert">{message}</p>
        <p>Check that the platform process is running and that its database is up (the platform's log says what failed).</p>
        <p className="note">This page tries again every few seconds.</p>
        <button type="button" onClick={() => void recover()}>
          Try again
        </button>
      </main>
    );
  }
  return <Canvas />;
}

type DialogState =
  | { kind: 'create'; parentId?: string; template?: string }
  | { kind: 'import-org' }
  | { kind: 'collapse'; id: string }
  | { kind: 'templates' }
  | { kind: 'connect'; name: string; connection: ExternalConnection }
  | { kind: 'search' }
  | { kind: 'delete'; ids: string[] }
  | { kind: 'help' }
  | { kind: 'settings' };

/** The keyboard shortcuts, as the help dialog lists them. */
const SHORTCUTS: [string, string][] = [
  ['Ctrl/⌘ + K', 'Find a workspace'],
  ['N', 'Create a workspace'],
  ['Tab', 'Move between workspaces and controls'],
  ['Enter', 'Open the focused workspace'],
  ['Space', 'Select it for a batch action (Ctrl/⌘/Shift + click too)'],
  ['Shift + F10, menu key', 'Its actions (right-click too)'],
  ['C', 'Chat with it'],
  ['R / P / H', 'Restart / pause or resume / hibernate it'],
  ['Delete', 'Delete it (asks first)'],
  ['Escape', 'Close a dialog, the menu or the panel; clear the selection'],
  ['?', 'This list'],
];

function Canvas() {
  const workspaces = useCanvas(store, (s) => s.workspaces);
  const connection = useCanvas(store, (s) => s.connection);
  const selected = useCanvas(store, (s) => s.selected);
  const picked = useCanvas(store, (s) => s.picked);
  const traffic = useCanvas(store, (s) => s.traffic);
  const showTraffic = useCanvas(store, (s) => s.showTraffic);
  const imports = useCanvas(store, (s) => s.imports);
  const [tab, setTab] = useState('chat');
  const [dialog, setDialog] = useState<DialogState | undefined>();
  const [menu, setMenu] = useState<{ id: string; at: { x: number; y: number } } | undefined>();
  const [notice, setNotice] = useState('');
  // A notice stays long enough to read, then goes (screen readers heard it when it came).
  useEffect(() => {
    if (!notice) return;
    const t = setTimeout(() => setNotice(''), 12_000);
    return () => clearTimeout(t);
  }, [notice]);
  const chart = useRef<ChartInstance | undefined>(undefined);
  const selectedWorkspace = selected ? workspaces[selected] : undefined;
  const counts = useMemo(() => countByStatus(workspaces), [workspaces]);
  const count = Object.keys(workspaces).length;

  // An import started here: once all its workspaces are drawn, the chart moves to show them (once).
  useEffect(() => {
    for (const imp of imports) {
      if (!imp.frame || !imp.ids.every((id) => workspaces[id]) || !chart.current) continue;
      const c = chart.current;
      // Drawn on the next frame: React Flow measures the new nodes first.
      // Two frames: React Flow measures the new nodes, then their team boxes grow to hold them.
      requestAnimationFrame(() => requestAnimationFrame(() => void c.fitView({ nodes: imp.ids.map((id) => ({ id })), padding: 0.25, maxZoom: 1, duration: reducedMotion() ? 0 : 300 })));
      store.setState({ imports: store.getState().imports.map((i) => (i.id === imp.id ? { ...i, frame: false } : i)) });
    }
  }, [imports, workspaces]);

  // Conversation lines fade and go: re-drawn every few seconds while there are any.
  const [, setTick] = useState(0);
  const hasTraffic = Object.keys(traffic).length > 0;
  useEffect(() => {
    if (!hasTraffic) return;
    const t = setInterval(() => {
      store.setState((s) => ({ traffic: pruneTraffic(s.traffic, Date.now()) }));
      setTick((n) => n + 1);
    }, 5000);
    return () => clearInterval(t);
  }, [hasTraffic]);

  const open = useCallback((id: string, withTab?: string) => {
    store.setState({ selected: id });
    if (withTab) setTab(withTab);
  }, []);

  const lifecycle = useCallback(async (id: string, action: LifecycleAction) => {
    const w = store.getState().workspaces[id];
    try {
      await api.lifecycle(id, action);
      setNotice(`${ACTION_LABEL[action]}: ${w?.name ?? id} done.`);
    } catch (err) {
      setNotice(`${ACTION_LABEL[action]} of ${w?.name ?? id} failed: ${errorText(err)}`);
    }
  }, []);

  /** Moves a workspace under another; a move into its own subtree is refused here, with the reason. */
  const move = useCallback(async (id: string, parentId: string | null, at?: { x: number; y: number }) => {
    const all = store.getState().workspaces;
    const w = all[id];
    if (!w) return;
    const refused = moveRefusal(all, id, parentId);
    if (refused) {
      setNotice(refused);
      throw new Error(refused);
    }
    try {
      const updated = await api.update(id, { ...(parentId !== (w.parent_id ?? null) ? { parent_id: parentId } : {}), ...(at ? { x: at.x, y: at.y } : { x: null, y: null }) });
      putWorkspace(store, updated);
      if (parentId !== (w.parent_id ?? null)) setNotice(`${w.name} now reports to ${parentId ? (all[parentId]?.name ?? 'its new lead') : 'nobody (top level)'}.`);
    } catch (err) {
      const msg = `${w.name} was not moved: ${errorText(err)}`;
      setNotice(msg);
      throw new Error(msg);
    }
  }, []);
  const onDrop = useCallback((d: Drop) => move(d.id, d.parentId, { x: d.x, y: d.y }), [move]);

  const commands = useMemo<CanvasCommands>(
    () => ({
      requestDelete: (ids) => setDialog({ kind: 'delete', ids }),
      showConnect: (name, c) => setDialog({ kind: 'connect', name, connection: c }),
      move: (id, parentId) => move(id, parentId),
    }),
    [move],
  );

  /** Centres the chart on a workspace, opens it and puts keyboard focus on it. */
  const goTo = useCallback(
    (id: string) => {
      setDialog(undefined);
      open(id);
      const node = chart.current?.getInternalNode(id);
      if (node && chart.current) {
        const { x, y } = node.internals.positionAbsolute;
        void chart.current.setCenter(x + (node.width ?? 0) / 2, y + Math.min(node.height ?? 0, 96) / 2, { zoom: Math.max(chart.current.getZoom(), 0.8), duration: reducedMotion() ? 0 : 300 });
      }
    },
    [open],
  );

  const runBatchAction = async (label: string, ids: string[], one: (id: string) => Promise<unknown>) => {
    const r = await runBatch(ids, one);
    const names = (xs: string[]) => xs.map((id) => workspaces[id]?.name ?? id).join(', ');
    store.setState({ picked: r.failed.map((f) => f.id) });
    if (r.failed.length === 0) setNotice(`${label}: ${names(r.ok)} done.`);
    else {
      setNotice(
        `${label}: ${r.ok.length} done, ${r.failed.length} failed (still selected): ${r.failed.map((f) => `${workspaces[f.id]?.name ?? f.id}: ${f.error}`).join('; ')}`,
      );
    }
  };

  /** Creates the team a workspace's template declares (its children appear as they are created). */
  const team = async (id: string, action: 'expand' | 'collapse') => {
    const w = workspaces[id];
    try {
      const r = await api.team(id, action);
      if (action === 'collapse') return setNotice(`${w?.name ?? id}: removed ${r.removed?.join(', ') || 'nobody'}.`);
      const made = r.children?.length ?? 0;
      setNotice(made > 0 ? `${w?.name ?? id}: ${made} team member${made === 1 ? '' : 's'} created.` : `${w?.name ?? id} already has its whole team.`);
    } catch (err) {
      setNotice(`${w?.name ?? id}: ${action === 'expand' ? 'no team created' : 'team not removed'}: ${errorText(err)}`);
    }
  };

  /** Downloads a workspace and its subtree as a bundle file. */
  const exportBundle = async (id: string) => {
    const w = workspaces[id];
    try {
      const bundle = await api.exportBundle(id);
      const url = URL.createObjectURL(new Blob([JSON.stringify(bundle, null, 2)], { type: 'application/json' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `${(w?.name ?? 'workspace').replace(/[^A-Za-z0-9._-]+/g, '-')}.molecule-bundle.json`;
      a.click();
      URL.revokeObjectURL(url);
      setNotice(`${w?.name ?? id} exported as a bundle.`);
    } catch (err) {
      setNotice(`Export of ${w?.name ?? id} failed: ${errorText(err)}`);
    }
  };

  const menuItems = (id: string): MenuItem[] => {
    const w = workspaces[id];
    if (!w) return [];
    return [
      { label: 'Open chat', shortcut: 'C', run: () => open(id, 'chat') },
      { label: 'Details', run: () => open(id, 'details') },
      ...actionsFor(w).map((a) => ({ label: ACTION_LABEL[a], shortcut: { restart: 'R', pause: 'P', resume: 'P', hibernate: 'H' }[a], run: () => void lifecycle(id, a) })),
      { label: 'Create a workspace under it', run: () => setDialog({ kind: 'create', parentId: id }) },
      ...(w.template ? [{ label: 'Create its team', run: () => void team(id, 'expand') }] : []),
      ...(Object.values(workspaces).some((c) => c.parent_id === id) ? [{ label: 'Remove its team…', danger: true, run: () => setDialog({ kind: 'collapse', id }) }] : []),
      { label: 'Export as a bundle', run: () => void exportBundle(id) },
      { label: picked.includes(id) ? 'Unselect' : 'Select', shortcut: 'Space', run: () => togglePicked(store, id) },
      { label: 'Delete…', shortcut: 'Del', danger: true, run: () => setDialog({ kind: 'delete', ids: [id] }) },
    ];
  };

  const onNodeKey = (id: string, e: React.KeyboardEvent) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const w = workspaces[id];
    if (!w) return;
    const can = actionsFor(w);
    const key = e.key.toLowerCase();
    const act = (a: LifecycleAction) => {
      e.preventDefault();
      void lifecycle(id, a);
    };
    if (key === 'c') {
      e.preventDefault();
      open(id, 'chat');
    } else if (key === 'r' && can.includes('restart')) act('restart');
    else if (key === 'p' && can.includes('pause')) act('pause');
    else if (key === 'p' && can.includes('resume')) act('resume');
    else if (key === 'h' && can.includes('hibernate')) act('hibernate');
    else if (e.key === 'Delete' || e.key === 'Backspace') {
      e.preventDefault();
      setDialog({ kind: 'delete', ids: picked.includes(id) && picked.length > 1 ? picked : [id] });
    }
  };

  // Page-wide keys: Ctrl/Cmd+K finds, N creates, ? lists the shortcuts, Escape clears the selection.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLElement && (e.target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(e.target.tagName));
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        setDialog({ kind: 'search' });
      } else if (!typing && !dialog && !e.ctrlKey && !e.metaKey && !e.altKey) {
        if (e.key === '?') setDialog({ kind: 'help' });
        else if (e.key.toLowerCase() === 'n' && !(e.target as HTMLElement | null)?.closest?.('.react-flow__node')) setDialog({ kind: 'create' });
        else if (e.key === 'Escape' && store.getState().picked.length > 0) store.setState({ picked: [] });
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [dialog]);

  return (
    <div className="app">
      <header className="toolbar">
        <h1>Molecule</h1>
        <ul className="counts" aria-label="Workspaces by status">
          {WORKSPACE_STATUSES.filter((s) => counts[s]).map((s) => (
            <li key={s} style={{ borderColor: STATUS_LOOK[s].colour }}>
              {STATUS_LOOK[s].label}: {counts[s]}
            </li>
          ))}
        </ul>
        <button type="button" className="primary" onClick={() => setDialog({ kind: 'create' })}>
          New workspace
        </button>
        <button type="button" onClick={() => setDialog({ kind: 'import-org' })}>
          Import org
        </button>
        <button type="button" onClick={() => setDialog({ kind: 'templates' })}>
          Templates
        </button>
        <button type="button" onClick={() => setDialog({ kind: 'search' })} aria-keyshortcuts="Control+K Meta+K">
          Find <kbd>Ctrl K</kbd>
        </button>
        <button type="button" aria-pressed={showTraffic} onClick={() => store.setState({ showTraffic: !showTraffic })} title="Lines between workspaces that messaged each other in the last 3 minutes">
          A2A traffic
        </button>
        <button type="button" onClick={() => setDialog({ kind: 'settings' })}>
          Settings
        </button>
        <button type="button" onClick={() => setDialog({ kind: 'help' })} aria-label="Keyboard shortcuts">
          ?
        </button>
        <span className={`pill pill-${connection}`} role="status" aria-live="polite">
          {connection === 'live' ? 'Live' : connection === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
        </span>
      </header>
      {imports.map((imp) => (
        <ImportProgress key={imp.id} imp={imp} workspaces={workspaces} onDismiss={() => dismissImport(store, imp.id)} />
      ))}
      {picked.length > 0 ? (
        <div className="batch" role="toolbar" aria-label={`${picked.length} selected`}>
          <span>
            {picked.length} selected: {picked.map((id) => workspaces[id]?.name ?? id).join(', ')}
          </span>
          <button type="button" onClick={() => void runBatchAction('Restart', picked, (id) => api.lifecycle(id, 'restart'))}>
            Restart
          </button>
          <button type="button" onClick={() => void runBatchAction('Pause', picked, (id) => api.lifecycle(id, 'pause'))}>
            Pause
          </button>
          <button type="button" className="danger" onClick={() => setDialog({ kind: 'delete', ids: picked })}>
            Delete…
          </button>
          <button type="button" onClick={() => store.setState({ picked: [] })}>
            Clear selection
          </button>
        </div>
      ) : null}
      {count === 0 ? (
        <main className="centre">
          <h2>No workspaces yet</h2>
          <p>A workspace is an agent with a place in your org chart.</p>
          <button type="button" className="primary" onClick={() => setDialog({ kind: 'create' })}>
            Create a workspace
          </button>
          <button type="button" onClick={() => setDialog({ kind: 'import-org' })}>
            Import an org
          </button>
          <p className="note">
            Or from a terminal: <code>npx molecule workspace create my-agent --template echo</code>
          </p>
        </main>
      ) : (
        <div className="body">
          <OrgChart
            workspaces={workspaces}
            open={selected}
            picked={picked}
            traffic={traffic}
            showTraffic={showTraffic}
            viewport={savedViewport}
            onOpen={open}
            onPick={(id) => togglePicked(store, id)}
            onDrop={onDrop}
            onMenu={(id, at) => setMenu({ id, at })}
            onNodeKey={onNodeKey}
            onViewport={(v) => {
              savedViewport = v;
              void api.saveViewport(v).catch(() => undefined);
            }}
            onInit={(c) => {
              chart.current = c;
            }}
          />
          {selectedWorkspace ? (
            <Panel
              workspace={selectedWorkspace}
              workspaces={workspaces}
              api={api}
              feed={feed}
              canvas={commands}
              tab={tab}
              onTab={setTab}
              onClose={() => store.setState({ selected: undefined })}
            />
          ) : null}
        </div>
      )}
      <p className="notice" role="status" aria-live="polite" aria-label="Notices">
        {notice}
      </p>
      {menu && workspaces[menu.id] ? <ContextMenu title={`Actions for ${workspaces[menu.id]!.name}`} at={menu.at} items={menuItems(menu.id)} onClose={() => setMenu(undefined)} /> : null}
      {dialog?.kind === 'create' ? (
        <CreateDialog
          api={api}
          workspaces={workspaces}
          {...(dialog.parentId ? { parentId: dialog.parentId } : {})}
          {...(dialog.template ? { template: dialog.template } : {})}
          onClose={() => setDialog(undefined)}
          onCreated={(w) => {
            putWorkspace(store, w);
            setNotice(`${w.name} created.`);
            if (w.connection) setDialog({ kind: 'connect', name: w.name, connection: w.connection });
            else {
              setDialog(undefined);
              open(w.id);
            }
          }}
        />
      ) : null}
      {dialog?.kind === 'connect' ? (
        <ConnectDialog name={dialog.name} connection={dialog.connection} status={workspaces[dialog.connection.workspace_id]?.status} onClose={() => setDialog(undefined)} />
      ) : null}
      {dialog?.kind === 'search' ? <SearchDialog workspaces={workspaces} onClose={() => setDialog(undefined)} onGo={goTo} /> : null}
      {dialog?.kind === 'delete' ? (
        <ConfirmDelete
          workspaces={workspaces}
          ids={dialog.ids}
          onCancel={() => setDialog(undefined)}
          onConfirm={() => {
            const ids = topmost(workspaces, dialog.ids);
            setDialog(undefined);
            void runBatchAction('Delete', ids, (id) => removeWorkspace(api, workspaces, id));
          }}
        />
      ) : null}
      {dialog?.kind === 'settings' ? (
        <Dialog title="Settings" onClose={() => setDialog(undefined)} wide>
          <h3>Org-wide secrets</h3>
          <p className="note">Every workspace's agent gets these as environment variables, unless a nearer one (an ancestor's or its own) has the same name.</p>
          <SecretsEditor api={api} />
          <OrgTokens api={api} />
          <div className="actions">
            <button type="button" onClick={() => setDialog(undefined)}>
              Close
            </button>
          </div>
        </Dialog>
      ) : null}
      {dialog?.kind === 'collapse' ? (
        <ConfirmDelete
          workspaces={workspaces}
          ids={Object.values(workspaces)
            .filter((c) => c.parent_id === dialog.id)
            .map((c) => c.id)}
          onCancel={() => setDialog(undefined)}
          onConfirm={() => {
            setDialog(undefined);
            void team(dialog.id, 'collapse');
          }}
        />
      ) : null}
      {dialog?.kind === 'import-org' ? (
        <ImportOrgDialog
          api={api}
          onClose={() => setDialog(undefined)}
          onImported={(r) => {
            followImport(store, { id: r.import_id, org: r.org, ids: r.workspaces.map((w) => w.id), frame: true });
            setDialog(undefined);
            setNotice(`Importing ${r.org}: ${r.count} workspace${r.count === 1 ? '' : 's'} created; they are starting.`);
          }}
        />
      ) : null}
      {dialog?.kind === 'templates' ? <TemplatePalette api={api} onClose={() => setDialog(undefined)} onCreate={(template) => setDialog({ kind: 'create', template })} /> : null}
      {dialog?.kind === 'help' ? (
        <Dialog title="Keyboard shortcuts" onClose={() => setDialog(undefined)}>
          <dl className="details">
            {SHORTCUTS.map(([k, v]) => (
              <div key={k}>
                <dt>
                  <kbd>{k}</kbd>
                </dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
          <div className="actions">
            <button type="button" onClick={() => setDialog(undefined)}>
              Close
            </button>
          </div>
        </Dialog>
      ) : null}
    </div>
  );
}
