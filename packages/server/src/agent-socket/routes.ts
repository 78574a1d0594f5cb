import { EXTERNAL_RUNTIME } from '@molecule/contracts';
import { requireOwnWorkspaceToken, type AuthDeps } from '../auth/principal.js';
import { conflict, HttpError } from '../http/errors.js';
import type { App } from '../http/types.js';
import { requireLiveWorkspace } from '../workspaces/errors.js';
import { IdParams } from '../workspaces/routes.js';
import type { AgentSockets } from './registry.js';

/** How often the platform pings an agent socket; a socket that missed the previous pong is cut. */
export const AGENT_SOCKET_PING_MS = 30_000;

export interface AgentSocketRouteDeps extends AuthDeps {
  sockets: AgentSockets;
  pingMs?: number;
}

/**
 * `GET /workspaces/:id/agent-socket` (WebSocket, #15): an external workspace's agent connects out to
 * the platform with its own token and is pushed its A2A requests over the connection (frames in
 * agent-socket.ts). Every refusal is plain HTTP before the upgrade: no or a revoked token 401,
 * another workspace's token or an admin credential 403, unknown 404, removed 410, a workspace that
 * is not external 409, a plain GET 426. Registered in a WebSocket context whose frame limit fits an A2A answer.
 */
export function registerAgentSocketRoute(app: App, deps: AgentSocketRouteDeps): void {
  const own = requireOwnWorkspaceToken(deps);
  const pingMs = deps.pingMs ?? AGENT_SOCKET_PING_MS;
  app.get(
    '/workspaces/:id/agent-socket',
    {
      websocket: true,
      config: { access: 'credential' },
      onRequest: own,
      preHandler: async (req) => {
        if (req.headers.upgrade?.toLowerCase() !== 'websocket') throw new HttpError(426, 'this route is a WebSocket: send an upgrade request', 'invalid_request');
        const ws = await requireLiveWorkspace(deps.db, req.params.id);
        if (ws.runtime !== EXTERNAL_RUNTIME) throw conflict('only an external workspace connects its agent over a socket');
      },
      schema: {
        summary: "An external agent's outbound connection (WebSocket)",
        description:
          'The agent of an external workspace connects here with its own token and receives its A2A requests as `a2a_request` frames, answering each with an `a2a_response` frame of the same id; the proxy prefers this socket over the workspace URL, for push and poll agents alike. One socket per workspace: a newer one wins and the older is closed with code 4000. Requests in flight when a socket closes are queued and delivered once after the agent reconnects.',
        tags: ['a2a'],
        params: IdParams,
      },
    },
    (socket, req) => {
      const workspaceId = req.params.id;
      const log = req.log.child({ workspace_id: workspaceId });
      let alive = true;
      socket.on('pong', () => (alive = true));
      const ping = setInterval(() => {
        if (!alive) {
          log.info('agent socket missed a pong: closing it');
          socket.terminate();
          return;
        }
        alive = false;
        socket.ping();
      }, pingMs);
      ping.unref();
      socket.once('close', (code, reason) => {
        clearInterval(ping);
        log.info({ code, reason: reason.toString('utf8') }, 'agent socket closed');
      });
      socket.on('error', (err) => log.warn({ err }, 'agent socket error'));
      deps.sockets.attach(workspaceId, socket);
      log.info('agent socket connected');
    },
  );
}
