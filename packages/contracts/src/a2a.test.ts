import { describe, expect, it } from 'vitest';
import { answersAsStream, normalizeA2ARequest, type NormalizedA2ARequest } from './a2a.js';

const rpc = (method: string, params: unknown, id: unknown = 1) => ({ jsonrpc: '2.0', id, method, params });

function ok(body: unknown): NormalizedA2ARequest {
  const r = normalizeA2ARequest(body);
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
}

const message = (n: NormalizedA2ARequest) => n.request.params.message as Record<string, unknown>;

describe('normalizeA2ARequest: dialect and method kind', () => {
  it.each([
    ['message/send', 'v0.3', 'send'],
    ['message/stream', 'v0.3', 'stream'],
    ['tasks/get', 'v0.3', 'other'],
    ['tasks/cancel', 'v0.3', 'other'],
    ['tasks/resubscribe', 'v0.3', 'other'],
    ['SendMessage', 'v1', 'send'],
    ['SendStreamingMessage', 'v1', 'stream'],
    ['GetTask', 'v1', 'other'],
    ['CancelTask', 'v1', 'other'],
    ['ListTasks', 'v1', 'other'],
  ] as const)('%s -> %s, %s', (method, dialect, kind) => {
    const params = kind === 'other' ? { id: 't1' } : { message: { parts: [{ kind: 'text', text: 'hi' }] } };
    const n = ok(rpc(method, params));
    expect(n).toMatchObject({ dialect, kind, id: 1, request: { jsonrpc: '2.0', id: 1, method } });
  });

  it('wraps a body without jsonrpc (as the platform proxy does) and keeps its id', () => {
    const n = ok({ id: 'abc', method: 'message/send', params: { message: { content: 'hi' } } });
    expect(n.request).toMatchObject({ jsonrpc: '2.0', id: 'abc', method: 'message/send' });
  });
});

describe('normalizeA2ARequest: messages into the v0.3 dialect (C054)', () => {
  it.each([
    ['v0.2 string content', { role: 'user', content: 'hi' }, [{ kind: 'text', text: 'hi' }]],
    ['v0.2 list content', { content: [{ type: 'text', text: 'a' }, 'b'] }, [{ kind: 'text', text: 'a' }, { kind: 'text', text: 'b' }]],
    ['parts tagged with type', { parts: [{ type: 'text', text: 'hi' }] }, [{ kind: 'text', text: 'hi' }]],
    ['v0.3 parts unchanged', { parts: [{ kind: 'text', text: 'hi', metadata: { a: 1 } }] }, [{ kind: 'text', text: 'hi', metadata: { a: 1 } }]],
    ['v1 untagged parts', { parts: [{ text: 'hi' }, { url: 'https://x/f.pdf', filename: 'f.pdf', mediaType: 'application/pdf' }, { data: { k: 1 } }] }, [
      { kind: 'text', text: 'hi' },
      { kind: 'file', file: { uri: 'https://x/f.pdf', name: 'f.pdf', mimeType: 'application/pdf' } },
      { kind: 'data', data: { k: 1 } },
    ]],
    ['v0.3 file with bytes', { parts: [{ kind: 'file', file: { bytes: 'aGk=', name: 'hi.txt' } }] }, [{ kind: 'file', file: { bytes: 'aGk=', name: 'hi.txt' } }]],
    ['a bare string message', 'hi', [{ kind: 'text', text: 'hi' }]],
  ])('%s', (_name, msg, parts) => {
    const m = message(ok(rpc('message/send', { message: msg })));
    expect(m.parts).toEqual(parts);
    expect(m.kind).toBe('message');
    expect(m.role).toBe('user');
    expect(m).not.toHaveProperty('content');
  });

  it('fills a missing messageId and keeps a given one', () => {
    const a = message(ok(rpc('message/send', { message: { content: 'hi' } })));
    expect(a.messageId).toMatch(/^[0-9a-f-]{36}$/);
    const b = message(ok(rpc('message/send', { message: { messageId: 'm-1', content: 'hi' } })));
    expect(b.messageId).toBe('m-1');
  });

  it('maps v1 roles and returnImmediately to v0.3 spellings', () => {
    const n = ok(rpc('message/send', { message: { role: 'ROLE_AGENT', parts: [{ text: 'x' }] }, configuration: { returnImmediately: true } }));
    expect(message(n).role).toBe('agent');
    expect(n.request.params.configuration).toEqual({ blocking: false });
  });

  it('keeps the ids, metadata and references of the message', () => {
    const m = message(ok(rpc('message/send', { message: { content: 'x', taskId: 't', contextId: 'c', metadata: { history: [] }, referenceTaskIds: ['r'] } })));
    expect(m).toMatchObject({ taskId: 't', contextId: 'c', metadata: { history: [] }, referenceTaskIds: ['r'] });
  });
});

