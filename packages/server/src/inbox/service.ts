import { randomUUID } from 'node:crypto';
import { ACTIVITY_STATUS_QUEUED, isRecord, textOfParts, type InboxMessage, type InboxResponse, type PlatformEvent } from '@molecule/contracts';
import { CURSOR_GONE, inboxRows, type ActivityRow } from '../activity/service.js';
import type { AppDeps } from '../deps.js';
import { conflict, gone, notFound } from '../errors.js';

/** What the inbox touches: the activity log that holds the messages, and the bus that says when one arrives or is answered. */
export type InboxDeps = Pick<AppDeps, 'db' | 'bus' | 'broadcaster' | 'log'>;

/** v1 (`SendMessage`) senders get a v1 answer; every other method a v0.3 one. */
const V1_SEND_METHODS: ReadonlySet<string> = new Set(['SendMessage', 'SendStreamingMessage']);

/** The `params.message` of a recorded request, when it has one. */
function messageOf(request: unknown): Record<string, unknown> | undefined {
  if (!isRecord(request) || !isRecord(request.params)) return undefined;
  return isRecord(request.params.message) ? request.params.message : undefined;
}

/** The inbox view of an `a2a_receive` row. */
export function toInboxMessage(row: ActivityRow): InboxMessage {
  const message = messageOf(row.request_body);
  const parts = Array.isArray(message?.parts) ? (message.parts as unknown[]) : [];
  return {
    id: row.id,
    method: row.method ?? '',
    message_id: typeof message?.messageId === 'string' ? message.messageId : null,
    kind: row.source_id === null ? 'canvas_user' : 'peer_agent',
    from_id: row.source_id,
    text: textOfParts(parts, '\n') ?? '',
    parts,
    created_at: row.created_at,
  };
}

/**
 * Resolves true when the bus carries an event `match` accepts (or reports a gap: it may have been
 * missed), false after `ms` or when `signal` aborts. The subscription is taken at once, so an
 * event published after this call and before the caller's next read is not lost.
 */
