import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { DELEGATION_STATUSES, ErrorBody, isRecord, jsonHoldsUnstorable, QueueItemView, Status, type A2ARequestError } from '@molecule/contracts';
import { requireAdmin, requireWorkspaceAccess, resolvePrincipal, type AuthDeps, type Principal } from '../auth/principal.js';
import { badRequest, forbidden, gone, notFound, UNSTORABLE_MESSAGE, unauthorized } from '../http/errors.js';
import { AGENT_CALL_CEILING_SECONDS } from './limits.js';
import { getWorkspace } from '../workspaces/read.js';
import { canCommunicate } from '../hierarchy/access.js';
import type { App } from '../http/types.js';
import { IdParams } from '../workspaces/routes.js';
import { cardDialects } from './bridge.js';
import { cancelDelegationOfTask, delegate, listDelegations, recordDelegation, updateDelegation, type DelegationDeps, type DelegationRow } from './delegation.js';
import { outcomeError, type ProxyOutcome } from './outcome.js';
import { proxyA2A, type Caller } from './proxy.js';
import { dropStale, getItem, type QueueRow } from './queue-repo.js';
import { iso } from '../db/time.js';

/** Largest A2A request the proxy accepts. */
export const A2A_BODY_LIMIT_BYTES = 1024 * 1024;
/** Caller ids upstream reserves for its own internal callers; nobody may claim them over HTTP. */
const RESERVED_CALLER_PREFIXES = ['webhook:', 'system:', 'test:', 'channel:'];

/**
 * Who is sending (C057): a workspace bearer makes that workspace the caller, and an
 * `X-Workspace-ID` header, if sent, must name the same workspace. The admin token, an org token or
 * the canvas session act as the user and may not claim a workspace identity. No credential, or an
 * unknown, revoked or removed-workspace bearer, is 401 and nothing is dispatched.
 */
export function callerOf(principal: Principal | null, header: string | string[] | undefined): Caller {
  if (!principal) throw unauthorized('A2A needs a credential: a workspace token, an org token, the admin token or a canvas session');
  const claimed = Array.isArray(header) ? header[0] : header;
  if (claimed !== undefined && claimed !== '' && RESERVED_CALLER_PREFIXES.some((p) => claimed.startsWith(p))) throw forbidden('invalid caller ID');
  if (principal.kind === 'workspace') {
    if (claimed !== undefined && claimed !== '' && claimed !== principal.workspaceId) throw forbidden('X-Workspace-ID does not match the bearer token');
    return { kind: 'workspace', id: principal.workspaceId };
  }
  if (claimed !== undefined && claimed !== '') throw forbidden("X-Workspace-ID needs that workspace's own token");
  return { kind: 'user', label: principal.label };
}

declare module 'fastify' {
  interface FastifyRequest {
    a2aCaller?: Caller;
  }
}

/** How long a caller waits before retrying an agent that is restarting or waking, and a busy one. */
export const RESTART_RETRY_AFTER_SECONDS = 15;
export const BUSY_RETRY_AFTER_SECONDS = 30;

/** An HTTP answer of the proxy: a JSON body (raw bytes pass through as they came), or a live stream. */
type ProxyHttp =
  | { kind: 'json'; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: 'raw'; status: number; body: Buffer }
  | { kind: 'stream'; status: number; contentType: string; body: Readable };

const json = (status: number, body: Record<string, unknown>, headers?: Record<string, string>): ProxyHttp => ({ kind: 'json', status, body, ...(headers ? { headers } : {}) });

/**
 * A JSON-RPC error answer to a request refused before dispatch. HTTP 200, as the A2A spec, the
 * official SDKs and the TCK expect (they lose the typed error on a 400); a deliberate change from
 * C055's "HTTP 400" (see docs/contracts.md). The error still names the field.
 */
