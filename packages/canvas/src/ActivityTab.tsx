import { useCallback, useEffect, useState } from 'react';
import { ACTIVITY_TYPES, type ActivityEntry, type WorkspaceView } from '@molecule/contracts';
import { errorText } from './actions.js';
import type { TabProps } from './tab.js';

const PAGE = 50;

/** The row an ACTIVITY_LOGGED event carries, as the activity list shows it; undefined when it is not one. */
export function activityFromEvent(workspaceId: string, payload: Record<string, unknown>): ActivityEntry | undefined {
  if (typeof payload.id !== 'string' || typeof payload.activity_type !== 'string') return undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    id: payload.id,
    workspace_id: workspaceId,
    activity_type: payload.activity_type,
    source_id: str(payload.source_id),
    target_id: str(payload.target_id),
    method: str(payload.method),
    summary: str(payload.summary),
    duration_ms: typeof payload.duration_ms === 'number' ? payload.duration_ms : null,
    status: str(payload.status) ?? 'ok',
    error_detail: null,
    created_at: str(payload.created_at) ?? new Date().toISOString(),
  };
}

/** Whether a row passes the tab's filters (type, and a peer on either end). */
export function matchesFilter(row: ActivityEntry, filter: { type: string; peer: string }): boolean {
  if (filter.type && row.activity_type !== filter.type) return false;
  if (filter.peer && row.source_id !== filter.peer && row.target_id !== filter.peer) return false;
  return true;
}

/** The other workspace of a row, by name: who sent it or who it went to. */
function peerName(row: ActivityEntry, self: string, workspaces: Record<string, WorkspaceView>): string {
  const other = row.source_id && row.source_id !== self ? row.source_id : row.target_id && row.target_id !== self ? row.target_id : null;
  if (!other) return row.source_id === null && row.activity_type === 'a2a_receive' ? 'you' : '';
  return workspaces[other]?.name ?? other.slice(0, 8);
}

/** The Activity tab: the workspace's log, newest first, live; filter by type and peer; page back. */
export function ActivityTab({ workspace, workspaces, api, feed }: TabProps) {
  const [rows, setRows] = useState<ActivityEntry[]>([]);
  const [filter, setFilter] = useState({ type: '', peer: '' });
  const [more, setMore] = useState(false);
  const [note, setNote] = useState('');
  const query = useCallback(
    (extra: Record<string, string> = {}) => ({ limit: String(PAGE), ...(filter.type ? { type: filter.type } : {}), ...(filter.peer ? { peer_id: filter.peer } : {}), ...extra }),
    [filter],
  );
  useEffect(() => {
    let live = true;
    setNote('');
    api
      .activity(workspace.id, query())
      .then((r) => {
        if (!live) return;
        setRows(r);
        setMore(r.length === PAGE);
      })
      .catch((err: unknown) => live && setNote(`Could not load the activity: ${errorText(err)}`));
    const off = feed.subscribe((e) => {
      if (e.workspace_id !== workspace.id || e.type !== 'ACTIVITY_LOGGED') return;
      const row = activityFromEvent(workspace.id, e.payload);
      if (row && matchesFilter(row, filter)) setRows((rs) => (rs.some((r) => r.id === row.id) ? rs : [row, ...rs]));
    });
    return () => {
      live = false;
      off();
    };
  }, [api, feed, workspace.id, query, filter]);
  const older = async () => {
    const last = rows[rows.length - 1];
    if (!last) return;
    try {
      const r = await api.activity(workspace.id, query({ before_ts: last.created_at }));
      setRows((rs) => [...rs, ...r.filter((x) => !rs.some((y) => y.id === x.id))]);
      setMore(r.length === PAGE);
    } catch (err) {
      setNote(`Could not load older activity: ${errorText(err)}`);
    }
  };
  const peers = Object.values(workspaces)
    .filter((w) => w.id !== workspace.id)
    .sort((a, b) => a.name.localeCompare(b.name));
  return (
    <div className="feed">
      <div className="filters">
        <label>
          Type{' '}
          <select value={filter.type} onChange={(e) => setFilter((f) => ({ ...f, type: e.target.value }))}>
            <option value="">All</option>
            {ACTIVITY_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Peer{' '}
          <select value={filter.peer} onChange={(e) => setFilter((f) => ({ ...f, peer: e.target.value }))}>
            <option value="">Any</option>
            {peers.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {note ? <p role="alert">{note}</p> : null}
      <ol className="feed-list" aria-label="Activity, newest first" aria-live="polite">
        {rows.map((r) => (
          <li key={r.id} data-type={r.activity_type} className={r.status === 'ok' ? undefined : 'feed-bad'}>
            <time dateTime={r.created_at}>{new Date(r.created_at).toLocaleTimeString()}</time> <strong>{r.activity_type}</strong>
            {peerName(r, workspace.id, workspaces) ? ` · ${peerName(r, workspace.id, workspaces)}` : ''}
            {r.method ? ` · ${r.method}` : ''}
            {r.status !== 'ok' ? ` · ${r.status}` : ''}
            {r.duration_ms !== null ? ` · ${r.duration_ms} ms` : ''}
            {r.summary ? <div className="feed-summary">{r.summary}</div> : null}
          </li>
        ))}
      </ol>
      {rows.length === 0 && !note ? <p className="note">No activity{filter.type || filter.peer ? ' matches these filters' : ' yet'}.</p> : null}
      {more ? (
        <button type="button" onClick={() => void older()}>
          Older
        </button>
      ) : null}
    </div>
  );
}
