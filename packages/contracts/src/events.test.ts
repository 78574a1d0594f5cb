import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asPlatformEvent, EVENT_TYPES, PlatformEvent } from './events.js';
import { readRuntimeMetadata, RuntimeMetadata } from './registry.js';

const valid = fc.record({
  type: fc.constantFrom(...EVENT_TYPES),
  workspace_id: fc.oneof(fc.uuid(), fc.constant(null)),
  payload: fc.dictionary(fc.string(), fc.jsonValue()),
  at: fc.string(),
  seq: fc.oneof(fc.integer(), fc.constant(null)),
});

/** Events with one field broken at a time, and values that are no event at all. */
const broken = fc.oneof(
  fc.tuple(valid, fc.constantFrom('type', 'workspace_id', 'payload', 'at', 'seq'), fc.jsonValue()).map(([e, k, v]) => ({ ...e, [k]: v })),
  fc.tuple(valid, fc.constantFrom('type', 'workspace_id', 'payload', 'at', 'seq')).map(([e, k]) => {
    const copy: Record<string, unknown> = { ...e };
    delete copy[k];
    return copy;
  }),
  valid.map((e) => ({ ...e, seq: 1.5 })),
  valid.map((e) => ({ ...e, seq: Number.MAX_SAFE_INTEGER + 2 })),
  valid.map((e) => ({ ...e, workspace_id: 'not-a-uuid' })),
  valid.map((e) => ({ ...e, payload: [] })),
  valid.map((e) => ({ ...e, extra: 'dropped' })),
  fc.jsonValue(),
);

describe('asPlatformEvent', () => {
  it('gives the schema verdict and output on valid, broken and random values', () => {
    fc.assert(
      fc.property(fc.oneof(valid, broken), (v) => {
        const parsed = PlatformEvent.safeParse(v);
        expect(asPlatformEvent(v)).toEqual(parsed.success ? parsed.data : undefined);
      }),
      { seed: 9, numRuns: 2000 },
    );
  });

  it('drops fields the envelope does not have', () => {
    const e = { type: 'WORKSPACE_HEARTBEAT', workspace_id: null, payload: {}, at: 'now', seq: null, extra: 1 };
    expect(asPlatformEvent(e)).toEqual({ type: 'WORKSPACE_HEARTBEAT', workspace_id: null, payload: {}, at: 'now', seq: null });
  });
});

describe('readRuntimeMetadata', () => {
  const metadata = fc.record(
    {
      capabilities: fc.oneof(fc.dictionary(fc.string(), fc.boolean()), fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue()),
      idle_timeout_seconds: fc.oneof(fc.integer(), fc.double(), fc.constant(Number.MAX_SAFE_INTEGER + 2), fc.jsonValue()),
      other: fc.jsonValue(),
    },
    { requiredKeys: [] },
  );
  it('gives the schema verdict and output', () => {
    fc.assert(
      fc.property(fc.oneof(metadata, fc.jsonValue()), (v) => {
        const parsed = RuntimeMetadata.safeParse(v);
        expect(readRuntimeMetadata(v)).toEqual(parsed.success ? parsed.data : undefined);
      }),
      { seed: 9, numRuns: 2000 },
    );
  });

  it('skips an own __proto__ key whatever it holds, as the schema does', () => {
    const v: unknown = JSON.parse('{"capabilities":{"__proto__":5,"scheduler":true}}');
    expect(readRuntimeMetadata(v)).toEqual(RuntimeMetadata.parse(v));
    expect(readRuntimeMetadata(v)).toEqual({ capabilities: { scheduler: true } });
  });
});