function rpcError(e: A2ARequestError, status = 200): ProxyHttp {
  return json(status, { jsonrpc: '2.0', id: e.id ?? null, error: { code: e.code, message: e.message, ...(e.field ? { data: { field: e.field } } : {}) } });
}

/** The agent cannot take the request now (restarting, waking, not up yet): 503 with Retry-After. */
function unavailable(o: ProxyOutcome, extra: Record<string, unknown>): ProxyHttp {
  return json(503, { error: outcomeError(o), ...extra, code: 'agent_unavailable' }, { 'retry-after': String(RESTART_RETRY_AFTER_SECONDS) });
}

/** The one mapping of a proxy outcome to its HTTP answer (status codes, bodies, Retry-After). */
export function httpOf(o: ProxyOutcome): ProxyHttp {
  const error = outcomeError(o);
  switch (o.kind) {
    case 'answered':
      return { kind: 'raw', status: o.status, body: o.raw };
    case 'streaming':
      return { kind: 'stream', status: o.status, contentType: o.contentType, body: o.body };
    case 'queued':
      return o.duplicate
        ? json(202, { queued: true, queue_id: o.queueId, status: o.queueStatus, message: error })
        : json(202, { queued: true, queue_id: o.queueId, queue_depth: o.depth, status: o.queueStatus, message: error });
    case 'poll_queued':
      return json(200, { status: 'queued', delivery_mode: 'poll', method: o.method });
    case 'busy':
      return json(
        503,
        { error, code: 'agent_busy', busy: true, retry_after: BUSY_RETRY_AFTER_SECONDS, ...(o.nativeSession ? { native_session: true } : {}) },
        { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) },
      );
    case 'restarting':
      return unavailable(o, { restarting: true, retry_after: RESTART_RETRY_AFTER_SECONDS });
    case 'waking':
      return unavailable(o, { waking: true, retry_after: RESTART_RETRY_AFTER_SECONDS });
    case 'not_ready':
      return unavailable(o, { status: o.status });
    case 'agent_error':
      // A JSON-RPC error body is the agent's answer to the caller: pass it through. Anything else is
      // replaced, so an agent's HTML error page or stack trace never reaches the caller.
      if (isRecord(o.answer) && 'jsonrpc' in o.answer) return { kind: 'raw', status: o.status, body: o.raw };
      return json(o.status, { error, code: 'agent_error' });
    case 'failed':
      if (o.phase === 'read' && (o.failure === 'too_large' || o.failure === 'other')) return json(502, { error, code: 'agent_error', delivery_confirmed: true });
      switch (o.failure) {
        case 'idle_timeout':
        case 'ceiling':
        case 'headers_timeout':
          return json(504, { error, code: 'agent_timeout', delivery_confirmed: true });
        case 'unreachable':
        case 'connection_lost':
          return json(502, { error, code: 'agent_unreachable', delivery_confirmed: false });
        default:
          return json(502, { error, code: 'agent_unreachable' });
      }
    case 'refused':
      switch (o.reason) {
        case 'not_found':
          return json(404, { error, code: 'not_found' });
        case 'gone':
          return json(410, { error, code: 'gone' });
        case 'forbidden':
          return json(403, { error, code: 'forbidden', reason: o.detail });
        case 'budget_exceeded':
          return json(402, { error, code: 'budget_exceeded', ...o.budget });
      }
      break;
    case 'already_handled':
      return json(409, { error, code: 'conflict', queue_id: o.queueId, status: o.queueStatus });
    case 'message_id_reused':
      return json(409, { error, code: 'conflict', queue_id: o.queueId });
    case 'invalid':
      return rpcError(o.error, o.ownParam ? 400 : 200);
  }
  return json(500, { error: 'internal error', code: 'internal' });
}

/**
 * `X-Timeout: <seconds>`: the caller's idle timeout for this one request, instead of the
 * workspace's or the platform's; at most the agent-to-agent ceiling. Anything but a positive whole
 * number is a 400 before anything is sent.
 */
