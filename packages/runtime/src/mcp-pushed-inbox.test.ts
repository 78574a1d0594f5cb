import { describe, expect, it } from 'vitest';
import type { InboxResponse } from '@molecule/contracts';
import { PushedInbox, type BridgeInbox } from './mcp-pushed-inbox.js';

/** The poll inbox over HTTP, as a stub: empty unless told, recording replies. */
function polled(messages: InboxResponse['messages'] = []) {
  const replies: [string, string][] = [];
  const inbox: BridgeInbox = {
    read: async (opts) =>
      new Promise((resolve) => {
        if (messages.length > 0 || opts.waitSeconds === 0) return resolve({ messages, cursor: messages.at(-1)?.id ?? null });
        opts.signal?.addEventListener('abort', () => resolve({ messages: [], cursor: null }));
      }),
    reply: async (id, text) => {
      replies.push([id, text]);
    },
  };
  return { inbox, replies };
}

const send = (text: string, messageId = 'm-1', method = 'message/send') => ({ jsonrpc: '2.0', id: 'rpc-1', method, params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text }] } } });

describe('molecule-mcp pushed inbox (#15)', () => {
  it('a push waits in the inbox; the reply answers it in the sender dialect, under its request id', async () => {
    const { inbox: http } = polled();
    const inbox = new PushedInbox(http);
    const waiting = inbox.read({ waitSeconds: 30, sinceId: 'x' });
    const answer = inbox.push(send('hello'), { callerId: 'mate' });
    const got = await waiting;
    expect(got.messages).toEqual([expect.objectContaining({ text: 'hello', kind: 'peer_agent', from_id: 'mate', message_id: 'm-1' })]);
    // A cursored read does not show it again; an uncursored one shows every unanswered message.
    expect((await inbox.read({ waitSeconds: 0, sinceId: got.cursor! })).messages).toEqual([]);
    expect((await inbox.read({ waitSeconds: 0 })).messages).toHaveLength(1);
    await inbox.reply(got.messages[0]!.id, 'hi back');
    expect(await answer).toEqual({ status: 200, body: { jsonrpc: '2.0', id: 'rpc-1', result: { kind: 'message', role: 'agent', messageId: expect.any(String), parts: [{ kind: 'text', text: 'hi back' }] } } });
    expect((await inbox.read({ waitSeconds: 0 })).messages).toEqual([]);
  });

  it("an agent's first wait (no cursor yet) with nothing waiting waits for the push instead of answering empty at once", async () => {
    const inbox = new PushedInbox(polled().inbox);
    const waiting = inbox.read({ waitSeconds: 30 });
    let settled = false;
    void waiting.then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    void inbox.push(send('first'), { callerId: 'mate' });
    const got = await waiting;
    expect(got.messages).toEqual([expect.objectContaining({ text: 'first', from_id: 'mate' })]);
    // Shown once: the next cursored read has nothing new.
    expect((await inbox.read({ waitSeconds: 0, sinceId: got.cursor! })).messages).toEqual([]);
  });

  it('a redelivered message (same messageId) is one inbox entry whose reply answers the newest push', async () => {
    const inbox = new PushedInbox(polled().inbox);
    const first = inbox.push(send('once', 'dup'));
    const second = inbox.push(send('once', 'dup', 'SendMessage'));
    const list = (await inbox.read({ waitSeconds: 0 })).messages;
    expect(list).toHaveLength(1);
    await inbox.reply(list[0]!.id, 'done');
    expect((await second).body).toMatchObject({ result: { kind: 'message', parts: [{ text: 'done' }] } });
    let settled = false;
    void first.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
  });

  it('refuses methods it cannot answer at once, and hands replies to unknown ids to the poll inbox', async () => {
    const { inbox: http, replies } = polled();
    const inbox = new PushedInbox(http);
    expect(await inbox.push({ jsonrpc: '2.0', id: 3, method: 'tasks/get', params: {} })).toEqual({ status: 200, body: { jsonrpc: '2.0', id: 3, error: { code: -32601, message: 'tasks/get is not supported by this agent' } } });
    await inbox.reply('row-7', 'via http');
    expect(replies).toEqual([['row-7', 'via http']]);
  });

  it('the poll inbox still serves messages recorded while the socket was down', async () => {
    const row = { id: 'row-1', method: 'message/send', message_id: null, kind: 'canvas_user' as const, from_id: null, text: 'polled', parts: [], created_at: 'now' };
    const inbox = new PushedInbox(polled([row]).inbox);
    expect((await inbox.read({ waitSeconds: 5, sinceId: 'x' })).messages).toEqual([row]);
  });

  it('a push the platform cancels (a2a_cancel) leaves the inbox; a late reply to it goes to the HTTP inbox, which does not know it', async () => {
    const { inbox: http, replies } = polled();
    const inbox = new PushedInbox(http);
    const abort = new AbortController();
    const answer = inbox.push(send('never mind'), { callerId: null, signal: abort.signal });
    const got = await inbox.read({ waitSeconds: 0 });
    expect(got.messages).toHaveLength(1);
    abort.abort(new Error('cancelled'));
    expect(await answer).toEqual({ status: 499, body: null });
    expect((await inbox.read({ waitSeconds: 0 })).messages).toEqual([]);
    await inbox.reply(got.messages[0]!.id, 'too late');
    expect(replies).toEqual([[got.messages[0]!.id, 'too late']]);
  });
});
