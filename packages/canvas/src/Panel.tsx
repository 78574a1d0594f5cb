import { useEffect, useRef, useState, type ReactNode } from 'react';
import { Status, type WorkspaceView } from '@molecule/contracts';
import { ApiError } from './api.js';
import type { TabProps } from './tab.js';
import { ChatTab } from './Chat.js';
import { STATUS_LOOK, statusLine } from './status.js';
import { descendantsOf } from './tree.js';

export type { TabProps };

/**
 * The side panel's tabs, in order. A later feature (chat, activity, events, files, terminal, memory)
 * adds its tab here and nowhere else.
 */
export const PANEL_TABS: { id: string; label: string; render: (p: TabProps) => ReactNode }[] = [
  { id: 'chat', label: 'Chat', render: (p) => <ChatTab key={p.workspace.id} {...p} /> },
  { id: 'details', label: 'Details', render: (p) => <DetailsTab {...p} /> },
];

/** The selected workspace's panel: its tabs, closed with Escape or the close button. */
export function Panel({ workspace, workspaces, api, onClose }: TabProps & { onClose: () => void }) {
  const [tab, setTab] = useState(PANEL_TABS[0]!.id);
  const current = PANEL_TABS.find((t) => t.id === tab) ?? PANEL_TABS[0]!;
  // Opening the panel (by click or by Enter on a node) moves focus into it, to its selected tab.
  const selectedTab = useRef<HTMLButtonElement>(null);
  useEffect(() => selectedTab.current?.focus(), [workspace.id]);
  return (
    <aside className="panel" aria-label={`Workspace ${workspace.name}`} onKeyDown={(e) => e.key === 'Escape' && onClose()}>
      <div className="panel-head">
        <h2>{workspace.name}</h2>
        <button type="button" onClick={onClose} aria-label="Close panel">
          ×
        </button>
      </div>
      <div role="tablist" aria-label="Workspace views" className="tabs">
        {PANEL_TABS.map((t) => (
          <button key={t.id} ref={t.id === current.id ? selectedTab : undefined} type="button" role="tab" aria-selected={t.id === current.id} id={`tab-${t.id}`} aria-controls={`tabpanel-${t.id}`} onClick={() => setTab(t.id)}>
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`tabpanel-${current.id}`} aria-labelledby={`tab-${current.id}`} className="tabpanel">
        {current.render({ workspace, workspaces, api })}
      </div>
    </aside>
  );
}

/** What an action may be asked of a workspace in its status. */
function actionsFor(w: WorkspaceView): ('restart' | 'pause' | 'resume' | 'hibernate')[] {
  if (w.status === Status.Paused || w.status === Status.Hibernated) return ['resume'];
  const out: ('restart' | 'pause' | 'resume' | 'hibernate')[] = ['restart', 'pause'];
  if ((w.status === Status.Online || w.status === Status.Degraded) && w.runtime !== 'external') out.push('hibernate');
  return out;
}

function DetailsTab({ workspace: w, workspaces, api }: TabProps) {
  const [message, setMessage] = useState('');
  const [confirming, setConfirming] = useState(false);
  const run = async (label: string, action: () => Promise<unknown>) => {
    setMessage(`${label}…`);
    try {
      await action();
      setMessage(`${label}: done.`);
    } catch (err) {
      setMessage(`${label} failed: ${err instanceof ApiError ? err.message : String(err)}`);
    }
  };
  const look = STATUS_LOOK[w.status];
  const rows: [string, ReactNode][] = [
    ['Status', <span style={{ color: look.colour }}>{statusLine(w)}</span>],
    ['Role', w.role ?? '—'],
    ['Runtime', `${w.runtime}${w.template ? ` (template ${w.template})` : ''}`],
    ['Tier', String(w.tier)],
    ['Delivery', w.delivery_mode],
    ['URL', w.url || '—'],
    ['Tasks', `${w.active_tasks} of ${w.max_concurrent_tasks}${w.current_task ? `: ${w.current_task}` : ''}`],
    ['Budget', w.budget_limit === null ? 'none' : `$${(w.budget_limit / 100).toFixed(2)} a month`],
    ['Last heartbeat', w.last_heartbeat_at ? new Date(w.last_heartbeat_at).toLocaleString() : '—'],
    ['Id', <code>{w.id}</code>],
  ];
  return (
    <div>
      <dl className="details">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      <div className="actions">
        {actionsFor(w).map((a) => (
          <button key={a} type="button" onClick={() => void run(a[0]!.toUpperCase() + a.slice(1), () => api.lifecycle(w.id, a))}>
            {a[0]!.toUpperCase() + a.slice(1)}
          </button>
        ))}
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          Delete
        </button>
      </div>
      <p role="status" aria-live="polite" className="note">
        {message}
      </p>
      {confirming ? (
        <ConfirmDelete
          workspace={w}
          descendants={descendantsOf(workspaces, w.id)}
          onCancel={() => setConfirming(false)}
          onConfirm={(hasChildren) => {
            setConfirming(false);
            void run('Delete', () => api.remove(w.id, hasChildren));
          }}
        />
      ) : null}
    </div>
  );
}

/** The delete confirmation: it names every workspace that goes with this one. Escape cancels. */
function ConfirmDelete({ workspace, descendants, onCancel, onConfirm }: { workspace: WorkspaceView; descendants: WorkspaceView[]; onCancel: () => void; onConfirm: (hasChildren: boolean) => void }) {
  const cancel = useRef<HTMLButtonElement>(null);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => cancel.current?.focus(), []);
  // Focus stays in the dialog: Tab from its last control goes back to its first, and the reverse.
  const trap = (e: React.KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onCancel();
      return;
    }
    if (e.key !== 'Tab') return;
    const focusable = [...(box.current?.querySelectorAll<HTMLElement>('button') ?? [])];
    const [first, last] = [focusable[0], focusable[focusable.length - 1]];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last?.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first?.focus();
    }
  };
  return (
    <div className="backdrop">
      <div className="dialog" role="alertdialog" aria-modal="true" aria-labelledby="confirm-title" aria-describedby="confirm-body" ref={box} onKeyDown={trap}>
        <h2 id="confirm-title">Delete {workspace.name}?</h2>
        <div id="confirm-body">
          {descendants.length === 0 ? (
            <p>It will be stopped and removed.</p>
          ) : (
            <>
              <p>It will be stopped and removed with every workspace under it:</p>
              <ul>
                {descendants.map((d) => (
                  <li key={d.id}>{d.name}</li>
                ))}
              </ul>
            </>
          )}
        </div>
        <div className="actions">
          <button type="button" ref={cancel} onClick={onCancel}>
            Cancel
          </button>
          <button type="button" className="danger" onClick={() => onConfirm(descendants.length > 0)}>
            Delete {descendants.length > 0 ? `${descendants.length + 1} workspaces` : 'it'}
          </button>
        </div>
      </div>
    </div>
  );
}
