import { describe, expect, it } from 'vitest';
import { normalizeA2ARequest } from './a2a.js';
import { loadA2ACorpus } from './test-support/a2a-corpus.js';

type Msg = { parts?: { text?: string }[]; messageId?: unknown; content?: unknown };

describe('A2A request corpus (v0.2, v0.3, v1)', () => {
  const cases = loadA2ACorpus();
  it('covers every dialect with accepted and refused shapes', () => {
    for (const v of ['0.2', '0.3', '1.0']) {
      expect(cases.some((c) => c.version === v && c.expect.ok)).toBe(true);
      expect(cases.some((c) => c.version === v && !c.expect.ok)).toBe(true);
    }
  });

  it.each(cases.map((c) => [c.name, c] as const))('C054 C055 C056 %s', (_name, c) => {
    const r = normalizeA2ARequest(c.body);
    if (c.expect.ok) {
      expect(r.ok, JSON.stringify(r)).toBe(true);
      if (!r.ok) return;
      const msg = r.value.request.params.message as Msg | undefined;
      if (c.expect.text !== undefined) {
        expect((msg?.parts ?? []).map((p) => p.text ?? '').join('')).toBe(c.expect.text);
        expect(typeof msg?.messageId).toBe('string');
        expect(msg).not.toHaveProperty('content');
      }
    } else {
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error.code).toBe(c.expect.code);
      expect(r.error.field).toBe(c.expect.field);
    }
  });
});