export function xTimeoutSeconds(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || !/^[1-9][0-9]{0,9}$/.test(v.trim())) throw badRequest('X-Timeout must be a positive whole number of seconds');
  return Math.min(Number(v.trim()), AGENT_CALL_CEILING_SECONDS);
}

function send(reply: FastifyReply, r: ProxyHttp): FastifyReply {
  reply.code(r.status);
  switch (r.kind) {
    case 'json':
      for (const [k, v] of Object.entries(r.headers ?? {})) reply.header(k, v);
      return reply.type('application/json').send(JSON.stringify(r.body));
    case 'raw':
      return reply.type('application/json').send(r.body);
    case 'stream':
      reply.header('cache-control', 'no-cache');
      return reply.type(r.contentType).send(r.body);
  }
}



function queueView(r: QueueRow): QueueItemView {
  return {
    id: r.id,
    workspace_id: r.workspace_id,
    caller_id: r.caller_id,
    message_id: r.message_id,
    method: r.method,
    status: r.status,
    attempts: r.attempts,
    last_error: r.last_error,
    delegation_id: r.delegation_id,
    created_at: iso(r.created_at)!,
    updated_at: iso(r.updated_at)!,
    dispatched_at: iso(r.dispatched_at),
    completed_at: iso(r.completed_at),
    expires_at: iso(r.expires_at),
    response_status: r.response_status,
    ...(r.response_body !== null && r.response_body !== undefined ? { response_body: r.response_body } : {}),
  };
}

const DelegationView = z.object({
  delegation_id: z.string(),
  source_id: z.string(),
  target_id: z.string(),
  task: z.string(),
  status: z.enum(DELEGATION_STATUSES),
  queue_id: z.string().nullable(),
  response_preview: z.string().optional(),
  error: z.string().optional(),
  created_at: z.string(),
  updated_at: z.string(),
});

function delegationView(d: DelegationRow, full = false): z.infer<typeof DelegationView> {
  return {
    delegation_id: d.id,
    source_id: d.source_id,
    target_id: d.target_id,
    task: d.task,
    status: d.status,
    queue_id: d.queue_id,
    ...(d.response_text !== null ? { response_preview: full ? d.response_text : d.response_text.slice(0, 300) } : {}),
    ...(d.error !== null ? { error: d.error } : {}),
    created_at: iso(d.created_at)!,
    updated_at: iso(d.updated_at)!,
  };
}

const DelegateBody = z
  .object({
    target_id: z.uuid({ error: 'target_id must be a valid UUID' }),
    task: z.string().trim().min(1, 'task is required').max(100_000, 'task is longer than 100000 characters'),
    idempotency_key: z.string().min(1).max(200).optional(),
  })
  .strict();

/** Any credential at all (admin, org, session, or any live workspace token). */
function requireCredential(deps: AuthDeps) {
  return async (req: FastifyRequest) => {
    const p = await resolvePrincipal(deps, req);
    if (!p) throw unauthorized('auth required');
    req.principal = p;
  };
}

const CANCEL_METHODS = new Set(['tasks/cancel', 'CancelTask']);
/** The protocol versions the proxied card names for the dialect the proxy adds by translation. */
const BRIDGED_V03_VERSION = '0.3.0';
const BRIDGED_V1_VERSION = '1.0';

/** The name of the platform's scheme in a proxied card. */
export const PROXY_SECURITY_SCHEME = 'molecule_platform';
const PROXY_SCHEME_DESCRIPTION = 'A Molecule platform credential: the admin token, an org token (mol_org_…) or a workspace token (mol_ws_…) the hierarchy allows';

/**
 * A copy of an agent card whose endpoint URLs (v1 `supportedInterfaces`, v0.3 `url` and
 * `additionalInterfaces`) all point at `endpoint`, and whose security says what the proxy requires:
 * a bearer. The agent's own schemes are dropped (clients never reach it directly). The scheme is
 * written so both dialects read it: v0.3 `type`/`scheme` with `security`, v1
 * `httpAuthSecurityScheme` with `securityRequirements`.
 */
