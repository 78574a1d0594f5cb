import { randomUUID } from 'node:crypto';
import type { InboxMessage, InboxResponse } from '@molecule/contracts';
import type { InboxClient } from './mcp-bridge.js';

/** What the bridge's inbox tools use: read unanswered messages, answer one. */
export type BridgeInbox = Pick<InboxClient, 'read' | 'reply'>;

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Methods a bridge agent answers with text; anything else pushed is refused at once. */
const SEND_METHODS: ReadonlySet<string> = new Set(['message/send', 'SendMessage']);
const V1_METHODS: ReadonlySet<string> = new Set(['SendMessage', 'SendStreamingMessage']);

interface Pushed {
  seq: number;
  message: InboxMessage;
  request: Json;
  answer(r: { status: number; body: unknown }): void;
}

/**
 * molecule-mcp's inbox when its agent socket is connected (#15): requests the platform pushes over
 * the socket wait here until the agent replies (the reply answers the push, which completes the
 * sender's request), beside the poll inbox over HTTP, which stays the fallback for messages recorded
 * while the socket was down. `read` with a `sinceId` returns only what no earlier cursored read
 * returned (each source keeps its own cursor); without one, every unanswered message of both.
 */
export class PushedInbox implements BridgeInbox {
  readonly #pending = new Map<string, Pushed>();
  #seq = 0;
  #shownSeq = 0;
  #httpCursor: string | undefined;
  #wake: (() => void) | undefined;

  constructor(private readonly http: BridgeInbox) {}

  /** The socket client's handler: a pushed request, answered when the agent replies to it. */
  push(request: unknown, meta: { callerId: string | null; signal?: AbortSignal } = { callerId: null }): Promise<{ status: number; body: unknown }> {
    const req = isRecord(request) ? request : {};
    const id = typeof req.id === 'string' || typeof req.id === 'number' ? req.id : null;
    const method = typeof req.method === 'string' ? req.method : '';
    if (!SEND_METHODS.has(method)) {
      return Promise.resolve({ status: 200, body: { jsonrpc: '2.0', id, error: { code: -32601, message: `${method || 'this method'} is not supported by this agent` } } });
    }
    const params = isRecord(req.params) ? req.params : {};
    const msg = isRecord(params.message) ? params.message : {};
    const parts = Array.isArray(msg.parts) ? (msg.parts as unknown[]) : [];
    const messageId = typeof msg.messageId === 'string' ? msg.messageId : null;
    const from = meta.callerId;
    return new Promise((resolve) => {
      // A redelivery of a message still waiting (its socket dropped): the new push takes the answer.
      const again = messageId === null ? undefined : [...this.#pending.values()].find((p) => p.message.message_id === messageId);
      if (again) {
        again.answer = resolve;
        return;
      }
      const text = parts
        .map((p) => (isRecord(p) && typeof p.text === 'string' ? p.text : ''))
        .filter((t) => t !== '')
        .join('\n');
      const message: InboxMessage = { id: randomUUID(), method, message_id: messageId, kind: from ? 'peer_agent' : 'canvas_user', from_id: from, text, parts, created_at: new Date().toISOString() };
      this.#pending.set(message.id, { seq: ++this.#seq, message, request: req, answer: resolve });
      // The platform gave up on it (its idle timeout passed): it leaves the inbox; a late reply is 404.
      meta.signal?.addEventListener(
        'abort',
        () => {
          const p = this.#pending.get(message.id);
          if (!p || p.answer !== resolve) return;
          this.#pending.delete(message.id);
          resolve({ status: 499, body: null });
        },
        { once: true },
      );
      this.#wake?.();
    });
  }

  #local(onlyNew: boolean): InboxMessage[] {
    const list = [...this.#pending.values()].filter((p) => !onlyNew || p.seq > this.#shownSeq);
    if (onlyNew && list.length > 0) this.#shownSeq = list.at(-1)!.seq;
    return list.map((p) => p.message);
  }

  async read(opts: { waitSeconds: number; sinceId?: string; signal?: AbortSignal }): Promise<InboxResponse> {
    const onlyNew = opts.sinceId !== undefined;
    if (!onlyNew) {
      const got = await this.http.read({ waitSeconds: 0, ...(opts.signal ? { signal: opts.signal } : {}) });
      const messages = [...got.messages, ...this.#local(false)];
      if (messages.length > 0 || opts.waitSeconds === 0) {
        // A wait (the agent's first, with no cursor yet) has shown them; a look (get_messages) has not.
        if (opts.waitSeconds > 0) this.#shownSeq = this.#seq;
        return { messages, cursor: messages.at(-1)?.id ?? null };
      }
    } else {
      const local = this.#local(true);
      if (local.length > 0) return { messages: local, cursor: local.at(-1)!.id };
    }
    // Nothing waiting (an agent's first wait has no cursor yet): wait for a push or for the poll
    // inbox, whichever comes first, as the poll inbox alone would.
    const stop = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    const pushed = new Promise<'push'>((resolve) => (this.#wake = () => resolve('push')));
    const since = onlyNew ? this.#httpCursor : undefined;
    const polled = this.http.read({ waitSeconds: opts.waitSeconds, signal, ...(since !== undefined ? { sinceId: since } : {}) });
    try {
      const first = await Promise.race([pushed, polled]);
      if (first === 'push') {
        stop.abort();
        polled.catch(() => undefined);
        const list = this.#local(true);
        return { messages: list, cursor: list.at(-1)?.id ?? null };
      }
      if (first.messages.length > 0) this.#httpCursor = first.messages.at(-1)!.id;
      return first;
    } catch (err) {
      // The poll cursor's message was pruned: start that source again (the caller sees a 410 once, as without a socket).
      if ((err as { status?: unknown }).status === 410) this.#httpCursor = undefined;
      throw err;
    } finally {
      this.#wake = undefined;
    }
  }

  async reply(messageId: string, text: string, signal?: AbortSignal): Promise<void> {
    const p = this.#pending.get(messageId);
    if (!p) return this.http.reply(messageId, text, signal);
    this.#pending.delete(messageId);
    const id = p.request.id ?? null;
    const contextId = isRecord(p.request.params) && isRecord(p.request.params.message) ? p.request.params.message.contextId : undefined;
    const context = typeof contextId === 'string' ? { contextId } : {};
    const result = V1_METHODS.has(p.message.method)
      ? { message: { messageId: randomUUID(), role: 'ROLE_AGENT', parts: [{ text }], ...context } }
      : { kind: 'message', role: 'agent', messageId: randomUUID(), parts: [{ kind: 'text', text }], ...context };
    p.answer({ status: 200, body: { jsonrpc: '2.0', id, result } });
  }
}
