import { useMemo, useState } from 'react';
import type { WorkspaceView } from '@molecule/contracts';
import { Dialog } from './Dialog.js';
import { STATUS_LOOK, statusLine } from './status.js';

/** Workspaces matching a query by name, role or status (its words or its code), best first: name prefix, then name, then the rest. */
export function searchWorkspaces(workspaces: readonly WorkspaceView[], query: string, limit = 20): WorkspaceView[] {
  const q = query.trim().toLowerCase();
  if (!q) return [...workspaces].sort((a, b) => a.name.localeCompare(b.name)).slice(0, limit);
  const rank = (w: WorkspaceView): number => {
    const name = w.name.toLowerCase();
    if (name.startsWith(q)) return 0;
    if (name.includes(q)) return 1;
    if ((w.role ?? '').toLowerCase().includes(q)) return 2;
    if (STATUS_LOOK[w.status].label.toLowerCase().includes(q) || w.status.includes(q)) return 3;
    return -1;
  };
  return workspaces
    .map((w) => ({ w, r: rank(w) }))
    .filter((x) => x.r >= 0)
    .sort((a, b) => a.r - b.r || a.w.name.localeCompare(b.w.name))
    .slice(0, limit)
    .map((x) => x.w);
}

/** Ctrl/Cmd+K: find a workspace by name, role or status; Enter (or a click) goes to it. */
export function SearchDialog({ workspaces, onClose, onGo }: { workspaces: Record<string, WorkspaceView>; onClose: () => void; onGo: (id: string) => void }) {
  const [query, setQuery] = useState('');
  const [active, setActive] = useState(0);
  const found = useMemo(() => searchWorkspaces(Object.values(workspaces), query), [workspaces, query]);
  const pick = found[Math.min(active, found.length - 1)];
  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setActive((a) => Math.min(a + 1, found.length - 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setActive((a) => Math.max(a - 1, 0));
    } else if (e.key === 'Enter' && pick) {
      e.preventDefault();
      onGo(pick.id);
    }
  };
  return (
    <Dialog title="Find a workspace" onClose={onClose} initialFocus="#search-input">
      <label htmlFor="search-input" className="sr-only">
        Name, role or status
      </label>
      <input
        id="search-input"
        className="search-input"
        role="combobox"
        aria-expanded="true"
        aria-controls="search-results"
        aria-activedescendant={pick ? `search-${pick.id}` : undefined}
        aria-autocomplete="list"
        placeholder="Name, role or status"
        value={query}
        onChange={(e) => {
          setQuery(e.target.value);
          setActive(0);
        }}
        onKeyDown={onKeyDown}
        autoComplete="off"
      />
      <ul id="search-results" role="listbox" aria-label="Matching workspaces" className="search-results">
        {found.map((w) => (
          <li key={w.id} id={`search-${w.id}`} role="option" aria-selected={w.id === pick?.id} onClick={() => onGo(w.id)}>
            <strong>{w.name}</strong>
            {w.role ? <span className="ws-role"> {w.role}</span> : null}
            <span className="search-status" style={{ color: STATUS_LOOK[w.status].colour }}>
              {statusLine(w)}
            </span>
          </li>
        ))}
      </ul>
      {found.length === 0 ? <p className="note">No workspace matches “{query}”.</p> : null}
      <p className="note" aria-live="polite">
        {found.length} match{found.length === 1 ? '' : 'es'}. ↑↓ to choose, Enter to go, Escape to close.
      </p>
    </Dialog>
  );
}
