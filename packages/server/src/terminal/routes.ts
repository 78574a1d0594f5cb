import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ErrorBody, TERMINAL_MAX_SIZE, TerminalDiagnosis } from '@molecule/contracts';
import { serveTerminalSocket } from '@molecule/runtime/terminal-socket';
import { requireWorkspaceAccess, sessionCookieOf, type AuthDeps, type Principal } from '../auth/principal.js';
import { WS_MAX_BUFFERED_BYTES } from '../events/routes.js';
import { canCommunicate } from '../hierarchy/access.js';
import { badRequest, forbidden, HttpError, unauthorized } from '../http/errors.js';
import { sameOriginUpgrade } from '../http/origin.js';
import type { App } from '../http/types.js';
import type { WorkspaceTerminal } from '../provisioning/terminal.js';
import { requireLiveWorkspace } from '../workspaces/errors.js';
import type { WorkspaceRow } from '../workspaces/read.js';
import { diagnoseTerminal, terminalFor, TerminalSessions, type TerminalDeps } from './service.js';

const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const size = z.coerce.number().int().min(1).max(TERMINAL_MAX_SIZE);
const OpenQuery = z.object({ cols: size.default(80), rows: size.default(24) });
const ClaimHeaders = z.object({ 'x-workspace-id': z.uuid({ error: 'X-Workspace-ID must be a workspace ID' }).optional() });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 410: ErrorBody };
/** How long starting the shell may take. */
const OPEN_TIMEOUT_MS = 30_000;

export interface TerminalRouteDeps extends AuthDeps, TerminalDeps {
  /** MOLECULE_TERMINAL_IDLE_MS: no input from the client for this long closes the terminal. */
  idleMs: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    terminal?: { ws: WorkspaceRow; backend: WorkspaceTerminal; release: () => void };
  }
}

/** The credential a terminal is counted against: a token by its id, a canvas session by its hash. */
function credentialKey(p: Principal, session: string | undefined): string {
  if (p.kind === 'workspace') return `workspace-token:${p.tokenId}`;
  if (p.via === 'org_token') return `org-token:${p.orgTokenId}`;
  if (p.via === 'session') return `session:${createHash('sha256').update(session ?? '').digest('hex')}`;
  return 'admin-token';
}

/**
 * `GET /workspaces/:id/terminal` (WebSocket) and its diagnose (#13 part 5). Registered in the
 * WebSocket plugin's context (app.ts), beside `/ws`, with the same frame limit.
 */
export function registerTerminalRoutes(app: App, deps: TerminalRouteDeps): void {
  const wsAccess = requireWorkspaceAccess(deps);
  const sessions = new TerminalSessions();

  /** The workspace route's access rule, the origin check of a browser upgrade, and the hierarchy rule for a claimed caller. */
  const access = async (req: Parameters<typeof wsAccess>[0], reply: Parameters<typeof wsAccess>[1]) => {
    if (!sameOriginUpgrade(req)) throw forbidden('WebSocket upgrade refused: the Origin is not this platform');
    await wsAccess(req, reply);
    const p = req.principal!;
    const id = (req.params as { id: string }).id;
    const claimed = (req.headers as { 'x-workspace-id'?: string })['x-workspace-id'];
    if (claimed === undefined || claimed === id) return;
    if (!ClaimHeaders.shape['x-workspace-id'].safeParse(claimed).success) throw badRequest('X-Workspace-ID must be a workspace ID');
    // A workspace token speaks for its own workspace only (upstream's rule and wording).
    if (p.kind === 'workspace') throw unauthorized('invalid token for claimed workspace');
    const decision = await canCommunicate(deps.db, claimed, id);
    if (!decision.allowed) {
      req.log.info({ workspace_id: id, caller: claimed, reason: decision.reason }, 'terminal refused by the hierarchy rule');
      throw forbidden("not authorized to access this workspace's terminal");
    }
  };

  app.get(
    '/workspaces/:id/terminal',
    {
      websocket: true,
      config: { access: 'workspace' },
      onRequest: access,
      preHandler: async (req) => {
        // A plain GET would hold the credential's slot for as long as its keep-alive connection lives.
        if (req.headers.upgrade?.toLowerCase() !== 'websocket') throw new HttpError(426, 'this route is a WebSocket: send an upgrade request', 'invalid_request');
        const ws = await requireLiveWorkspace(deps.db, req.params.id);
        const backend = await terminalFor(deps, ws);
        const release = sessions.claim(credentialKey(req.principal!, sessionCookieOf(req)));
        req.terminal = { ws, backend, release };
        // An upgrade that never completes (a bad handshake) frees the slot when its socket goes.
        req.raw.socket.once('close', release);
      },
      schema: {
        summary: 'An interactive shell in the workspace (WebSocket)',
        tags: ['terminal'],
        params: IdParams,
        querystring: OpenQuery,
        headers: ClaimHeaders,
      },
    },
    (socket, req) => {
      const { ws, backend, release } = req.terminal!;
      const size = { cols: req.query.cols, rows: req.query.rows };
      serveTerminalSocket(socket, {
        open: (closed) => backend.open(ws, size, AbortSignal.any([closed, AbortSignal.timeout(OPEN_TIMEOUT_MS)])),
        idleMs: deps.idleMs,
        maxBufferedBytes: WS_MAX_BUFFERED_BYTES,
        log: req.log.child({ workspace_id: ws.id, caller: req.principal!.label }),
        onClose: release,
      });
    },
  );

  app.get(
    '/workspaces/:id/terminal/diagnose',
    {
      config: { access: 'workspace' },
      onRequest: access,
      schema: {
        summary: "Run the terminal's pipeline without a session",
        description:
          'Each stage of opening a terminal, run non-interactively with its outcome and time (C228): on Docker `docker-client`, `container-found`, `container-running`, `exec-probe` (C230); on the process backend `workspace-dir`, `agent-running`, `pty-probe`; on the control plane `agent-running`, `agent-reachable`, `pty-probe` (through the agent). Always 200 once the caller may see the workspace: `first_failure` names the first broken stage, absent when all pass.',
        tags: ['terminal'],
        params: IdParams,
        headers: ClaimHeaders,
        response: { 200: TerminalDiagnosis, ...errors },
      },
    },
    async (req) => diagnoseTerminal(deps, await requireLiveWorkspace(deps.db, req.params.id)),
  );
}
