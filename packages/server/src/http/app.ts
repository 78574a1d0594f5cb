import { existsSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifyWebsocket from '@fastify/websocket';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { jsonHoldsUnstorable, TERMINAL_MAX_FRAME_BYTES } from '@molecule/contracts';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { responseSerializerCompiler } from './serializer.js';
import { pingDb } from '../db/index.js';
import { abortable } from '../net/abortable.js';
import type { AppDeps } from '../deps.js';
import { registerA2ARoutes } from '../a2a/routes.js';
import { registerActivityRoutes } from '../activity/routes.js';
import { registerAuthRoutes } from '../auth/routes.js';
import { registerCanvasRoutes } from '../canvas/routes.js';
import { registerFileRoutes, registerFileUploadRoute } from '../files/routes.js';
import { registerSecretRoutes } from '../secrets/routes.js';
import { registerChatFileRoutes } from '../chat-files/routes.js';
import { registerBudgetRoutes } from '../budgets/routes.js';
import { registerScheduleRoutes } from '../schedules/routes.js';
import { registerOrgRoutes } from '../org/routes.js';
import { registerTeamRoutes } from '../teams/routes.js';
import { registerBundleRoutes } from '../bundles/routes.js';
import { registerTemplateRoutes } from '../provisioning/routes.js';
import { registerPluginRoutes } from '../plugins/routes.js';
import { registerMemoryRoutes } from '../memory/routes.js';
import { registerInboxRoutes } from '../inbox/routes.js';
import { registerAgentSocketRoute } from '../agent-socket/routes.js';
import { MAX_RESPONSE_BYTES } from '../a2a/dispatch.js';
import { registerMcpRoutes } from '../mcp/routes.js';
import { registerEventRoutes, registerWebSocketRoute } from '../events/routes.js';
import { registerRegistryRoutes } from '../registry/routes.js';
import { registerTerminalRoutes } from '../terminal/routes.js';
import { registerWorkspaceRoutes } from '../workspaces/routes.js';
import { hashToken } from '../auth/tokens.js';
import { accessClassOf, type AccessClass } from './access.js';
import { asHttpError, HttpError, isRedisUnreachable, platformUnavailable, unstorableRefused } from './errors.js';
import type { App } from './types.js';

/** The canvas build (`vite build packages/canvas`, part of `npm run build` and of `npm start`'s staleness check). */
const CANVAS_DIR = fileURLToPath(new URL('../../../canvas/dist/', import.meta.url));
const CANVAS_BUILT = existsSync(path.join(CANVAS_DIR, 'index.html'));
/** What `/` says when the canvas has not been built (a checkout that ran `tsc` alone). */
const CANVAS_MISSING_HTML =
  '<!doctype html><html lang="en"><meta charset="utf-8"><title>Molecule</title><h1>Molecule</h1><p>The platform is running, but the canvas is not built: run <code>npm run build</code> (<code>npm start</code> does it).</p></html>';
const API_CSP = "default-src 'none'; frame-ancestors 'none'";
// Inline styles: the terminal (xterm.js) writes its theme and cell sizes into <style> elements and
// has no nonce option. Scripts stay 'self' only.
const PAGE_CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

/** Builds the HTTP app. It does not listen; `main.ts` (or a test) does. */
export async function buildApp(deps: AppDeps, opts: { redis?: Redis } = {}): Promise<App> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    bodyLimit: deps.config.bodyLimitBytes,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  // Every route declares who may call it; one that does not is refused here, before it can serve.
  const accessTable: RouteAccess[] = [];
  app.decorate('accessTable', accessTable);
  app.addHook('onRoute', (route) => {
    const access = accessClassOf(route);
    for (const method of [route.method].flat()) accessTable.push({ method, url: route.url, access });
  });
  app.setSerializerCompiler(responseSerializerCompiler);
  // An empty body with a JSON content type (common from HTTP clients on DELETE or body-less POST)
  // means "no body"; routes that need one say so through their schema. Everything else goes
  // through Fastify's parser, which guards against prototype poisoning.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    return parseJson(req, text, (err, value) => {
      if (err) return done(err);
      // PostgreSQL cannot store U+0000 or an unpaired surrogate: refuse it here, named, rather than
      // fail deep inside a write. A route that stores such text lossily (the activity log) says so.
      if (req.routeOptions.config.unstorableText !== 'replace' && jsonHoldsUnstorable(text, value)) return done(unstorableRefused());
      return done(null, value);
    });
  });
  // The same rule for the URL: a NUL in a path segment or query value is refused before any route
  // (percent-decoding turns malformed UTF-8 into U+FFFD, so a URL cannot carry a lone surrogate).
  // (Callback-style hooks: every request runs them, and they need no promise.)
  app.addHook('onRequest', (req, _reply, done) => {
    done(/%00/.test(req.url) ? unstorableRefused() : undefined);
  });

  if (CANVAS_BUILT) await app.register(fastifyStatic, { root: CANVAS_DIR, serve: false });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Molecule control plane',
        version: '0.1.0',
        description: 'Workspaces, credentials and events. Errors are JSON `{error, code?}`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'Admin token, org token (mol_org_…) or workspace token (mol_ws_…)' },
          session: { type: 'apiKey', in: 'cookie', name: 'molecule_session' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
    transform: jsonSchemaTransform,
  });
  // Cookies are parsed only where a route needs them (auth without a bearer), not on every request.
  await app.register(fastifyCookie, { hook: false });
  await app.register(fastifyRateLimit, {
    global: false,
    ...(opts.redis ? { redis: opts.redis } : {}),
    errorResponseBuilder: (_req, ctx) =>
      new HttpError(429, 'rate limit exceeded', 'rate_limited', { retry_after: Math.ceil(ctx.ttl / 1000) }),
  });

  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'strict-origin-when-cross-origin');
    const isPage = req.routeOptions.config?.page === true;
    reply.header('content-security-policy', isPage ? PAGE_CSP : API_CSP);
    done(null, payload);
  });
  app.addHook('onResponse', (req, reply, done) => {
    deps.metrics.httpDuration
      .labels(req.method, req.routeOptions.url ?? 'unmatched', String(reply.statusCode))
      .observe(reply.elapsedTime / 1000);
    done();
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const known = asHttpError(err);
    if (known) return reply.code(known.statusCode).send(known.body());
    if (hasZodFastifySchemaValidationErrors(err)) {
      const details = err.validation.map((v) => ({ path: v.instancePath || '/', message: v.message ?? 'invalid' }));
      const first = details[0]!;
      return reply.code(400).send({
        error: `invalid request ${err.validationContext ?? ''}: ${first.path} ${first.message}`.replace(/\s+/g, ' '),
        code: 'invalid_request',
        details,
      });
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ error: `request body larger than ${req.routeOptions.bodyLimit ?? deps.config.bodyLimitBytes} bytes`, code: 'payload_too_large' });
    }
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
      return reply.code(400).send({ error: 'malformed JSON body', code: 'invalid_json' });
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send({ error: 'unsupported content type; send application/json', code: 'invalid_request' });
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      // Fastify's own client errors carry fixed, internal-free messages.
      return reply.code(err.statusCode).send({ error: err.message, code: 'invalid_request' });
    }
    if (isRedisUnreachable(err)) {
      req.log.warn({ err }, 'redis unreachable');
      return reply.code(503).send(platformUnavailable().body());
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send({ error: 'internal error', code: 'internal' });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found', code: 'not_found' }));

  registerMetaRoutes(app, deps);
  registerAuthRoutes(app, {
    ...authDeps(deps),
    broadcaster: deps.broadcaster,
    sessionTtlSeconds: deps.config.sessionTtlSeconds,
    orgTokenMintPerHour: deps.config.orgTokenMintPerHour,
    secureCookies: deps.config.env === 'production',
    enableTestTokens: deps.config.enableTestTokens,
  });
  registerWorkspaceRoutes(app, {
    ...deps,
    ...authDeps(deps),
    ...(deps.config.externalPlatformUrl ? { externalPlatformUrl: deps.config.externalPlatformUrl } : {}),
  });
  // The WebSocket plugin wraps every route of the context it is registered in; keep it to /ws and the terminal.
  await app.register(async (child) => {
    await child.register(fastifyWebsocket, { options: { maxPayload: TERMINAL_MAX_FRAME_BYTES } });
    registerWebSocketRoute(child, { ...authDeps(deps), bus: deps.bus, metrics: deps.metrics });
    registerTerminalRoutes(child, { ...authDeps(deps), provisioner: deps.provisioner, log: deps.log, idleMs: deps.config.terminalIdleMs });
  });
  // The agents' outbound sockets carry whole A2A answers: their own context, with the answer's size as the frame limit.
  // Upgrades reach every route through the first plugin's 'upgrade' listener (it dispatches through the root
  // router, and each route upgrades with its own context's server); a second listener on the same server would
  // try to answer each upgrade again and log "websocket upgrade failed", so this one listens to nothing.
  await app.register(async (child) => {
    await child.register(fastifyWebsocket, { options: { maxPayload: MAX_RESPONSE_BYTES + 64 * 1024, server: new EventEmitter() as unknown as Server } });
    registerAgentSocketRoute(child, { ...authDeps(deps), sockets: deps.a2a.sockets });
  });
  registerEventRoutes(app, { ...authDeps(deps), bus: deps.bus, metrics: deps.metrics });
  registerRegistryRoutes(app, { ...deps, ...authDeps(deps), onFreeSlot: (id) => deps.a2a.freed(id) });
  registerActivityRoutes(app, { ...deps, ...authDeps(deps) });
  registerA2ARoutes(app, { ...deps, ...authDeps(deps) });
  registerMcpRoutes(app, { ...deps, ...authDeps(deps) });
  registerInboxRoutes(app, { ...deps, ...authDeps(deps) });
  registerCanvasRoutes(app, authDeps(deps));
  registerSecretRoutes(app, { ...deps, ...authDeps(deps) });
  registerFileRoutes(app, { ...deps, ...authDeps(deps) });
  await registerFileUploadRoute(app, { ...deps, ...authDeps(deps) });
  registerBudgetRoutes(app, { ...deps, ...authDeps(deps) });
  registerScheduleRoutes(app, { ...deps, ...authDeps(deps) });
  registerOrgRoutes(app, { ...deps, ...authDeps(deps) });
  registerTeamRoutes(app, { ...deps, ...authDeps(deps) });
  registerBundleRoutes(app, { ...deps, ...authDeps(deps) });
  await registerTemplateRoutes(app, { ...deps, ...authDeps(deps) });
  await registerPluginRoutes(app, { ...deps, ...authDeps(deps) });
  registerMemoryRoutes(app, { ...deps, ...authDeps(deps) });
  await registerChatFileRoutes(app, { ...deps, ...authDeps(deps) });
  return app;
}

