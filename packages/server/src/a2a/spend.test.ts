import { describe, expect, it } from 'vitest';
import { MAX_TOKENS_PER_ANSWER, usageOf } from './spend.js';

describe('usageOf: the token counts an agent reported in an answer', () => {
  const u = { input_tokens: 120, output_tokens: 7 };
  it.each([
    ['result.usage (upstream)', { jsonrpc: '2.0', id: 1, result: { kind: 'task', usage: u } }],
    ['a top-level usage (upstream)', { jsonrpc: '2.0', id: 1, result: {}, usage: u }],
    ['OpenAI names', { result: { usage: { prompt_tokens: 120, completion_tokens: 7 } } }],
    ['the result metadata', { result: { kind: 'message', metadata: { usage: u } } }],
    ["a v0.3 task's final status message (molecule-agent)", { result: { kind: 'task', status: { state: 'completed', message: { metadata: { usage: u } } } } }],
    ['a v0.3 final status-update event', { result: { kind: 'status-update', final: true, status: { message: { metadata: { usage: u } } } } }],
    ['a v1 task', { result: { task: { status: { message: { metadata: { usage: u } } } } } }],
    ['a v1 status update', { result: { statusUpdate: { status: { message: { metadata: { usage: u } } } } } }],
    ['a v1 message', { result: { message: { metadata: { usage: u } } } }],
  ])('reads %s', (_where, answer) => {
    expect(usageOf(answer)).toEqual(u);
  });

  it.each([
    ['no usage anywhere', { result: { kind: 'task', status: { state: 'completed' } } }],
    ['zero counts', { result: { usage: { input_tokens: 0, output_tokens: 0 } } }],
    ['counts that are not numbers or negative', { result: { metadata: { usage: { input_tokens: '5', output_tokens: -3 } } } }],
    ['not an object', 'usage'],
    ['null', null],
  ])('finds nothing in %s', (_what, answer) => {
    expect(usageOf(answer)).toBeUndefined();
  });

  it('caps absurd counts, so a buggy agent cannot wreck the budget math', () => {
    expect(usageOf({ result: { usage: { input_tokens: 1e15, output_tokens: 2.7 } } })).toEqual({ input_tokens: MAX_TOKENS_PER_ANSWER, output_tokens: 2 });
  });
});
