import { z } from 'zod';
import { ErrorBody, Status, TokenView } from '@molecule/contracts';
import { notFound, unauthorized } from '../http/errors.js';
import type { App } from '../http/types.js';
import type { Broadcaster } from '../events/broadcaster.js';
import { getWorkspace } from '../workspaces/read.js';
import { removedError } from '../workspaces/errors.js';
import { requireAdmin, requireWorkspaceAccess, SESSION_COOKIE, sessionCookieOf, type AuthDeps } from './principal.js';
import {
  createSession,
  listOrgTokens,
  listWorkspaceTokens,
  mintOrgToken,
  revokeOrgToken,
  revokeSession,
  revokeWorkspaceToken,
} from './repo.js';
import { matchesHash } from './tokens.js';
import { mintAnotherToken } from './credentials.js';

const OrgTokenView = TokenView.extend({ name: z.string(), created_by: z.string() });
const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

export interface AuthRouteDeps extends AuthDeps {
  broadcaster: Broadcaster;
  sessionTtlSeconds: number;
  orgTokenMintPerHour: number;
  secureCookies: boolean;
  /** MOLECULE_ENABLE_TEST_TOKENS (never true in production): GET /admin/workspaces/:id/test-token answers. */
  enableTestTokens: boolean;
}

export function registerAuthRoutes(app: App, deps: AuthRouteDeps): void {
  const admin = requireAdmin(deps);
  const wsAccess = requireWorkspaceAccess(deps);

  app.post(
    '/auth/login',
    {
      config: { access: 'open', rateLimit: { max: 20, timeWindow: '1 minute' } },
      schema: {
        summary: 'Start a canvas session',
        description: 'Exchanges the admin token for an HttpOnly, SameSite=Strict session cookie.',
        tags: ['auth'],
        body: z.strictObject({ token: z.string().min(1).max(1024) }),
        response: { 200: z.object({ status: z.literal('ok'), expires_at: z.string() }), 400: ErrorBody, 401: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!matchesHash(req.body.token, deps.adminTokenHash)) throw unauthorized('invalid admin token');
      const s = await createSession(deps.db, deps.sessionTtlSeconds);
      reply.setCookie(SESSION_COOKIE, s.token, {
        httpOnly: true,
        sameSite: 'strict',
        secure: deps.secureCookies,
        path: '/',
        expires: s.expiresAt,
      });
      return { status: 'ok' as const, expires_at: s.expiresAt.toISOString() };
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { access: 'open' },
      schema: { summary: 'End the canvas session', tags: ['auth'], response: { 200: z.object({ status: z.literal('ok') }) } },
    },
    async (req, reply) => {
      const s = sessionCookieOf(req);
      if (s) await revokeSession(deps.db, s);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return { status: 'ok' as const };
    },
  );

  app.get(
    '/workspaces/:id/tokens',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: "List a workspace's live tokens (prefixes only)",
        tags: ['tokens'],
        params: IdParams,
        querystring: z.object({
          limit: z.coerce.number().int().min(1).max(200).default(50),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: z.object({ tokens: z.array(TokenView), count: z.number().int() }), ...errors, 410: ErrorBody },
      },
    },
    async (req) => {
      await requireLive(deps, req.params.id);
      const tokens = await listWorkspaceTokens(deps.db, req.params.id, req.query.limit, req.query.offset);
      return { tokens, count: tokens.length };
    },
  );

  /** A new workspace token, recorded as TOKEN_CREATED; refused past the live-token cap. Existing tokens stay. */
  const mint = async (workspaceId: string) => {
    await requireLive(deps, workspaceId);
    return mintAnotherToken(deps, workspaceId);
  };

  app.get(
    '/admin/workspaces/:id/test-token',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'Mint a workspace token for tests and fresh installs (off unless enabled)',
        description:
          'Only with MOLECULE_ENABLE_TEST_TOKENS=1, and never with MOLECULE_ENV=production: otherwise 404 for every caller the admin rule lets through. Mints a new token (existing ones stay), counted against the live-token cap and recorded as TOKEN_CREATED.',
        tags: ['tokens'],
        params: IdParams,
        response: { 200: z.object({ auth_token: z.string(), workspace_id: z.uuid() }), ...errors, 410: ErrorBody, 429: ErrorBody },
      },
    },
    async (req) => {
      if (!deps.enableTestTokens) throw notFound('not found');
      const t = await mint(req.params.id);
      return { auth_token: t.token, workspace_id: req.params.id };
    },
  );

  app.post(
    '/workspaces/:id/tokens',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Mint a workspace token (shown once)',
        tags: ['tokens'],
        params: IdParams,
        response: {
          201: z.object({ id: z.uuid(), auth_token: z.string(), prefix: z.string(), workspace_id: z.uuid(), message: z.string() }),
          ...errors,
          410: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const t = await mint(req.params.id);
      return reply.code(201).send({
        id: t.id,
        auth_token: t.token,
        prefix: t.prefix,
        workspace_id: req.params.id,
        message: 'Save this token now: it cannot be retrieved again.',
      });
    },
  );

  app.delete(
    '/workspaces/:id/tokens/:tokenId',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Revoke a workspace token',
        tags: ['tokens'],
        params: IdParams.extend({ tokenId: z.uuid({ error: 'invalid token ID' }) }),
        response: { 200: z.object({ status: z.literal('revoked') }), ...errors },
      },
    },
    async (req) => {
      if (!(await revokeWorkspaceToken(deps.db, req.params.id, req.params.tokenId))) {
        throw notFound('token not found or already revoked');
      }
      await deps.broadcaster.recordAndBroadcast('TOKEN_REVOKED', req.params.id, { token_id: req.params.tokenId });
      return { status: 'revoked' as const };
    },
  );

  app.get(
    '/org/tokens',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'List live org tokens (prefixes only)',
        tags: ['tokens'],
        response: { 200: z.object({ tokens: z.array(OrgTokenView), count: z.number().int() }), ...errors },
      },
    },
    async () => {
      const tokens = await listOrgTokens(deps.db, 500);
      return { tokens, count: tokens.length };
    },
  );

  app.post(
    '/org/tokens',
    {
      onRequest: admin,
      config: { access: 'admin', rateLimit: { max: deps.orgTokenMintPerHour, timeWindow: '1 hour' } },
      schema: {
        summary: 'Mint an org token (full admin; shown once)',
        tags: ['tokens'],
        body: z.strictObject({ name: z.string().trim().min(1).max(100).optional() }).nullish(),
        response: { 201: OrgTokenView.extend({ auth_token: z.string(), message: z.string() }), ...errors, 429: ErrorBody },
      },
    },
    async (req, reply) => {
      const t = await mintOrgToken(deps.db, req.body?.name ?? 'unnamed', req.principal!.label);
      const { token, ...view } = t;
      return reply.code(201).send({ ...view, auth_token: token, message: 'Save this token now: it cannot be retrieved again.' });
    },
  );

  app.delete(
    '/org/tokens/:id',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'Revoke an org token',
        tags: ['tokens'],
        params: z.object({ id: z.uuid({ error: 'invalid token ID' }) }),
        response: { 200: z.object({ status: z.literal('revoked') }), ...errors },
      },
    },
    async (req) => {
      if (!(await revokeOrgToken(deps.db, req.params.id))) throw notFound('token not found or already revoked');
      return { status: 'revoked' as const };
    },
  );
}

async function requireLive(deps: AuthDeps, id: string): Promise<void> {
  const ws = await getWorkspace(deps.db, id);
  if (!ws) throw notFound('workspace not found');
  if (ws.status === Status.Removed) throw removedError(ws);
}
