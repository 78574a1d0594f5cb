import { describe, expect, it } from 'vitest';
import { describeAnswer } from './answers.js';
import { ACTIVITY_WINDOW, activityLineOf, INBOX_WAITING, attachmentsOf, foldStreamEvent, historyLines, pushActivityLine, sseFrames, type ActivityLine } from './chat.js';

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

  it("history of a poll agent: a message it has not answered waits in its inbox, with the request id its reply will carry", () => {
    const rows = [
      { id: '2', request_body: { ...sendBody('later'), id: 'req-2' }, response_body: null, status: 'queued', error_detail: null },
      { id: '1', request_body: sendBody('first'), response_body: finalEvent('done'), status: 'ok', error_detail: null },
    ];
    expect(historyLines(rows, { poll: true }).slice(2)).toEqual([
      { id: '2-q', from: 'user', text: 'later' },
      { id: '2-a', from: 'platform', text: INBOX_WAITING, streaming: true, inboxRequestId: 'req-2' },
    ]);
    // A push agent's queued row is a busy agent's queue, as before.
    expect(historyLines(rows).at(-1)).toEqual({ id: '2-a', from: 'platform', text: 'The agent was busy; the message was queued.' });
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

  it('C277 attachments: entries without a non-empty string uri and name, or with an unsafe scheme, are dropped', () => {
    const good = { uri: 'workspace:/workspace/report.pdf', name: 'report.pdf', mimeType: 'application/pdf', size: 2048 };
    expect(
      attachmentsOf([
        good,
        { uri: 'https://example.com/a.png', name: 'a.png' },
        { uri: '', name: 'empty-uri' },
        { uri: 'workspace:/x', name: '   ' },
        { uri: 42, name: 'not a string' },
        { uri: 'workspace:/y', name: ['y'] },
        { uri: 'javascript:alert(1)', name: 'evil' },
        { uri: 'file:///etc/passwd', name: 'local' },
        'workspace:/bare-string',
        null,
        { uri: 'workspace:/z', name: 'z', size: -1, mimeType: '' },
      ]),
    ).toEqual([good, { uri: 'https://example.com/a.png', name: 'a.png' }, { uri: 'workspace:/z', name: 'z' }]);
    expect(attachmentsOf('not a list')).toEqual([]);
    expect(attachmentsOf(undefined)).toEqual([]);
  });

  it('C277 file chips come back on reload from the notify row\'s response_body.parts', () => {
    const rows = [
      {
        id: 'n1',
        method: 'notify',
        response_body: { result: 'Here is the report', parts: [{ kind: 'file', file: { uri: 'workspace:/workspace/report.pdf', name: 'report.pdf', size: 10 } }, { kind: 'file', file: { uri: '', name: 'bad' } }] },
        status: 'ok',
        error_detail: null,
      },
      { id: 'q1', request_body: sendBody('hello'), response_body: finalEvent('echo: hello'), status: 'ok', error_detail: null },
    ];
    expect(historyLines(rows)).toEqual([
      { id: 'q1-q', from: 'user', text: 'hello' },
      { id: 'q1-a', from: 'agent', text: 'echo: hello' },
      { id: 'n1-n', from: 'agent', text: 'Here is the report', attachments: [{ uri: 'workspace:/workspace/report.pdf', name: 'report.pdf', size: 10 }] },
    ]);
  });

  it('C278 the live activity feed keeps the last 20 lines and collapses consecutive duplicates (same tool on the same target)', () => {
    let lines: ActivityLine[] = [];
    lines = pushActivityLine(lines, 'Read: README.md');
    lines = pushActivityLine(lines, 'Read: README.md');
    lines = pushActivityLine(lines, 'Read: README.md');
    lines = pushActivityLine(lines, 'Edit: README.md');
    lines = pushActivityLine(lines, 'Read: README.md');
    expect(lines.map((l) => [l.text, l.count])).toEqual([
      ['Read: README.md', 3],
      ['Edit: README.md', 1],
      ['Read: README.md', 1],
    ]);
    for (let i = 0; i < 30; i++) lines = pushActivityLine(lines, `Step ${i}`);
    expect(lines).toHaveLength(ACTIVITY_WINDOW);
    expect(lines[0]!.text).toBe('Step 10');
    expect(lines.at(-1)!.text).toBe('Step 29');
  });

  it('C278 the lines come from the agent\'s own tool-use and task rows, not from its messages', () => {
    expect(activityLineOf({ activity_type: 'agent_log', method: 'Read', summary: 'README.md' })).toBe('Read: README.md');
    expect(activityLineOf({ activity_type: 'agent_log', method: 'Work', summary: 'Work: second' })).toBe('Work: second');
    expect(activityLineOf({ activity_type: 'task_update', summary: 'halfway' })).toBe('halfway');
    expect(activityLineOf({ activity_type: 'a2a_receive', method: 'message/send', summary: 'hi' })).toBeUndefined();
    expect(activityLineOf({ activity_type: 'agent_log' })).toBeUndefined();
  });
});
