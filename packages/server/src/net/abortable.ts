/**
 * Resolves with `p`, or rejects with the signal's reason when `signal` fires first: for awaited work
 * that takes no signal of its own (a DNS lookup, a query, a backend that ignores its signal). `p` is
 * always observed, so a late failure of abandoned work is never unhandled. A deadline is
 * `abortable(p, AbortSignal.timeout(ms))`.
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
