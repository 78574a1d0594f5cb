import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queryable } from '../db/port.js';
import { forbidden, platformUnavailable, unauthorized } from '../http/errors.js';
import { validateOrgToken, validateSession, validateWorkspaceToken } from './repo.js';
import { matchesHash, tokenKind } from './tokens.js';

export const SESSION_COOKIE = 'molecule_session';

/** Who is calling. Admin covers the admin token, org tokens and the canvas session. */
export type Principal =
  | { kind: 'admin'; via: 'admin_token' | 'org_token' | 'session'; orgTokenId?: string; label: string }
  | { kind: 'workspace'; workspaceId: string; tokenId: string; label: string };

export interface AuthDeps {
  db: Queryable;
  /** SHA-256 of the admin token, computed once at boot. */
  adminTokenHash: Buffer;
  onDatastoreError: (err: unknown) => void;
}

/** Extracts a bearer credential; the scheme is case-insensitive (RFC 7235). */
export function bearerOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/** The canvas session cookie, parsed on demand (the cookie plugin does not parse every request). */
export function sessionCookieOf(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  const v = req.server.parseCookie(header)[SESSION_COOKIE];
  return v && v.length > 0 ? v : undefined;
}

/**
 * Resolves the caller from the request. A bearer that is present but invalid is rejected (401):
 * it never falls through to a weaker credential. No credential at all yields null. A datastore
 * failure while checking yields 503 `platform_unavailable` (fail-closed: never grant on error).
 */
export async function resolvePrincipal(deps: AuthDeps, req: FastifyRequest): Promise<Principal | null> {
  const bearer = bearerOf(req.headers.authorization);
  try {
    if (bearer !== undefined) {
      if (matchesHash(bearer, deps.adminTokenHash)) return { kind: 'admin', via: 'admin_token', label: 'admin' };
      const kind = tokenKind(bearer);
      if (kind === 'org') {
        const org = await validateOrgToken(deps.db, bearer);
        if (org) return { kind: 'admin', via: 'org_token', orgTokenId: org.tokenId, label: `org-token:${org.prefix}` };
      } else if (kind === 'workspace') {
        const ws = await validateWorkspaceToken(deps.db, bearer);
        if (ws) return { kind: 'workspace', ...ws, label: `workspace:${ws.workspaceId}` };
      }
      throw unauthorized('invalid auth token');
    }
    const session = sessionCookieOf(req);
    if (session !== undefined && (await validateSession(deps.db, session))) {
      return { kind: 'admin', via: 'session', label: 'canvas-session' };
    }
    return null;
  } catch (err) {
    if (err instanceof Error && err.name === 'HttpError') throw err;
    deps.onDatastoreError(err);
    throw platformUnavailable();
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

type Hook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** preHandler for `credential` routes: any valid credential (admin, org, session or a workspace token); the route applies its own rule after. */
export function requireAnyCredential(deps: AuthDeps): Hook {
  return async (req) => {
    const p = await resolvePrincipal(deps, req);
    if (!p) throw unauthorized('a credential is required: bearer token or canvas session');
    req.principal = p;
  };
}

/** preHandler: admin token, org token or canvas session. */
export function requireAdmin(deps: AuthDeps): Hook {
  return async (req) => {
    const p = await resolvePrincipal(deps, req);
    if (!p) throw unauthorized('admin auth required');
    if (p.kind !== 'admin') throw forbidden('this route needs an admin credential');
    req.principal = p;
  };
}

/**
 * preHandler for `/workspaces/:id/...`: that workspace's own token, or an admin credential.
 * Another workspace's token gets 403.
 */
export function requireWorkspaceAccess(deps: AuthDeps): Hook {
  return async (req) => {
    const p = await resolvePrincipal(deps, req);
    if (!p) throw unauthorized('workspace auth required');
    if (p.kind === 'workspace') {
      const id = (req.params as { id?: string }).id;
      if (p.workspaceId !== id) throw forbidden('token does not grant access to this workspace');
    }
    req.principal = p;
  };
}

/**
 * preHandler for `/workspaces/:id/...` routes only the agent itself may call: that workspace's own
 * token. No credential: 401; an admin credential or another workspace's token: 403.
 */
export function requireOwnWorkspaceToken(deps: AuthDeps): Hook {
  return async (req) => {
    const p = await resolvePrincipal(deps, req);
    if (!p) throw unauthorized("workspace auth required: send the workspace's own bearer token");
    if (p.kind !== 'workspace') throw forbidden("only the workspace's own token may read this, not an admin credential");
    if (p.workspaceId !== (req.params as { id?: string }).id) throw forbidden('token does not grant access to this workspace');
    req.principal = p;
  };
}
