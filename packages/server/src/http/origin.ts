import type { FastifyRequest } from 'fastify';

/**
 * Whether a WebSocket upgrade may proceed from the page that asked for it. Browsers send the cookie
 * of the platform's session with a cross-origin upgrade from the same site (another port of
 * localhost), and WebSockets have no CORS: so a browser upgrade must come from the platform's own
 * origin (Origin's host:port equal to Host). No Origin at all is a non-browser client, which must
 * hold a bearer or a session anyway. Fail-closed: an Origin that does not parse is refused.
 */
export function sameOriginUpgrade(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || origin === '') return true;
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host === req.headers.host;
  } catch {
    return false;
  }
}
