import { Transform, type Readable } from 'node:stream';
import { parseJson, sseEventData } from '@molecule/contracts';

/** The largest SSE event the tap keeps (a bigger one is passed through, not remembered). */
export const SSE_TAP_MAX_EVENT_BYTES = 1024 * 1024;

/**
 * Passes an SSE stream through unchanged and remembers its last complete `data:` event, parsed as
 * JSON, for the activity log (a streamed answer's last event carries the final state and reply).
 * `onEnd` gets it (or undefined) once, when the stream ends or is torn down.
 */
export function tapLastSseEvent(body: Readable, onEnd: (last: unknown) => void): Readable {
  let pending = '';
  let last: unknown;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    onEnd(last);
  };
  const take = (frame: string) => {
    const data = sseEventData(frame);
    if (data === '') return;
    const parsed = parseJson(data);
    if (parsed !== undefined) last = parsed;
  };
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      pending += chunk.toString('utf8').replace(/\r\n/g, '\n');
      let i: number;
      while ((i = pending.indexOf('\n\n')) >= 0) {
        take(pending.slice(0, i));
        pending = pending.slice(i + 2);
      }
      if (pending.length > SSE_TAP_MAX_EVENT_BYTES) pending = '';
      cb(null, chunk);
    },
    flush(cb) {
      if (pending.trim() !== '') take(pending);
      cb();
    },
  });
  tap.once('end', finish);
  tap.once('close', finish);
  body.once('error', (err) => tap.destroy(err));
  tap.once('close', () => {
    if (!body.destroyed) body.destroy();
  });
  return body.pipe(tap);
}
