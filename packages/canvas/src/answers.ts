import { isRecord } from '@molecule/contracts';
import { INBOX_WAITING } from './chat.js';

/** What a non-streamed answer to a chat message says, in words (queued, restarting, busy, errors). */
export function describeAnswer(status: number, body: unknown): string {
  const b = isRecord(body) ? body : {};
  if (status === 200 && b.delivery_mode === 'poll') return INBOX_WAITING;
  if (status === 202 && b.queued === true) return `The agent is busy: your message is queued (${String(b.queue_id ?? '')}) and will be delivered when it frees up.`;
  if (status === 503 && b.restarting === true) return `The agent is restarting; try again in ${String(b.retry_after ?? 15)} s.`;
  if (status === 503 && b.native_session === true) return `The agent is busy; try again in ${String(b.retry_after ?? 30)} s.`;
  if (status === 413) return 'The message is too large.';
  if (isRecord(b.error)) return `The agent answered with an error: ${String(b.error.message ?? '')}`;
  if (typeof b.error === 'string') return b.error;
  return `HTTP ${status}`;
}
