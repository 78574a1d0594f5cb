import { useEffect, useRef, useState } from 'react';
import { isRecord, replyText } from '@molecule/contracts';
import type { TabProps } from './tab.js';
import { activityLineOf, attachmentsOf, foldStreamEvent, formatSize, historyLines, pushActivityLine, sseFrames, type ActivityLine, type Attachment, type ChatLine } from './chat.js';

/** How often a queued message's progress is read. */
const QUEUE_POLL_MS = 2000;

/** The Chat tab: the conversation with this workspace's agent, streamed through the A2A proxy. */
export function ChatTab({ workspace, api, feed }: TabProps) {
  const [lines, setLines] = useState<ChatLine[]>([]);
  const [activity, setActivity] = useState<ActivityLine[]>([]);
  const [draft, setDraft] = useState('');
  /** Files picked or dropped for the next message; uploaded when it is sent. */
  const [pending, setPending] = useState<File[]>([]);
  const [dragging, setDragging] = useState(false);
  const picker = useRef<HTMLInputElement>(null);
  const [sending, setSending] = useState(false);
  const [loadError, setLoadError] = useState('');
  const log = useRef<HTMLDivElement>(null);
  const alive = useRef(true);
  /** Stops the waits for poll agents' replies (when the tab closes). */
  const inboxWaits = useRef(new Set<() => void>());
  const put = (line: ChatLine) => setLines((ls) => (ls.some((l) => l.id === line.id) ? ls.map((l) => (l.id === line.id ? line : l)) : [...ls, line]));

  useEffect(() => {
    alive.current = true;
    api
      .chatHistory(workspace.id)
      .then((rows) => {
        if (!alive.current) return;
        const earlier = historyLines(rows, { poll: workspace.delivery_mode === 'poll' });
        setLines((now) => [...earlier, ...now]);
        for (const l of earlier) if (l.inboxRequestId !== undefined) followInbox(l.id, l.inboxRequestId);
      })
      .catch((err: unknown) => alive.current && setLoadError(`Could not load the conversation: ${err instanceof Error ? err.message : String(err)}`));
    // Live: messages the agent pushes (with their files) and what it is doing (C278).
    const off = feed.subscribe((e) => {
      if (e.workspace_id !== workspace.id) return;
      if (e.type === 'AGENT_MESSAGE' && typeof e.payload.message === 'string') {
        const attachments = attachmentsOf(e.payload.attachments);
        put({ id: `live-${crypto.randomUUID()}`, from: 'agent', text: e.payload.message, ...(attachments.length > 0 ? { attachments } : {}) });
      } else if (e.type === 'ACTIVITY_LOGGED') {
        const line = activityLineOf(e.payload);
        if (line) setActivity((a) => pushActivityLine(a, line));
      }
    });
    const waits = inboxWaits.current;
    return () => {
      alive.current = false;
      off();
      for (const stop of [...waits]) stop();
    };
  }, [api, feed, workspace.id]);
  useEffect(() => {
    if (log.current) log.current.scrollTop = log.current.scrollHeight;
  }, [lines]);

  /** Follows a queued message until the queue delivers it (the answer replaces the line) or gives up on it. */
  const followQueue = async (lineId: string, queueId: string, first: string) => {
    for (;;) {
      await new Promise((r) => setTimeout(r, QUEUE_POLL_MS));
      if (!alive.current) return;
      try {
        const q = await api.queueItem(workspace.id, queueId);
        if (q.status === 'completed') {
          put({ id: lineId, from: 'agent', text: replyText(q.response_body) ?? '(no reply text)' });
          return;
        }
        if (q.status === 'failed' || q.status === 'dropped' || q.status === 'expired') {
          put({ id: lineId, from: 'platform', text: `The queued message was not delivered (${q.status}${q.last_error ? `: ${q.last_error}` : ''}).` });
          return;
        }
        const progress = q.status === 'dispatched' ? 'being delivered now' : `waiting${q.attempts > 0 ? `, ${q.attempts} delivery attempt${q.attempts === 1 ? '' : 's'} so far` : ''}`;
        put({ id: lineId, from: 'platform', text: `${first} Queue: ${progress}.`, streaming: true });
      } catch {
        // A failed read is retried on the next tick; the line keeps its last state.
      }
    }
  };

  /** Waits for a poll agent's reply to a message left in its inbox (A2A_RESPONSE names the request id). */
  const followInbox = (lineId: string, requestId: string | number) => {
    const off = feed.subscribe((e) => {
      if (e.workspace_id !== workspace.id || e.type !== 'A2A_RESPONSE') return;
      const body = e.payload.response_body;
      if (!isRecord(body) || body.id !== requestId) return;
      put({ id: lineId, from: 'agent', text: replyText(body) ?? '(no reply text)' });
      stop();
    });
    const stop = () => {
      off();
      inboxWaits.current.delete(stop);
    };
    inboxWaits.current.add(stop);
  };

  const addFiles = (list: FileList | null) => {
    const files = list ? Array.from(list) : [];
    if (files.length > 0) setPending((p) => [...p, ...files]);
  };

  const send = async () => {
    const text = draft.trim();
    const files = pending;
    if ((!text && files.length === 0) || sending) return;
    setDraft('');
    setPending([]);
    setSending(true);
    setActivity([]);
    const id = crypto.randomUUID();
    const replyId = `${id}-a`;
    put({ id: `${id}-q`, from: 'user', text, ...(files.length > 0 ? { attachments: files.map((f) => ({ uri: '', name: f.name, size: f.size })) } : {}) });
    put({ id: replyId, from: 'agent', text: '', streaming: true });
    let delivered = false;
    let reply = '';
    try {
      // The files go first: the message carries what the workspace stored (C072); a refused upload sends nothing.
      let stored: Attachment[] = [];
      if (files.length > 0) {
        try {
          stored = await api.chatUpload(workspace.id, files);
        } catch (err) {
          put({ id: replyId, from: 'platform', text: `Not sent: the files could not be uploaded (${err instanceof Error ? err.message : String(err)}).` });
          setPending(files);
          return;
        }
        put({ id: `${id}-q`, from: 'user', text, attachments: stored });
      }
      const r = await api.chatSend(workspace.id, id, text, stored);
      if (r.kind === 'stream') {
        delivered = true;
        let buffer = '';
        const decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await r.reader.read();
          if (done) break;
          const { events, rest } = sseFrames(buffer + decoder.decode(value, { stream: true }));
          buffer = rest;
          for (const e of events) {
            const f = foldStreamEvent(reply, e);
            if (f.error) {
              put({ id: replyId, from: 'platform', text: `The agent answered with an error: ${f.error}` });
              void r.reader.cancel().catch(() => undefined);
              return;
            }
            reply = f.reply;
          }
          put({ id: replyId, from: 'agent', text: reply, streaming: true });
        }
        put({ id: replyId, from: 'agent', text: reply || '(no reply text)' });
      } else {
        put({ id: replyId, from: 'platform', text: r.text, ...(r.queueId || r.inbox ? { streaming: true } : {}) });
        if (r.queueId) void followQueue(replyId, r.queueId, r.text);
        if (r.inbox) followInbox(replyId, id);
      }
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (!delivered) put({ id: replyId, from: 'platform', text: `Not sent: ${why}` });
      else {
        // Once the stream began the agent has the message: what was cut is only this page's view of
        // the answer. What arrived stays.
        if (reply) put({ id: replyId, from: 'agent', text: reply });
        put({
          id: reply ? `${id}-cut` : replyId,
          from: 'platform',
          text: `The answer was cut off (${why}). The agent got the message; its answer will be in this conversation when you reopen it.`,
        });
      }
    } finally {
      setSending(false);
    }
  };

  return (
    <div
      className={`chat${dragging ? ' chat-dragging' : ''}`}
      onDragOver={(e) => {
        if (!e.dataTransfer.types.includes('Files')) return;
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        addFiles(e.dataTransfer.files);
      }}
    >
      {loadError ? <p role="alert">{loadError}</p> : null}
      <div className="chat-log" role="log" aria-live="polite" aria-label="Conversation" ref={log}>
        {lines.length === 0 ? <p className="note">No messages yet.</p> : null}
        {lines.map((l) => (
          <div key={l.id} className={`msg msg-${l.from}`} data-from={l.from} aria-busy={l.streaming ? 'true' : undefined}>
            <span className="sr-only">{l.from === 'user' ? 'You: ' : l.from === 'agent' ? `${workspace.name}: ` : 'Platform: '}</span>
            {l.text || (l.streaming ? '…' : '')}
            {l.attachments ? <Chips files={l.attachments} downloadUrl={(uri) => api.chatDownloadUrl(workspace.id, uri)} /> : null}
          </div>
        ))}
      </div>
      {activity.length > 0 ? (
        <section aria-label="What the agent is doing" className="chat-activity">
          <ol>
            {activity.map((a) => (
              <li key={a.key}>
                {a.text}
                {a.count > 1 ? <span className="count"> ×{a.count}</span> : null}
              </li>
            ))}
          </ol>
        </section>
      ) : null}
      <form
        className="chat-form"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <label htmlFor="chat-input" className="sr-only">
          Message to {workspace.name}
        </label>
        <textarea
          id="chat-input"
          value={draft}
          rows={2}
          placeholder={`Message ${workspace.name}`}
          title="Enter sends; Shift+Enter starts a new line"
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              void send();
            }
          }}
        />
        {pending.length > 0 ? (
          <ul className="chips" aria-label="Files to send">
            {pending.map((f, i) => (
              <li key={`${f.name}-${i}`} className="chip">
                {f.name} ({formatSize(f.size)}){' '}
                <button type="button" className="link" aria-label={`Remove ${f.name}`} onClick={() => setPending((p) => p.filter((_, j) => j !== i))}>
                  ×
                </button>
              </li>
            ))}
          </ul>
        ) : null}
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          aria-label="Files to attach"
          onChange={(e) => {
            addFiles(e.target.files);
            e.target.value = '';
          }}
        />
        <button type="button" disabled={sending} onClick={() => picker.current?.click()} title="Attach files (or drop them on the chat)">
          Attach
        </button>
        <button type="submit" disabled={sending || (draft.trim() === '' && pending.length === 0)}>
          Send
        </button>
      </form>
    </div>
  );
}

/** The files of a message: a link for a web address, a download through the platform for a file kept in the workspace. */
function Chips({ files, downloadUrl }: { files: Attachment[]; downloadUrl: (uri: string) => string }) {
  return (
    <ul className="chips" aria-label="Attachments">
      {files.map((f, i) => {
        const label = `${f.name}${f.size !== undefined ? ` (${formatSize(f.size)})` : ''}`;
        return (
          <li key={`${f.uri}-${i}`} className="chip" data-testid="attachment">
            {/^https?:/i.test(f.uri) ? (
              <a href={f.uri} target="_blank" rel="noopener noreferrer" download={f.name}>
                {label}
              </a>
            ) : /^workspace:\//i.test(f.uri) ? (
              <a href={downloadUrl(f.uri)} download={f.name} title={`In the workspace: ${f.uri.slice('workspace:'.length)}`}>
                {label}
              </a>
            ) : (
              <span>{label}</span>
            )}
          </li>
        );
      })}
    </ul>
  );
}