describe('normalizeA2ARequest: messages into the v1 dialect', () => {
  it.each([
    ['v0.3 kind parts', { role: 'user', parts: [{ kind: 'text', text: 'hi' }] }, [{ text: 'hi' }]],
    ['v0.2 content string', { content: 'hi' }, [{ text: 'hi' }]],
    ['v0.3 file by uri', { parts: [{ kind: 'file', file: { uri: 'workspace:/workspace/a.txt', name: 'a.txt', mimeType: 'text/plain' } }] }, [
      { url: 'workspace:/workspace/a.txt', filename: 'a.txt', mediaType: 'text/plain' },
    ]],
    ['v0.2 data part', { parts: [{ type: 'data', data: [1, 2] }] }, [{ data: [1, 2] }]],
    ['v1 parts unchanged', { role: 'ROLE_USER', parts: [{ text: 'hi' }, { raw: 'aGk=' }] }, [{ text: 'hi' }, { raw: 'aGk=' }]],
  ])('%s', (_name, msg, parts) => {
    const m = message(ok(rpc('SendMessage', { message: msg })));
    expect(m.parts).toEqual(parts);
    expect(m.role).toBe('ROLE_USER');
    expect(m).not.toHaveProperty('kind');
  });

  it('maps blocking to returnImmediately', () => {
    const n = ok(rpc('SendStreamingMessage', { message: { content: 'x' }, configuration: { blocking: false, historyLength: 2 } }));
    expect(n.request.params.configuration).toEqual({ returnImmediately: true, historyLength: 2 });
  });
});

