import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { SSE_TAP_MAX_EVENT_BYTES, tapLastSseEvent } from './sse-tap.js';

const tapped = async (chunks: string[]) => {
  let last: unknown = 'never called';
  let calls = 0;
  const out = await text(
    tapLastSseEvent(Readable.from(chunks.map((c) => Buffer.from(c))), (l) => {
      last = l;
      calls++;
    }),
  );
  return { out, last, calls };
};

describe('the SSE tap', () => {
  it('passes every byte through and keeps the last complete event, across chunk boundaries and CRLF', async () => {
    const chunks = ['data: {"a":', '1}\r\n\r\nevent: x\ndata: {"b"', ':2}\n\n: comment\n\n'];
    const r = await tapped(chunks);
    expect(r.out).toBe(chunks.join(''));
    expect(r).toMatchObject({ last: { b: 2 }, calls: 1 });
  });

  it('a last event without its blank line still counts; a non-JSON or oversize event is not kept', async () => {
    expect((await tapped(['data: {"a":1}\n\ndata: {"z":9}'])).last).toEqual({ z: 9 });
    expect((await tapped(['data: {"a":1}\n\ndata: not json\n\n'])).last).toEqual({ a: 1 });
    expect((await tapped(['data: {"a":1}\n\n', `data: "${'x'.repeat(SSE_TAP_MAX_EVENT_BYTES + 10)}"`])).last).toEqual({ a: 1 });
    expect((await tapped([])).last).toBeUndefined();
  });
});
