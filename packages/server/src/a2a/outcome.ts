import type { Readable } from 'node:stream';
import { isRecord, type A2ARequestError, type BudgetBlock, type QueueStatus, type WorkspaceStatus } from '@molecule/contracts';
import type { DispatchFailure } from './dispatch.js';

/** The agent was dialled and the exchange failed: a transport failure, or a non-2xx answer. */
export type AgentFailure =
  /** `phase`: `send` before any answer headers arrived, `read` while reading the answer body. */
  | { kind: 'failed'; failure: DispatchFailure; phase: 'send' | 'read' }
  | { kind: 'agent_error'; status: number; answer: unknown; raw: Buffer };

/**
 * What became of one A2A request, in domain terms: the proxy decides it, the HTTP route, the queue
 * drain and delegations each read it (none of them re-parses an HTTP answer).
 */
export type ProxyOutcome =
  /** The agent answered 2xx, or the queue holds its earlier answer to this messageId (C058). */
  | { kind: 'answered'; status: number; answer: unknown; raw: Buffer }
  | { kind: 'streaming'; status: number; contentType: string; body: Readable }
  /** The target is busy and the message waits in the queue; `duplicate`: it was already there (C058). */
  | { kind: 'queued'; queueId: string; queueStatus: QueueStatus; depth?: number; duplicate: boolean }
  /** A poll-mode target fetches its work; nothing was dialled (C052). */
  | { kind: 'poll_queued'; method: string }
  /** Busy and not queued: the runtime owns its sessions (C045), or there is no messageId to queue by. */
  | { kind: 'busy'; nativeSession: boolean }
  /** The agent is gone: the workspace went offline and restarts in the background (C047, C059). */
  | { kind: 'restarting'; cause: AgentFailure }
  /** The target was hibernated; the message woke it. */
  | { kind: 'waking' }
  /** The target has no URL yet (it is starting, stopped or failed). */
  | { kind: 'not_ready'; status: WorkspaceStatus }
  | AgentFailure
  /** Refused before dispatch: unknown or removed target, hierarchy (C057), budget (C051; `budget`: the limit that refused it). */
  | { kind: 'refused'; reason: 'not_found' | 'gone' | 'forbidden' | 'budget_exceeded'; detail?: string; budget?: BudgetBlock }
  /** The messageId was handled before and ended failed or expired; a new messageId retries. */
  | { kind: 'already_handled'; queueId: string; queueStatus: QueueStatus }
  /** The messageId is the queue's key for another message: nothing is sent or queued. */
  | { kind: 'message_id_reused'; queueId: string }
  /** The request is not valid A2A (C054-C056, C061). */
  /**
   * A request refused before dispatch. `ownParam`: the refused field is the platform's own (the
   * agent never sees it, e.g. expires_in_seconds), so it is the proxy's refusal (HTTP 400), not an
   * A2A error (HTTP 200).
   */
  | { kind: 'invalid'; error: A2ARequestError; ownParam?: true };

/** A safe, human sentence for each failure of a dispatch. */
export function failureMessage(f: DispatchFailure): string {
  switch (f) {
    case 'idle_timeout':
      return 'the agent went quiet past the idle timeout';
    case 'ceiling':
      return 'the agent-to-agent time ceiling passed';
    case 'unreachable':
      return 'the agent could not be reached';
    case 'headers_timeout':
      return 'the agent did not answer in time';
    case 'connection_lost':
      return 'the connection to the agent was lost';
    case 'socket_lost':
      return "the agent's connection closed before it answered";
    case 'unsafe_url':
      return 'the agent URL is not allowed';
    case 'too_large':
      return 'the agent answer was too large';
    case 'other':
      return 'the agent request failed';
  }
}

/**
 * C043: a dispatch our own timers cut off (the idle timeout, the ceiling, no answer headers in time),
 * or whose outbound agent socket closed mid-request (#15: it reconnects), means the agent is busy, not gone: the message is queued and delivered again later, which an
 * agent that deduplicates by messageId answers from its first delivery. Typed, never by message text.
 */
export const isBusyTimeout = (f: DispatchFailure): boolean => f === 'idle_timeout' || f === 'ceiling' || f === 'headers_timeout' || f === 'socket_lost';

/** The JSON-RPC error message of an agent's answer, if it carries one. */
function rpcErrorMessage(answer: unknown): string | undefined {
  if (!isRecord(answer)) return undefined;
  if (typeof answer.error === 'string') return answer.error;
  if (isRecord(answer.error) && typeof answer.error.message === 'string') return answer.error.message;
  return undefined;
}

/** Whether an agent's answer is a JSON-RPC error (an answer to the caller, not a result). */
export function isRpcError(answer: unknown): boolean {
  return isRecord(answer) && answer.error !== undefined;
}