export function proxiedCard(card: Record<string, unknown>, endpoint: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...card };
  const retarget = (list: unknown) => (Array.isArray(list) ? list.map((i: unknown) => (typeof i === 'object' && i !== null ? { ...i, url: endpoint } : i)) : list);
  if ('url' in out) out.url = endpoint;
  if ('supportedInterfaces' in out) out.supportedInterfaces = retarget(out.supportedInterfaces);
  if ('additionalInterfaces' in out) out.additionalInterfaces = retarget(out.additionalInterfaces);
  // The proxy translates between the dialects (bridge.ts): through it, an agent that speaks one
  // speaks both, so the card names both for clients of either.
  const speaks = cardDialects(card);
  if (speaks.size > 0) {
    if (!speaks.has('v0.3')) Object.assign(out, { protocolVersion: BRIDGED_V03_VERSION, url: endpoint, preferredTransport: 'JSONRPC' });
    if (!speaks.has('v1')) out.supportedInterfaces = [{ url: endpoint, protocolBinding: 'JSONRPC', protocolVersion: BRIDGED_V1_VERSION }, ...(Array.isArray(out.supportedInterfaces) ? out.supportedInterfaces : [])];
  }
  out.securitySchemes = {
    [PROXY_SECURITY_SCHEME]: {
      type: 'http',
      scheme: 'bearer',
      description: PROXY_SCHEME_DESCRIPTION,
      httpAuthSecurityScheme: { scheme: 'Bearer', description: PROXY_SCHEME_DESCRIPTION, bearerFormat: '' },
    },
  };
  out.security = [{ [PROXY_SECURITY_SCHEME]: [] }];
  out.securityRequirements = [{ schemes: { [PROXY_SECURITY_SCHEME]: { list: [] } } }];
  return out;
}