export function nextEvent(bus: InboxDeps['bus'], match: (e: PlatformEvent) => boolean, signal?: AbortSignal): { wait(ms: number): Promise<boolean>; cancel(): void } {
  let seen = false;
  let wake: ((hit: boolean) => void) | undefined;
  const hit = () => {
    seen = true;
    wake?.(true);
  };
  const unsubscribe = bus.subscribe((e) => {
    if (match(e)) hit();
  });
  const unGap = bus.onGap(hit);
  const cancel = () => {
    unsubscribe();
    unGap();
  };
  return {
    cancel,
    wait: (ms) =>
      new Promise<boolean>((resolve) => {
        if (seen || signal?.aborted || ms <= 0) {
          cancel();
          resolve(seen);
          return;
        }
        const done = (v: boolean) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          wake = undefined;
          cancel();
          resolve(v);
        };
        const onAbort = () => done(false);
        const timer = setTimeout(() => done(false), ms);
        wake = done;
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
  };
}

const isNewMessage = (workspaceId: string) => (e: PlatformEvent) =>
  e.type === 'ACTIVITY_LOGGED' && e.workspace_id === workspaceId && e.payload.activity_type === 'a2a_receive' && e.payload.status === ACTIVITY_STATUS_QUEUED;

/**
 * `GET /workspaces/:id/inbox`: the unanswered messages of the workspace, oldest first (after
 * `sinceId` when given). With `waitSeconds` > 0 and nothing to return, waits on the event bus until
 * a message arrives (any replica may have recorded it) or the wait ends, then answers, possibly
 * empty. A cursor that is not one of this workspace's rows is 410, as for the activity log.
 */
export async function readInbox(
  deps: InboxDeps,
  workspaceId: string,
  opts: { waitSeconds: number; sinceId?: string; limit: number; signal?: AbortSignal },
): Promise<InboxResponse> {
  if (opts.sinceId !== undefined && !(await inboxRows.cursorExists(deps.db, workspaceId, opts.sinceId))) throw gone(CURSOR_GONE);
  const deadline = Date.now() + opts.waitSeconds * 1000;
  const query = { limit: opts.limit, ...(opts.sinceId !== undefined ? { sinceId: opts.sinceId } : {}) };
  for (;;) {
    // Listening before reading: a message recorded between the read and the wait still wakes it.
    const arrival = opts.waitSeconds > 0 ? nextEvent(deps.bus, isNewMessage(workspaceId), opts.signal) : undefined;
    const rows = await inboxRows.queued(deps.db, workspaceId, query).catch((err: unknown) => {
      arrival?.cancel();
      throw err;
    });
    const left = deadline - Date.now();
    if (rows.length > 0 || !arrival || left <= 0 || opts.signal?.aborted) {
      arrival?.cancel();
      return { messages: rows.map(toInboxMessage), cursor: rows.at(-1)?.id ?? opts.sinceId ?? null };
    }
    if (!(await arrival.wait(left))) return { messages: [], cursor: opts.sinceId ?? null };
  }
}

/** The JSON-RPC answer a reply makes of `text`, in the sender's dialect, under the sender's request id. */
export function replyAnswer(request: unknown, text: string): Record<string, unknown> {
  const req = isRecord(request) ? request : {};
  const id = typeof req.id === 'string' || typeof req.id === 'number' ? req.id : null;
  const contextId = messageOf(request)?.contextId;
  const context = typeof contextId === 'string' ? { contextId } : {};
  const messageId = randomUUID();
  if (typeof req.method === 'string' && V1_SEND_METHODS.has(req.method)) {
    return { jsonrpc: '2.0', id, result: { message: { messageId, role: 'ROLE_AGENT', parts: [{ text }], ...context } } };
  }
  return { jsonrpc: '2.0', id, result: { kind: 'message', role: 'agent', messageId, parts: [{ kind: 'text', text }], ...context } };
}

/**
 * `POST /workspaces/:id/inbox/:message_id/reply`: answers one message of the workspace's inbox
 * with `text`. The sender's `message/send`, if it still waits (on any replica), completes with it
 * (A2A_REPLIED on the bus); a user sender's canvas also gets A2A_RESPONSE, as for a push agent.
 * Not a message of this workspace: not_found (another workspace's message looks the same, so ids
 * cannot be probed); already answered: conflict. Either way nothing changes.
 */
export async function replyToMessage(deps: InboxDeps, workspaceId: string, messageId: string, text: string): Promise<ActivityRow> {
  const row = await inboxRows.get(deps.db, workspaceId, messageId);
  if (!row) throw notFound("message not found in this workspace's inbox");
  if (row.status !== ACTIVITY_STATUS_QUEUED) throw conflict('this message was already answered');
  const answer = replyAnswer(row.request_body, text);
  const answered = await inboxRows.answer(deps.db, workspaceId, messageId, answer);
  // Another reply won the race between the read and the write.
  if (!answered) throw conflict('this message was already answered');
  const payload = { id: answered.id, source_id: answered.source_id, method: answered.method };
  await deps.broadcaster.broadcastOnly('A2A_REPLIED', workspaceId, payload).catch((err: unknown) => deps.log.error({ err, workspace_id: workspaceId }, 'A2A_REPLIED broadcast failed'));
  if (answered.source_id === null) {
    await deps.broadcaster
      .broadcastOnly('A2A_RESPONSE', workspaceId, { method: answered.method, duration_ms: answered.duration_ms, response_body: answer })
      .catch((err: unknown) => deps.log.error({ err, workspace_id: workspaceId }, 'A2A_RESPONSE broadcast failed'));
  }
  return answered;
}

/**
 * Waits up to `seconds` for the agent's reply to the recorded message `id` (the proxy's side of a
 * poll-mode `message/send`): its stored answer, or undefined when none came in time. The row is
 * read again after the wait, so a reply whose event this replica missed still counts.
 */
export async function awaitReply(deps: InboxDeps, workspaceId: string, id: string, seconds: number, signal?: AbortSignal): Promise<unknown> {
  const replied = nextEvent(deps.bus, (e) => e.type === 'A2A_REPLIED' && e.workspace_id === workspaceId && e.payload.id === id, signal);
  const row = await inboxRows.get(deps.db, workspaceId, id);
  if (row && row.status === ACTIVITY_STATUS_QUEUED) await replied.wait(seconds * 1000);
  else replied.cancel();
  const now = row?.status === ACTIVITY_STATUS_QUEUED ? await inboxRows.get(deps.db, workspaceId, id) : row;
  return now && now.status !== ACTIVITY_STATUS_QUEUED ? now.response_body : undefined;
}