function authDeps(deps: AppDeps) {
  return {
    db: deps.db,
    adminTokenHash: hashToken(deps.adminToken),
    onDatastoreError: (err: unknown) => deps.log.error({ err }, 'datastore error during auth'),
  };
}

function registerMetaRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/health',
    {
      config: { access: 'open' },
      schema: {
        summary: 'Liveness and database reachability',
        tags: ['meta'],
        response: { 200: z.object({ status: z.literal('ok') }), 503: z.object({ status: z.literal('unavailable'), error: z.string() }) },
      },
    },
    async (_req, reply) => {
      try {
        await abortable(pingDb(deps.db), AbortSignal.timeout(2000));
        return { status: 'ok' as const };
      } catch (err) {
        deps.log.warn({ err }, 'health check: database unreachable');
        return reply.code(503).send({ status: 'unavailable' as const, error: 'database unreachable' });
      }
    },
  );
  app.get(
    '/buildinfo',
    { config: { access: 'open' }, schema: { summary: 'Build identity', tags: ['meta'], response: { 200: z.object({ git_sha: z.string() }) } } },
    async () => ({ git_sha: deps.config.gitSha }),
  );
  app.get('/metrics', { config: { access: 'open' }, schema: { summary: 'Prometheus metrics', tags: ['meta'], hide: true } }, async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  app.get('/openapi.json', { config: { access: 'open' }, schema: { hide: true } }, async () => app.swagger());

  // The canvas build, served from disk by @fastify/static (content types, ETag, Last-Modified, 304s).
  // Its own wildcard route is off: each page is a route here, so it declares its access class and
  // gets the page CSP.
  app.get('/', { config: { access: 'open', page: true }, schema: { hide: true } }, async (_req, reply) =>
    CANVAS_BUILT ? reply.sendFile('index.html') : reply.status(503).type('text/html; charset=utf-8').send(CANVAS_MISSING_HTML),
  );
  // The bundle's files carry a content hash in their names: cached for good.
  app.get<{ Params: { file: string } }>('/assets/:file', { config: { access: 'open' }, schema: { hide: true } }, async (req, reply) => {
    if (!CANVAS_BUILT || !/^[\w-][\w.-]*$/.test(req.params.file)) return reply.status(404).send({ error: 'not found', code: 'not_found' });
    return reply.sendFile(`assets/${req.params.file}`, { maxAge: '365d', immutable: true });
  });
}

/** One registered route and the access class it declared. */
export interface RouteAccess {
  method: string;
  url: string;
  access: AccessClass;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    page?: boolean;
    /** `replace`: the route stores text with U+0000 or unpaired surrogates as U+FFFD instead of refusing it (400). */
    unstorableText?: 'refuse' | 'replace';
  }
  interface FastifyInstance {
    /** Every route registered on this app with its declared access class (the auth matrix and docs/security.md read it). */
    accessTable: RouteAccess[];
  }
}
