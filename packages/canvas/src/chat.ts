import { isRecord, replyText, sseEventData, textOfParts } from '@molecule/contracts';

/** One line of the chat: what the user sent, or what the agent answered (or what became of it). */
export interface ChatLine {
  id: string;
  from: 'user' | 'agent' | 'platform';
  text: string;
  /** The reply is still arriving. */
  streaming?: boolean;
}

/** The user's text in a logged A2A request (any dialect). */
export function requestText(body: unknown): string | undefined {
  if (!isRecord(body) || !isRecord(body.params) || !isRecord(body.params.message)) return undefined;
  return textOfParts(body.params.message.parts);
}

/** Chat lines from activity rows (newest first, as the API answers): oldest first, user then agent. */
export function historyLines(rows: readonly { id: string; request_body?: unknown; response_body?: unknown; status: string; error_detail: string | null }[]): ChatLine[] {
  const out: ChatLine[] = [];
  for (const r of [...rows].reverse()) {
    const asked = requestText(r.request_body);
    if (asked === undefined) continue;
    out.push({ id: `${r.id}-q`, from: 'user', text: asked });
    const answer = replyText(r.response_body);
    if (answer !== undefined) out.push({ id: `${r.id}-a`, from: 'agent', text: answer });
    else if (r.status !== 'ok') out.push({ id: `${r.id}-a`, from: 'platform', text: r.status === 'queued' || r.status === 'busy' ? 'The agent was busy; the message was queued.' : `No answer (${r.error_detail ?? r.status}).` });
  }
  return out;
}

/**
 * Folds one streamed A2A event (v0.3 `message/stream`) into the reply so far: artifact chunks
 * append (or replace), a status or task with a message, or a message, gives the whole reply.
 */
export function foldStreamEvent(reply: string, event: unknown): { reply: string; error?: string } {
  if (!isRecord(event)) return { reply };
  if (isRecord(event.error)) return { reply, error: typeof event.error.message === 'string' ? event.error.message : 'the agent answered with an error' };
  const r = event.result;
  if (!isRecord(r)) return { reply };
  if (r.kind === 'artifact-update' && isRecord(r.artifact)) {
    const chunk = textOfParts(r.artifact.parts) ?? '';
    return { reply: r.append === true ? reply + chunk : chunk };
  }
  const whole = replyText(event);
  return { reply: whole ?? reply };
}

/** Splits an SSE text buffer into complete events' data and the unfinished rest. */
export function sseFrames(buffer: string): { events: unknown[]; rest: string } {
  const events: unknown[] = [];
  const text = buffer.replace(/\r\n/g, '\n');
  const frames = text.split('\n\n');
  const rest = frames.pop() ?? '';
  for (const f of frames) {
    const data = sseEventData(f);
    if (data === '') continue;
    try {
      events.push(JSON.parse(data));
    } catch {
      // Not JSON: not an A2A event; skipped.
    }
  }
  return { events, rest };
}
