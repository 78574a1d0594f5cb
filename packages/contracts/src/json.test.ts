import { isLegacyJsonRpcMethod, isV1JsonRpcMethod, legacyJsonRpcToV1Method } from '@a2a-js/sdk/compat/v0_3';
import { describe, expect, it } from 'vitest';
import { V03_TO_V1_METHODS } from './a2a.js';
import { isRecord, jsonHoldsUnstorable, parseJson, textOfParts } from './json.js';

describe('shared value helpers', () => {
  it('parseJson answers undefined for anything that is not JSON, from text or bytes', () => {
    expect(parseJson('{"a":1}')).toEqual({ a: 1 });
    expect(parseJson(new TextEncoder().encode('[1,2]'))).toEqual([1, 2]);
    expect(parseJson('{nope')).toBeUndefined();
    expect(parseJson('')).toBeUndefined();
  });

  it('isRecord accepts plain objects only', () => {
    expect(isRecord({})).toBe(true);
    expect(isRecord([])).toBe(false);
    expect(isRecord(null)).toBe(false);
    expect(isRecord('x')).toBe(false);
  });

  it('textOfParts joins the text of either dialect and bare strings, and says when there is none', () => {
    expect(textOfParts([{ kind: 'text', text: 'a' }, { text: 'b' }, 'c', { kind: 'file' }])).toBe('abc');
    expect(textOfParts([{ text: 'a' }, { text: 'b' }], '\n')).toBe('a\nb');
    expect(textOfParts([{ kind: 'data', data: 1 }, { text: '' }])).toBeUndefined();
    expect(textOfParts([{ text: 'a' }, { text: '' }, { text: 'b' }], '\n')).toBe('a\nb');
    expect(textOfParts('text')).toBeUndefined();
  });

  it('jsonHoldsUnstorable finds U+0000 and unpaired surrogates in any string or key, not an escaped backslash or a pair', () => {
    const holds = (text: string) => jsonHoldsUnstorable(text, JSON.parse(text));
    expect(holds('{"a":[1,{"b":"x\\u0000y"}]}')).toBe(true);
    expect(holds('{"k\\u0000":1}')).toBe(true);
    expect(holds('"\\u0000"')).toBe(true);
    expect(holds('{"a":"\\\\u0000"}')).toBe(false);
    expect(holds('{"a":"plain"}')).toBe(false);
    expect(holds('["a\\ud800b"]')).toBe(true);
    expect(holds('["\\udc00"]')).toBe(true);
    expect(holds('["\\ud83d\\ude00", "\\u00e9"]')).toBe(false);
  });
});

describe('A2A method names', () => {
  // The contracts keep their own table (no SDK dependency for two lookups); it must match the SDK's.
  it('match the official SDK in both dialects', () => {
    for (const [v03, v1] of Object.entries(V03_TO_V1_METHODS)) {
      expect(isLegacyJsonRpcMethod(v03)).toBe(true);
      expect(isV1JsonRpcMethod(v1)).toBe(true);
      expect(legacyJsonRpcToV1Method(v03)).toBe(v1);
    }
    expect(isV1JsonRpcMethod('ListTasks')).toBe(true);
  });
});