/**
 * The safe message a caller is told for an outcome that is not a result: the `error` of the HTTP
 * answer, a failed delegation's error. Never carries internals (agent bodies other than a JSON-RPC
 * error message are not quoted).
 */
export function outcomeError(o: ProxyOutcome): string {
  switch (o.kind) {
    case 'answered':
      return rpcErrorMessage(o.answer) ?? `HTTP ${o.status}`;
    case 'agent_error':
      return (isRecord(o.answer) && 'jsonrpc' in o.answer ? rpcErrorMessage(o.answer) : undefined) ?? `agent answered HTTP ${o.status}`;
    case 'failed':
      if (o.phase === 'read' && (o.failure === 'too_large' || o.failure === 'other')) return 'failed to read agent response';
      if (o.failure === 'unsafe_url') return 'workspace URL is not publicly routable';
      if (isBusyTimeout(o.failure)) return `${failureMessage(o.failure)}; the request was cancelled`;
      if (o.failure === 'connection_lost') return 'the connection to the agent was lost; it may have received the message';
      return 'failed to reach workspace agent';
    case 'restarting':
      return 'workspace agent unreachable; restart triggered';
    case 'waking':
      return 'workspace is waking from hibernation; retry in ~15 seconds';
    case 'not_ready':
      return `workspace agent is not reachable yet (status ${o.status})`;
    case 'busy':
      return o.nativeSession ? 'workspace agent busy; the adapter handles retry (native_session)' : 'workspace agent busy; retry after a short backoff';
    case 'refused':
      switch (o.reason) {
        case 'not_found':
          return 'workspace not found';
        case 'gone':
          return 'workspace was removed';
        case 'forbidden':
          return 'access denied: workspaces cannot communicate per hierarchy rules';
        case 'budget_exceeded':
          return o.budget?.scope === 'team' ? 'team budget limit exceeded' : 'workspace budget limit exceeded';
      }
      break;
    case 'already_handled':
      return `this message was already handled (${o.queueStatus}); send a new messageId to try again`;
    case 'message_id_reused':
      return 'this messageId was already used for a different message; send a new messageId';
    case 'invalid':
      return o.error.message;
    case 'queued':
      return o.duplicate ? 'this message is already queued' : 'workspace agent busy; request queued, will dispatch when capacity is available';
    case 'poll_queued':
      return `${o.method} queued for a poll-mode agent`;
    case 'streaming':
      return `HTTP ${o.status}`;
  }
  return 'the request failed';
}

/** What a queue delivery ended in, for the queue's bookkeeping. */
export type Delivery =
  | { outcome: 'delivered'; status: number; body: unknown }
  | { outcome: 'busy' }
  | { outcome: 'failed'; error: string; retryable: boolean };

function agentFailureDelivery(f: AgentFailure): { error: string; retryable: boolean } {
  if (f.kind === 'agent_error') return { error: `agent answered HTTP ${f.status}`, retryable: f.status >= 500 };
  // A failure while reading the answer comes after the agent took the message: never resent. A busy
  // timeout is resent (an attempt): the agent may still be working, and dedupes by messageId.
  return { error: failureMessage(f.failure), retryable: (f.phase === 'send' && f.failure === 'unreachable') || isBusyTimeout(f.failure) };
}

/**
 * The queue's view of a delivery: delivered (completed with the answer), busy (the agent refused
 * before starting: not an attempt), or failed, retryable when the agent cannot have started the
 * work (it was unreachable or not up yet).
 */
export function deliveryOf(o: ProxyOutcome): Delivery {
  switch (o.kind) {
    case 'answered':
      return { outcome: 'delivered', status: o.status, body: o.answer ?? null };
    case 'streaming':
      return { outcome: 'delivered', status: o.status, body: null };
    case 'busy':
      return { outcome: 'busy' };
    case 'poll_queued':
      // Handed to a poll agent's inbox (its socket did not come back): delivered there; the item
      // keeps the answer a direct message to a poll agent gets (C052).
      return { outcome: 'delivered', status: 200, body: { status: 'queued', delivery_mode: 'poll', method: o.method } };
    case 'failed':
    case 'agent_error':
      return { outcome: 'failed', ...agentFailureDelivery(o) };
    case 'restarting':
      if (o.cause.kind === 'agent_error') return { outcome: 'failed', error: `agent answered HTTP ${o.cause.status} and is not running; restart triggered`, retryable: true };
      return { outcome: 'failed', ...agentFailureDelivery(o.cause) };
    case 'waking':
      return { outcome: 'failed', error: 'workspace has no URL (status hibernated)', retryable: true };
    case 'not_ready':
      return { outcome: 'failed', error: `workspace has no URL (status ${o.status})`, retryable: true };
    default:
      return { outcome: 'failed', error: outcomeError(o), retryable: false };
  }
}