describe('normalizeA2ARequest: task methods', () => {
  it('accepts taskId for id on tasks/get and CancelTask', () => {
    expect(ok(rpc('tasks/get', { taskId: 't1' })).request.params).toEqual({ id: 't1' });
    expect(ok(rpc('CancelTask', { taskId: 't1' })).request.params).toEqual({ id: 't1' });
  });

  it('skips the message checks for methods without a message (C055)', () => {
    expect(ok(rpc('ListTasks', {})).request.params).toEqual({});
    expect(ok(rpc('tasks/get', { id: 'x' })).kind).toBe('other');
  });

  it('accepts the bounds it checks: historyLength 0, pageSize 1 and 100, RFC 3339 timestamps with a zone', () => {
    expect(ok(rpc('GetTask', { id: 't', historyLength: 0 })).request.params.historyLength).toBe(0);
    expect(ok(rpc('ListTasks', { pageSize: 1, statusTimestampAfter: '2026-01-31T10:00:00.5+02:00' })).kind).toBe('other');
    expect(ok(rpc('ListTasks', { pageSize: 100, statusTimestampAfter: '2024-02-29T00:00:00Z' })).kind).toBe('other');
  });

  it('C055 passes a method neither dialect defines through as sent (tasks/list, an agent\'s own)', () => {
    const list = ok(rpc('tasks/list', { contextId: 'c1', pageSize: 5 }, 'r1'));
    expect(list).toEqual({ dialect: null, kind: 'other', id: 'r1', request: { jsonrpc: '2.0', id: 'r1', method: 'tasks/list', params: { contextId: 'c1', pageSize: 5 } } });
    expect(ok(rpc('acme/doThing', { message: 42 })).request.params).toEqual({ message: 42 });
  });

  it('streamed answers: message/stream, SendStreamingMessage and the resubscriptions, nothing else', () => {
    const streams = (method: string, params: Record<string, unknown> = {}) => answersAsStream(ok(rpc(method, params)));
    expect(['message/stream', 'SendStreamingMessage'].map((m) => streams(m, { message: { content: 'x' } }))).toEqual([true, true]);
    expect(['tasks/resubscribe', 'SubscribeToTask'].map((m) => streams(m, { id: 't' }))).toEqual([true, true]);
    expect(['message/send', 'tasks/get', 'ListTasks', 'tasks/list'].map((m) => streams(m, m.includes('send') ? { message: { content: 'x' } } : { id: 't' }))).toEqual([false, false, false, false]);
  });

  it('C056 a bare body (no envelope, no id) gets a generated id; an explicit null id stays null', () => {
    const bare = ok({ method: 'message/send', params: { message: { content: 'hi' } } });
    expect(bare.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(bare.request.id).toBe(bare.id);
    expect(ok({ jsonrpc: '2.0', id: null, method: 'tasks/get', params: { id: 't' } }).id).toBeNull();
  });
});

describe('normalizeA2ARequest: rejects bad shapes naming the field (C055)', () => {
  it.each([
    ['not an object', 'hi', -32600, undefined],
    ['an array', [1], -32600, undefined],
    ['wrong jsonrpc', { jsonrpc: '1.0', id: 1, method: 'message/send' }, -32600, 'jsonrpc'],
    ['no method', { jsonrpc: '2.0', id: 1 }, -32600, 'method'],
    ['params not an object', rpc('message/send', [1]), -32602, 'params'],
    ['no message', rpc('message/send', {}), -32602, 'params.message'],
    ['neither content nor parts', rpc('message/send', { message: { role: 'user' } }), -32602, 'params.message.parts'],
    ['integer content', rpc('message/send', { message: { content: 42 } }), -32602, 'params.message.content'],
    ['boolean content', rpc('SendMessage', { message: { content: true } }), -32602, 'params.message.content'],
    ['empty parts', rpc('message/send', { message: { parts: [] } }), -32602, 'params.message.parts'],
    ['parts not a list', rpc('message/send', { message: { parts: 'hi' } }), -32602, 'params.message.parts'],
    ['a numeric part', rpc('message/send', { message: { parts: ['ok', 7] } }), -32602, 'params.message.parts[1]'],
    ['text part without text', rpc('message/send', { message: { parts: [{ kind: 'text' }] } }), -32602, 'params.message.parts[0].text'],
    ['file part without uri or bytes', rpc('message/send', { message: { parts: [{ kind: 'file', file: { name: 'x' } }] } }), -32602, 'params.message.parts[0].file'],
    ['unknown part kind', rpc('message/send', { message: { parts: [{ kind: 'video' }] } }), -32602, 'params.message.parts[0]'],
    ['bad role', rpc('message/send', { message: { role: 'root', content: 'x' } }), -32602, 'params.message.role'],
    ['non-string messageId', rpc('message/send', { message: { messageId: 5, content: 'x' } }), -32602, 'params.message.messageId'],
    ['a negative historyLength', rpc('tasks/get', { id: 't', historyLength: -1 }), -32602, 'params.historyLength'],
    ['a fractional historyLength', rpc('GetTask', { id: 't', historyLength: 1.5 }), -32602, 'params.historyLength'],
    ['a string historyLength', rpc('ListTasks', { historyLength: '3' }), -32602, 'params.historyLength'],
    ['a negative configuration.historyLength', rpc('message/send', { message: { content: 'x' }, configuration: { historyLength: -2 } }), -32602, 'params.configuration.historyLength'],
    ['pageSize 0', rpc('ListTasks', { pageSize: 0 }), -32602, 'params.pageSize'],
    ['pageSize 101', rpc('ListTasks', { pageSize: 101 }), -32602, 'params.pageSize'],
    ['a timestamp that is not one', rpc('ListTasks', { statusTimestampAfter: 'yesterday' }), -32602, 'params.statusTimestampAfter'],
    ['a date that does not exist', rpc('ListTasks', { statusTimestampAfter: '2026-02-30T10:00:00Z' }), -32602, 'params.statusTimestampAfter'],
    ['a timestamp without a zone', rpc('ListTasks', { statusTimestampAfter: '2026-01-31T10:00:00' }), -32602, 'params.statusTimestampAfter'],
  ])('%s', (_name, body, code, field) => {
    const r = normalizeA2ARequest(body);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe(code);
    expect(r.error.field).toBe(field);
  });

  it('echoes a valid id on errors and nulls an invalid one', () => {
    const a = normalizeA2ARequest(rpc('message/send', {}, 'req-7'));
    const b = normalizeA2ARequest(rpc('message/send', {}, { not: 'an id' }));
    expect(!a.ok && a.error.id).toBe('req-7');
    expect(!b.ok && b.error.id).toBeNull();
  });
});
