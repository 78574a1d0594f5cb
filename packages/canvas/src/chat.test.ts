import { describe, expect, it } from 'vitest';
import { describeAnswer } from './answers.js';
import { foldStreamEvent, historyLines, sseFrames } from './chat.js';

const sendBody = (text: string) => ({ jsonrpc: '2.0', id: 1, method: 'message/stream', params: { message: { kind: 'message', role: 'user', messageId: 'm', parts: [{ kind: 'text', text }] } } });
const finalEvent = (text: string) => ({ jsonrpc: '2.0', id: 1, result: { kind: 'status-update', final: true, status: { state: 'completed', message: { kind: 'message', role: 'agent', parts: [{ kind: 'text', text }] } } } });

describe('chat', () => {
  it('history: oldest first, each question with its answer; unanswered ones say why', () => {
    const rows = [
      { id: '3', request_body: sendBody('third'), response_body: null, status: 'busy', error_detail: 'idle_timeout' },
      { id: '2', request_body: sendBody('second'), response_body: finalEvent('echo: second'), status: 'ok', error_detail: null },
      { id: '1', request_body: { params: {} }, response_body: null, status: 'ok', error_detail: null },
    ];
    expect(historyLines(rows).map((l) => [l.from, l.text])).toEqual([
      ['user', 'second'],
      ['agent', 'echo: second'],
      ['user', 'third'],
      ['platform', 'The agent was busy; the message was queued.'],
    ]);
  });

  it('a stream folds into the reply: chunks append, the final status gives the whole text, an error stops it', () => {
    const chunk = (text: string, append: boolean) => ({ result: { kind: 'artifact-update', append, artifact: { parts: [{ kind: 'text', text }] } } });
    let r = foldStreamEvent('', { result: { kind: 'task', status: { state: 'submitted' } } }).reply;
    r = foldStreamEvent(r, chunk('ech', false)).reply;
    r = foldStreamEvent(r, chunk('o: hi', true)).reply;
    expect(r).toBe('echo: hi');
    expect(foldStreamEvent(r, finalEvent('echo: hi!')).reply).toBe('echo: hi!');
    expect(foldStreamEvent(r, { error: { code: -32603, message: 'boom' } })).toEqual({ reply: r, error: 'boom' });
  });

  it('SSE frames split at blank lines, across reads and CRLF; the unfinished rest is kept', () => {
    const a = sseFrames('data: {"a":1}\r\n\r\ndata: {"b"');
    expect(a).toEqual({ events: [{ a: 1 }], rest: 'data: {"b"' });
    expect(sseFrames(`${a.rest}:2}\n\n: ping\n\ndata: nope\n\n`)).toEqual({ events: [{ b: 2 }], rest: '' });
  });

  it('the platform\'s answers in words: queued, restarting, busy, too large, errors', () => {
    expect(describeAnswer(202, { queued: true, queue_id: 'q1' })).toContain('queued (q1)');
    expect(describeAnswer(503, { restarting: true, retry_after: 15 })).toBe('The agent is restarting; try again in 15 s.');
    expect(describeAnswer(503, { busy: true, native_session: true, retry_after: 30 })).toBe('The agent is busy; try again in 30 s.');
    expect(describeAnswer(413, { error: 'body too large' })).toBe('The message is too large.');
    expect(describeAnswer(200, { jsonrpc: '2.0', error: { code: -32602, message: 'bad params' } })).toBe('The agent answered with an error: bad params');
    expect(describeAnswer(403, { error: 'forbidden', code: 'forbidden' })).toBe('forbidden');
  });
});
