import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  DiscoverResponse,
  ErrorBody,
  HeartbeatBody,
  HeartbeatResponse,
  Peer,
  RegisterBody,
  RegisterResponse,
  UpdateCardBody,
  UpdateCardResponse,
} from '@molecule/contracts';
import { bearerOf, requireWorkspaceAccess, resolvePrincipal, type AuthDeps } from '../auth/principal.js';
import { tokenKind } from '../auth/tokens.js';
import { forbidden, unauthorized } from '../http/errors.js';
import type { App } from '../http/types.js';
import { IdParams } from '../workspaces/routes.js';
import { HeartbeatWriter } from './heartbeat-writer.js';
import { discover, heartbeat, peers, register, updateCard, type RegistryDeps } from './service.js';

const INT32_MAX = 2_147_483_647;

/** The wire schema, bounded where the database column is (active_tasks is an integer column). */
const HeartbeatRequest = HeartbeatBody.extend({ active_tasks: z.number().int().min(0).max(INT32_MAX).default(0) });

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 410: ErrorBody, 503: ErrorBody };

type Hook = (req: FastifyRequest) => Promise<void>;

/**
 * onRequest for the agent routes: a workspace token is required (no bearer or an invalid one is
 * 401, an admin credential 403). Runs before the body is parsed, so an unauthenticated caller
 * learns nothing from validation errors. The handler then checks the token's workspace against
 * the id in the body (`requireOwn`).
 */
function requireAgentToken(deps: AuthDeps): Hook {
  return async (req) => {
    const p = await resolvePrincipal(deps, req);
    if (!p) throw unauthorized("workspace auth required: send the workspace's own bearer token");
    if (p.kind !== 'workspace') throw forbidden("registry calls need the workspace's own token, not an admin credential");
    req.principal = p;
  };
}

/**
 * onRequest for the heartbeat, the hot path: a workspace bearer is kept for the HeartbeatWriter,
 * which checks the tokens of concurrent beats in one statement with the shared predicate (401/403
 * as above). Anything else goes through `requireAgentToken` (401, or 403 for admin credentials).
 */
function deferAgentToken(deps: AuthDeps): Hook {
  const general = requireAgentToken(deps);
  return async (req) => {
    const bearer = bearerOf(req.headers.authorization);
    if (bearer !== undefined && tokenKind(bearer) === 'workspace') req.agentBearer = bearer;
    else await general(req);
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** A workspace bearer the heartbeat has yet to check (see deferAgentToken). */
    agentBearer?: string;
  }
}

/** The workspace the caller's token belongs to; another workspace's id is 403. */
function requireOwn(req: FastifyRequest, workspaceId: string): string {
  const p = req.principal;
  if (p?.kind !== 'workspace') throw unauthorized('workspace auth required');
  if (p.workspaceId !== workspaceId) throw forbidden('token does not belong to this workspace');
  return p.workspaceId;
}

/** Registry routes: what agents call to announce themselves, stay alive and find their peers. */
export function registerRegistryRoutes(app: App, routeDeps: RegistryDeps & AuthDeps): void {
  const agent = requireAgentToken(routeDeps);
  const heartbeatWriter = routeDeps.heartbeatWriter ?? new HeartbeatWriter(routeDeps.db, { onDatastoreError: routeDeps.onDatastoreError });
  const deps = { ...routeDeps, heartbeatWriter };
  // Beats answered from memory are written before the database closes.
  app.addHook('onClose', () => heartbeatWriter.close());

  app.post(
    '/registry/register',
    {
      config: { access: 'agent' },
      onRequest: agent,
      schema: {
        summary: 'An agent announces its URL and agent card',
        description:
          "Needs the workspace's own bearer. Never creates a workspace (404) and never revives a removed one (410). " +
          'Push delivery needs a URL that passes the SSRF policy. Answers the platform inbound secret on every call; no token is minted.',
        tags: ['registry'],
        body: RegisterBody,
        response: { 200: RegisterResponse, ...errors },
      },
    },
    async (req) => {
      requireOwn(req, req.body.id);
      return register(deps, req.body);
    },
  );

  app.post(
    '/registry/heartbeat',
    {
      config: { access: 'agent' },
      onRequest: deferAgentToken(routeDeps),
      // An invalid body with a deferred bearer checks that bearer alone first, so a caller with a
      // bad token learns 401, never how its body would have been validated.
      attachValidation: true,
      schema: {
        summary: 'An agent reports it is alive, with its load and health',
        description:
          'Evaluates the status (error rate >= 0.5 or runtime_state "wedged" degrades; < 0.1 recovers; offline, provisioning and ' +
          'awaiting_agent come back online), refreshes liveness and emits WORKSPACE_HEARTBEAT. Answers the inbound secret.',
        tags: ['registry'],
        body: HeartbeatRequest,
        response: { 200: HeartbeatResponse, ...errors },
      },
    },
    async (req) => {
      if (req.validationError) {
        if (req.agentBearer !== undefined) await agent(req);
        throw req.validationError;
      }
      // Without a deferred bearer, requireAgentToken has already refused the request.
      if (req.agentBearer === undefined) requireOwn(req, req.body.workspace_id);
      return heartbeat(deps, req.body, req.agentBearer);
    },
  );

  app.post(
    '/registry/update-card',
    {
      config: { access: 'agent' },
      onRequest: agent,
      schema: {
        summary: "Replace the workspace's agent card",
        tags: ['registry'],
        body: UpdateCardBody,
        response: { 200: UpdateCardResponse, ...errors },
      },
    },
    async (req) => {
      requireOwn(req, req.body.workspace_id);
      await updateCard(deps, req.body);
      return { status: 'updated' as const };
    },
  );

  app.get(
    '/registry/discover/:id',
    {
      config: { access: 'agent' },
      onRequest: agent,
      schema: {
        summary: 'Resolve the URL of a workspace the caller may talk to',
        description:
          'The caller is the workspace of the bearer; X-Workspace-ID, when sent, must name it. 403 unless the hierarchy rule allows ' +
          'the pair; 503 when the target is not running or has no safe URL.',
        tags: ['registry'],
        params: IdParams,
        headers: z.object({ 'x-workspace-id': z.uuid({ error: 'X-Workspace-ID must be a workspace ID' }).optional() }),
        response: { 200: DiscoverResponse, ...errors },
      },
    },
    async (req) => {
      const caller = req.principal?.kind === 'workspace' ? req.principal.workspaceId : undefined;
      if (!caller) throw unauthorized('workspace auth required');
      const claimed = req.headers['x-workspace-id'];
      if (claimed !== undefined && claimed !== caller) throw forbidden('X-Workspace-ID does not match the bearer token');
      return discover(deps, caller, req.params.id);
    },
  );

  app.get(
    '/registry/:id/peers',
    {
      config: { access: 'workspace' },
      onRequest: requireWorkspaceAccess(deps),
      schema: {
        summary: "A workspace's parent, siblings and children",
        description: 'Removed workspaces are excluded. `q` filters by name or role, case-insensitively.',
        tags: ['registry'],
        params: IdParams,
        querystring: z.object({ q: z.string().max(200).optional() }),
        response: { 200: z.array(Peer), ...errors },
      },
    },
    async (req) => peers(deps, req.params.id, req.query.q),
  );
}
