import { isRecord, replyText, sseEventData, textOfParts } from '@molecule/contracts';

/** One line of the chat: what the user sent, or what the agent answered (or what became of it). */
export interface ChatLine {
  id: string;
  from: 'user' | 'agent' | 'platform';
  text: string;
  /** The reply is still arriving. */
  streaming?: boolean;
  /** Files the agent sent with the message (notify). */
  attachments?: Attachment[];
  /** A message waiting in a poll agent's inbox: the JSON-RPC id its reply will answer. */
  inboxRequestId?: string | number;
}

/** A file chip: what the agent attached (C068). Only `http:`, `https:` and `workspace:` URIs are kept. */
export interface Attachment {
  uri: string;
  name: string;
  mimeType?: string;
  size?: number;
}

const SAFE_SCHEMES = /^(https?|workspace):/i;
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

/**
 * The valid attachments of an AGENT_MESSAGE payload or of a notify row's file parts (C277): an
 * entry needs a non-empty string uri (of a safe scheme) and name; anything else is dropped, never
 * rendered half-formed.
 */
export function attachmentsOf(value: unknown): Attachment[] {
  if (!Array.isArray(value)) return [];
  const out: Attachment[] = [];
  for (const raw of value) {
    const a = isRecord(raw) && raw.kind === 'file' && isRecord(raw.file) ? raw.file : raw;
    if (!isRecord(a) || !nonEmpty(a.uri) || !nonEmpty(a.name) || !SAFE_SCHEMES.test(a.uri)) continue;
    out.push({
      uri: a.uri,
      name: a.name,
      ...(nonEmpty(a.mimeType) ? { mimeType: a.mimeType } : {}),
      ...(typeof a.size === 'number' && Number.isFinite(a.size) && a.size >= 0 ? { size: a.size } : {}),
    });
  }
  return out;
}

/** A chip's size in words. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The user's text in a logged A2A request (any dialect). */
export function requestText(body: unknown): string | undefined {
  if (!isRecord(body) || !isRecord(body.params) || !isRecord(body.params.message)) return undefined;
  return textOfParts(body.params.message.parts);
}

/** What the chat says of a message waiting in a poll agent's inbox. */
export const INBOX_WAITING = 'The agent reads its messages from its inbox: yours is waiting there, and its reply will appear here.';

/** Chat lines from activity rows (newest first, as the API answers): oldest first, user then agent. */
export function historyLines(
  rows: readonly { id: string; method?: string | null; request_body?: unknown; response_body?: unknown; status: string; error_detail: string | null }[],
  opts: { poll?: boolean } = {},
): ChatLine[] {
  const out: ChatLine[] = [];
  for (const r of [...rows].reverse()) {
    // A message the agent pushed (notify): its text and its file chips (C277).
    if (r.method === 'notify' && isRecord(r.response_body)) {
      const text = typeof r.response_body.result === 'string' ? r.response_body.result : '';
      const attachments = attachmentsOf(r.response_body.parts);
      out.push({ id: `${r.id}-n`, from: 'agent', text, ...(attachments.length > 0 ? { attachments } : {}) });
      continue;
    }
    const asked = requestText(r.request_body);
    if (asked === undefined) continue;
    out.push({ id: `${r.id}-q`, from: 'user', text: asked });
    const answer = replyText(r.response_body);
    const requestId = isRecord(r.request_body) && (typeof r.request_body.id === 'string' || typeof r.request_body.id === 'number') ? r.request_body.id : undefined;
    if (answer !== undefined) out.push({ id: `${r.id}-a`, from: 'agent', text: answer });
    // A poll agent's message not answered yet: it waits in the agent's inbox, not in a queue.
    else if (opts.poll && r.status === 'queued') out.push({ id: `${r.id}-a`, from: 'platform', text: INBOX_WAITING, streaming: true, ...(requestId !== undefined ? { inboxRequestId: requestId } : {}) });
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

/** How many live activity lines the chat keeps (C278). */
export const ACTIVITY_WINDOW = 20;

/** One line of what the agent is doing while it works: a tool on a target, and how many times in a row. */
export interface ActivityLine {
  key: string;
  text: string;
  count: number;
}

/**
 * Adds a line to the chat's live activity feed (C278): a line that repeats the last one (the same
 * tool on the same target) bumps its count instead of adding a line; the feed keeps the last 20.
 */
export function pushActivityLine(lines: readonly ActivityLine[], text: string): ActivityLine[] {
  const last = lines[lines.length - 1];
  if (last && last.text === text) return [...lines.slice(0, -1), { ...last, count: last.count + 1 }];
  const next = [...lines, { key: `${Date.now()}-${lines.length}-${text}`, text, count: 1 }];
  return next.slice(-ACTIVITY_WINDOW);
}

/** The activity line an ACTIVITY_LOGGED payload reads as, when it is the agent's own work (a tool use, a task update). */
export function activityLineOf(payload: Record<string, unknown>): string | undefined {
  if (payload.activity_type !== 'agent_log' && payload.activity_type !== 'task_update') return undefined;
  const tool = typeof payload.method === 'string' && payload.method ? payload.method : undefined;
  const what = typeof payload.summary === 'string' && payload.summary ? payload.summary : undefined;
  if (!tool && !what) return undefined;
  if (tool && what) return what.startsWith(tool) ? what : `${tool}: ${what}`;
  return tool ?? what;
}