export function registerA2ARoutes(app: App, deps: DelegationDeps & AuthDeps): void {
  // The proxy reads the body itself: any JSON (bare method/params included), answered with
  // JSON-RPC errors, so it gets its own context with a raw JSON parser.
  void app.register(async (plain) => {
    const child = plain.withTypeProvider<ZodTypeProvider>();
    child.removeAllContentTypeParsers();
    child.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: A2A_BODY_LIMIT_BYTES }, (_req, body, done) => done(null, body));
    child.post(
      '/workspaces/:id/a2a',
      {
        bodyLimit: A2A_BODY_LIMIT_BYTES,
        config: { access: 'credential' },
        onRequest: async (req: FastifyRequest) => {
          req.a2aCaller = callerOf(await resolvePrincipal(deps, req), req.headers['x-workspace-id']);
        },
        schema: {
          summary: 'Send an A2A JSON-RPC request to a workspace agent',
          description:
            'Forwards `message/send`, `message/stream` (SSE), `tasks/get`... to the agent (v0.2, v0.3 and v1 shapes). A busy agent: 202 `{queued, queue_id}`; a dead one: 503 `{restarting}` with Retry-After; a poll-mode agent: 200 `{status:"queued", delivery_mode:"poll"}`. Bad JSON-RPC: HTTP 200 with a JSON-RPC error naming the field (as A2A clients expect). Methods the proxy need not read (`tasks/list`, custom methods) are forwarded unchanged; a body without an id gets one. `X-Timeout: <seconds>` sets this request\'s idle timeout (at most 1800; anything but a positive whole number is 400).',
          tags: ['a2a'],
          params: IdParams,
        },
      },
      async (req, reply) => {
        const raw = req.body as Buffer | undefined;
        const text = raw?.toString('utf8') ?? '';
        if (text.trim() === '') return send(reply, rpcError({ id: null, code: -32600, message: 'empty request body' }));
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          return send(reply, rpcError({ id: null, code: -32700, message: 'parse error: the body is not valid JSON' }));
        }
        if (jsonHoldsUnstorable(text, body)) {
          const id = isRecord(body) && (typeof body.id === 'string' || typeof body.id === 'number') ? body.id : null;
          return send(reply, rpcError({ id, code: -32602, message: UNSTORABLE_MESSAGE }));
        }
        const idle = xTimeoutSeconds(req.headers['x-timeout']);
        // The caller hanging up ends a wait for a poll agent's reply (nothing else: a dispatch's answer is still recorded).
        const gone = new AbortController();
        const hungUp = () => {
          if (!reply.raw.writableFinished) gone.abort();
        };
        reply.raw.once('close', hungUp);
        const outcome = await proxyA2A(deps, { targetId: req.params.id, caller: req.a2aCaller!, body, signal: gone.signal, ...(idle !== undefined ? { idleTimeoutSeconds: idle } : {}) }).finally(() => reply.raw.off('close', hungUp));
        // A task the target canceled on request: if a platform delegation started it, that ends too.
        if (outcome.kind === 'answered' && isRecord(body) && CANCEL_METHODS.has(body.method as string)) {
          await cancelDelegationOfTask(deps, req.params.id, outcome.answer).catch((err: unknown) => deps.log.error({ err }, 'could not mark a delegation canceled'));
        }
        return send(reply, httpOf(outcome));
      },
    );
  });

  app.get(
    '/workspaces/:id/a2a/agent-card',
    {
      config: { access: 'credential' },
      onRequest: requireCredential(deps),
      schema: {
        summary: "The workspace agent's card, pointing at this proxy",
        description:
          'The card the agent registered, with every endpoint URL replaced by `<platform>/workspaces/:id/a2a`, so A2A clients (e.g. `@a2a-js/sdk`) talk to the agent through the proxy with their platform credential. 404 until the agent has registered a card.',
        tags: ['a2a'],
        params: IdParams,
        response: { 200: z.record(z.string(), z.unknown()), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 410: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => {
      const ws = await getWorkspace(deps.db, req.params.id);
      if (!ws) throw notFound('workspace not found');
      if (ws.status === Status.Removed) throw gone('workspace was removed');
      const p = req.principal!;
      if (p.kind === 'workspace' && !(await canCommunicate(deps.db, p.workspaceId, ws.id)).allowed) throw forbidden('workspaces cannot communicate per hierarchy rules');
      if (typeof ws.agent_card !== 'object' || ws.agent_card === null) throw notFound('the agent has not registered a card yet');
      const base = deps.config.externalPlatformUrl ?? `${req.protocol}://${req.host}`;
      return proxiedCard(ws.agent_card as Record<string, unknown>, `${base}/workspaces/${ws.id}/a2a`);
    },
  );

  app.get(
    '/workspaces/:id/a2a/queue/:queue_id',
    {
      config: { access: 'credential' },
      onRequest: requireCredential(deps),
      schema: {
        summary: 'Status of a queued A2A message',
        description: 'For the caller that queued it, the target, or an admin/org credential. Any other credential, or an unknown id, gets 404 (ids cannot be probed).',
        tags: ['a2a'],
        params: IdParams.extend({ queue_id: z.uuid({ error: 'invalid queue ID' }) }),
        response: { 200: QueueItemView, 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => {
      const p = req.principal!;
      const item = await getItem(deps.db, req.params.queue_id);
      const path = req.params.id;
      const belongs = item !== undefined && (item.workspace_id === path || item.caller_id === path);
      const allowed = p.kind === 'admin' || (item !== undefined && (p.workspaceId === item.workspace_id || p.workspaceId === item.caller_id));
      // Every refusal looks like "not found" (C064).
      if (!item || !belongs || !allowed) throw notFound('queue item not found');
      return queueView(item);
    },
  );

  app.post(
    '/admin/a2a-queue/drop-stale',
    {
      config: { access: 'admin' },
      onRequest: requireAdmin(deps),
      schema: {
        summary: 'Drop queued A2A messages older than a threshold',
        tags: ['admin'],
        body: z
          .object({
            older_than_seconds: z.number().int().min(60).max(365 * 24 * 3600).default(3600),
            workspace_id: z.uuid({ error: 'invalid workspace ID' }).optional(),
          })
          .strict()
          .default({ older_than_seconds: 3600 }),
        response: { 200: z.object({ dropped: z.number().int() }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => ({ dropped: await dropStale(deps.db, req.body.older_than_seconds, req.body.workspace_id) }),
  );

  const own = requireWorkspaceAccess(deps);
  const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody };

  app.post(
    '/workspaces/:id/delegate',
    {
      config: { access: 'workspace' },
      onRequest: own,
      schema: {
        summary: 'Delegate a task to another workspace',
        description:
          'Sends `task` to `target_id` as this workspace (the hierarchy rule applies). Async by default: 202 at once, then DELEGATION_* events. `?wait=true` answers when the delegation completed, failed or was queued. The delegation id is the A2A messageId.',
        tags: ['a2a'],
        params: IdParams,
        querystring: z.object({ wait: z.enum(['true', 'false']).optional() }),
        body: DelegateBody,
        response: { 200: DelegationView.extend({ idempotent_hit: z.boolean().optional() }), 202: DelegationView, ...errors },
      },
    },
    async (req, reply) => {
      const wait = req.query.wait === 'true';
      const out = await delegate(deps, req.params.id, req.body, { wait });
      if (out.idempotentHit) return reply.code(200).send({ ...delegationView(out.row), idempotent_hit: true });
      return reply.code(wait ? 200 : 202).send(delegationView(out.row, wait));
    },
  );

  app.get(
    '/workspaces/:id/delegations',
    {
      config: { access: 'workspace' },
      onRequest: own,
      schema: {
        summary: "This workspace's delegations, newest first",
        tags: ['a2a'],
        params: IdParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
        response: { 200: z.array(DelegationView), ...errors },
      },
    },
    async (req) => (await listDelegations(deps, req.params.id, req.query.limit)).map((d) => delegationView(d)),
  );

  app.post(
    '/workspaces/:id/delegations/record',
    {
      config: { access: 'workspace' },
      onRequest: own,
      schema: {
        summary: 'Record a delegation the agent sent directly over A2A',
        tags: ['a2a'],
        params: IdParams,
        body: z
          .object({ target_id: z.uuid({ error: 'target_id must be a valid UUID' }), task: z.string().min(1).max(100_000), delegation_id: z.uuid({ error: 'delegation_id must be a valid UUID' }) })
          .strict(),
        response: { 202: z.object({ delegation_id: z.string(), status: z.literal('recorded') }), ...errors },
      },
    },
    async (req, reply) => {
      const row = await recordDelegation(deps, req.params.id, req.body);
      return reply.code(202).send({ delegation_id: row.id, status: 'recorded' as const });
    },
  );

  app.post(
    '/workspaces/:id/delegations/:delegation_id/update',
    {
      config: { access: 'workspace' },
      onRequest: own,
      schema: {
        summary: 'Report the outcome of a recorded delegation',
        tags: ['a2a'],
        params: IdParams.extend({ delegation_id: z.uuid({ error: 'invalid delegation ID' }) }),
        body: z
          .object({ status: z.enum(['completed', 'failed']), error: z.string().max(10_000).optional(), response_preview: z.string().max(100_000).optional() })
          .strict(),
        response: { 200: DelegationView, ...errors },
      },
    },
    async (req) => {
      const row = await updateDelegation(deps, req.params.id, req.params.delegation_id, req.body);
      if (!row) throw notFound('delegation not found');
      return delegationView(row);
    },
  );
}
