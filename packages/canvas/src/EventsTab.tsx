import { useEffect, useState } from 'react';
import type { PlatformEvent } from '@molecule/contracts';
import { errorText } from './actions.js';
import type { TabProps } from './tab.js';

/** Events too frequent to list one by one (the chart shows what they carry). */
const QUIET = new Set<PlatformEvent['type']>(['WORKSPACE_HEARTBEAT']);
const PAGE = 50;
const KEEP = 500;

/** A short line for an event's payload: its fields, the long ones cut. */
export function payloadLine(payload: Record<string, unknown>): string {
  return Object.entries(payload)
    .map(([k, v]) => {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      return `${k}: ${text.length > 80 ? `${text.slice(0, 79)}…` : text}`;
    })
    .join(' · ');
}

/** Events shown in a list: persisted ones are known by their seq; live-only ones get a local key. */
type Shown = PlatformEvent & { key: string };
let localKey = 0;
const shown = (e: PlatformEvent): Shown => ({ ...e, key: e.seq !== null ? `seq-${e.seq}` : `live-${++localKey}` });
const withNew = (list: Shown[], add: PlatformEvent[], atStart: boolean): Shown[] => {
  const fresh = add.filter((e) => e.seq === null || !list.some((x) => x.seq === e.seq)).map(shown);
  return atStart ? [...fresh, ...list].slice(0, KEEP) : [...list, ...fresh];
};

/** The Events tab: the workspace's event stream, recorded ones first from the API, then live ones as they come. */
export function EventsTab({ workspace, api, feed }: TabProps) {
  const [events, setEvents] = useState<Shown[]>([]);
  const [more, setMore] = useState(false);
  const [note, setNote] = useState('');
  useEffect(() => {
    let live = true;
    api
      .workspaceEvents(workspace.id)
      .then((r) => {
        if (!live) return;
        setEvents((now) => withNew(now, r, false));
        setMore(r.length === PAGE);
      })
      .catch((err: unknown) => live && setNote(`Could not load the events: ${errorText(err)}`));
    const off = feed.subscribe((e) => {
      if (e.workspace_id !== workspace.id || QUIET.has(e.type)) return;
      setEvents((es) => withNew(es, [e], true));
    });
    return () => {
      live = false;
      off();
    };
  }, [api, feed, workspace.id]);
  const older = async () => {
    const lastSeq = [...events].reverse().find((e) => e.seq !== null)?.seq;
    if (!lastSeq) return;
    try {
      const r = await api.workspaceEvents(workspace.id, lastSeq);
      setEvents((es) => withNew(es, r, false));
      setMore(r.length === PAGE);
    } catch (err) {
      setNote(`Could not load older events: ${errorText(err)}`);
    }
  };
  return (
    <div className="feed">
      {note ? <p role="alert">{note}</p> : null}
      <p className="note">Newest first; heartbeats are not listed.</p>
      <ol className="feed-list" aria-label="Events, newest first" aria-live="polite">
        {events.map((e) => (
          <li key={e.key} data-type={e.type}>
            <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time> <strong>{e.type}</strong>
            {Object.keys(e.payload).length > 0 ? <div className="feed-summary">{payloadLine(e.payload)}</div> : null}
          </li>
        ))}
      </ol>
      {events.length === 0 && !note ? <p className="note">No events yet.</p> : null}
      {more ? (
        <button type="button" onClick={() => void older()}>
          Older
        </button>
      ) : null}
    </div>
  );
}
