import { createServer } from 'node:net';

/**
 * A loopback port nothing listens on right now (bound, then released). Another process may take it
 * before the caller binds it; callers that hand it on accept that race.
 */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const addr = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  if (typeof addr !== 'object' || addr === null) throw new Error('could not get a free port');
  return addr.port;
}
