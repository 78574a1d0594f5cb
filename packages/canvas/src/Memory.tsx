import { useCallback, useEffect, useState } from 'react';
import { errorText } from './actions.js';
import type { MemoryItem } from './api.js';
import type { TabProps } from './tab.js';

type Scope = 'ALL' | 'LOCAL' | 'TEAM' | 'GLOBAL';
const SCOPES: { id: Scope; label: string }[] = [
  { id: 'ALL', label: 'All' },
  { id: 'LOCAL', label: 'This workspace' },
  { id: 'TEAM', label: 'Team' },
  { id: 'GLOBAL', label: 'Org' },
];
const SCOPE_LABEL: Record<MemoryItem['scope'], string> = { workspace: 'this workspace', team: 'team', org: 'org (shared)', custom: 'custom' };
/** The delimiter org memories are read with (C243), taken off for display: the badge says it instead. */
const ORG_PREFIX = /^\[MEMORY id=[^\]]+\]: /;

/**
 * The Memory tab: what the workspace remembers and may read (its own, its team's, its org's),
 * narrowed by scope chips and a search; org memories are marked as shared. Add a memory, or forget
 * one the workspace may write.
 */
export function MemoryTab({ workspace, api }: TabProps) {
  const [scope, setScope] = useState<Scope>('ALL');
  const [q, setQ] = useState('');
  const [items, setItems] = useState<MemoryItem[] | undefined>();
  const [problem, setProblem] = useState('');
  const [content, setContent] = useState('');
  const [target, setTarget] = useState<'LOCAL' | 'TEAM' | 'GLOBAL'>('TEAM');
  const [note, setNote] = useState('');
  const load = useCallback(() => {
    api
      .memories(workspace.id, { q: q.trim() || undefined, scope: scope === 'ALL' ? undefined : scope })
      .then((r) => {
        setItems(r);
        setProblem('');
      })
      .catch((err: unknown) => {
        setItems(undefined);
        setProblem(errorText(err));
      });
  }, [api, workspace.id, q, scope]);
  useEffect(load, [load]);

  const add = async () => {
    if (!content.trim()) {
      setNote('Write something to remember first.');
      return;
    }
    try {
      const r = await api.remember(workspace.id, content, target);
      setNote(`Remembered in ${r.namespace.split(':')[0]} memory.`);
      setContent('');
      load();
    } catch (err) {
      setNote(`Not remembered: ${errorText(err)}`);
    }
  };
  const forget = async (m: MemoryItem) => {
    try {
      await api.forgetMemory(workspace.id, m.id, m.namespace);
      setNote('Forgotten.');
      load();
    } catch (err) {
      setNote(`Not forgotten: ${errorText(err)}`);
    }
  };

  return (
    <div className="memory">
      <div className="chips-row" role="group" aria-label="Memory scope">
        {SCOPES.map((s) => (
          <button key={s.id} type="button" className="small" aria-pressed={scope === s.id} onClick={() => setScope(s.id)}>
            {s.label}
          </button>
        ))}
      </div>
      <form
        className="memory-search"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          load();
        }}
      >
        <label htmlFor="memory-q" className="sr-only">
          Search memory
        </label>
        <input id="memory-q" type="search" placeholder="Search memory" value={q} onChange={(e) => setQ(e.target.value)} />
      </form>
      {problem ? <p className="pending">{problem}</p> : null}
      {items === undefined ? null : items.length === 0 ? (
        <p className="note">Nothing remembered{scope === 'ALL' ? '' : ' in this scope'}{q.trim() ? ' matches the search' : ''}.</p>
      ) : (
        <ul className="memory-list" aria-label="Memories">
          {items.map((m) => (
            <li key={m.id} className={`memory-item memory-${m.scope}`}>
              <div>
                <span className="memory-scope">{SCOPE_LABEL[m.scope]}</span>
                {m.similarity_score !== undefined ? <span className="hint"> score {m.similarity_score.toFixed(2)}</span> : null}
                <p>{m.content.replace(ORG_PREFIX, '')}</p>
                <span className="hint">
                  {m.kind} · {new Date(m.created_at).toLocaleString()}
                  {m.expires_at ? ` · expires ${new Date(m.expires_at).toLocaleDateString()}` : ''}
                </span>
              </div>
              <button type="button" className="danger small" aria-label={`Forget memory: ${m.content.replace(ORG_PREFIX, '').slice(0, 40)}`} onClick={() => void forget(m)}>
                Forget
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        className="form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void add();
        }}
      >
        <label htmlFor="memory-new">Remember</label>
        <textarea id="memory-new" rows={2} value={content} onChange={(e) => setContent(e.target.value)} />
        <label htmlFor="memory-target">In</label>
        <select id="memory-target" value={target} onChange={(e) => setTarget(e.target.value as 'LOCAL' | 'TEAM' | 'GLOBAL')}>
          <option value="TEAM">Team memory</option>
          <option value="LOCAL">This workspace only</option>
          <option value="GLOBAL">Org memory (root workspace only)</option>
        </select>
        <div className="actions">
          <button type="submit">Remember</button>
        </div>
      </form>
      <p className="note" role="status" aria-live="polite">
        {note}
      </p>
    </div>
  );
}
