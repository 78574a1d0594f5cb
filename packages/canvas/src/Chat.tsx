import { useEffect, useRef, useState } from 'react';
import type { TabProps } from './tab.js';
import { foldStreamEvent, historyLines, sseFrames, type ChatLine } from './chat.js';

/** The Chat tab: the conversation with this workspace's agent, streamed through the A2A proxy. */
export function ChatTab({ workspace, api }: TabProps) {
  const [lines, setLines] = useState<ChatLine[]>([]);
  const [draft, setDraft] = useState('');
  const [sending, setSending] = useState(false);
  const [loadError, setLoadError] = useState('');
  const log = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let live = true;
    api
      .chatHistory(workspace.id)
      .then((rows) => live && setLines(historyLines(rows)))
      .catch((err: unknown) => live && setLoadError(`Could not load the conversation: ${err instanceof Error ? err.message : String(err)}`));
    return () => {
      live = false;
    };
  }, [api, workspace.id]);
  useEffect(() => {
    log.current?.scrollTo({ top: log.current.scrollHeight });
  }, [lines]);

  const send = async () => {
    const text = draft.trim();
    if (!text || sending) return;
    setDraft('');
    setSending(true);
    const id = crypto.randomUUID();
    const replyId = `${id}-a`;
    const put = (line: ChatLine) => setLines((ls) => [...ls.filter((l) => l.id !== line.id), line]);
    put({ id: `${id}-q`, from: 'user', text });
    put({ id: replyId, from: 'agent', text: '', streaming: true });
    try {
      const r = await api.chatSend(workspace.id, id, text);
      if (r.kind === 'stream') {
        let reply = '';
        let buffer = '';
        const decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await r.reader.read();
          if (done) break;
          const { events, rest } = sseFrames(buffer + decoder.decode(value, { stream: true }));
          buffer = rest;
          for (const e of events) {
            const f = foldStreamEvent(reply, e);
            if (f.error) throw new Error(f.error);
            reply = f.reply;
          }
          put({ id: replyId, from: 'agent', text: reply, streaming: true });
        }
        put({ id: replyId, from: 'agent', text: reply || '(no reply text)' });
      } else {
        put({ id: replyId, from: 'platform', text: r.text });
      }
    } catch (err) {
      put({ id: replyId, from: 'platform', text: `Not sent: ${err instanceof Error ? err.message : String(err)}` });
    } finally {
      setSending(false);
    }
  };

  return (
    <div className="chat">
      {loadError ? <p role="alert">{loadError}</p> : null}
      <div className="chat-log" role="log" aria-live="polite" aria-label="Conversation" ref={log}>
        {lines.length === 0 ? <p className="note">No messages yet.</p> : null}
        {lines.map((l) => (
          <div key={l.id} className={`msg msg-${l.from}`} data-from={l.from} aria-busy={l.streaming ? 'true' : undefined}>
            <span className="sr-only">{l.from === 'user' ? 'You: ' : l.from === 'agent' ? `${workspace.name}: ` : 'Platform: '}</span>
            {l.text || (l.streaming ? '…' : '')}
          </div>
        ))}
      </div>
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
        <button type="submit" disabled={sending || draft.trim() === ''}>
          Send
        </button>
      </form>
    </div>
  );
}

