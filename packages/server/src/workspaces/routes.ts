import { z } from 'zod';
import { CreateWorkspaceBody, ErrorBody, EXTERNAL_RUNTIME, ExternalConnection, RuntimeSupportView, Status, TemplateSummary, UpdateWorkspaceBody, WorkspaceView } from '@molecule/contracts';
import { requireAdmin, requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import type { Config } from '../config.js';
import { HttpError, notFound } from '../http/errors.js';
import type { App } from '../http/types.js';
import { runtimeSupportList } from '../provisioning/runtimes.js';
import { advertisedProvisionTimeoutMs } from '../provisioning/timeout.js';
import type { TemplateManifests } from '../provisioning/templates.js';
import type { WorkspaceCache } from './cache.js';
import { getWorkspace, listWorkspaces, toView, type WorkspaceRow } from './repo.js';
import { hibernateWorkspace, pauseWorkspace, restartWorkspace, resumeWorkspace } from './lifecycle.js';
import { removedError, requireLiveWorkspace } from './errors.js';
import { createWorkspace, deleteWorkspace, externalConnection, updateWorkspace, type WorkspaceDeps } from './service.js';
import { mintAnotherToken } from '../auth/credentials.js';
import { BRIDGE_BUNDLE, BRIDGE_PATH, CONNECTION_TOKEN_PLACEHOLDER } from './connect.js';
import { readFile } from 'node:fs/promises';

export const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const boolQuery = z.enum(['true', 'false']).optional().transform((v) => v === 'true');

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

export function registerWorkspaceRoutes(
  app: App,
  deps: WorkspaceDeps &
    AuthDeps & {
      externalPlatformUrl?: string;
      workspaceCache: WorkspaceCache;
      config: Pick<Config, 'provisionTimeoutSeconds' | 'provisioner' | 'runtimeImages'>;
      templateManifests: TemplateManifests;
    },
): void {
  const admin = requireAdmin(deps);
  const wsAccess = requireWorkspaceAccess(deps);
  /** The platform URL agents elsewhere use: EXTERNAL_PLATFORM_URL, else the one this request came in on. */
  const platformUrlOf = (req: { protocol: string; host: string }) => deps.externalPlatformUrl ?? `${req.protocol}://${req.host}`;

  /** The client view of rows, with `provision_timeout_ms` when one is declared (C162). */
  const viewer = async (): Promise<(row: WorkspaceRow) => WorkspaceView> => {
    const catalog = await deps.templateManifests.catalog(deps.templatesDir);
    return (row) => {
      const ms = advertisedProvisionTimeoutMs(deps.config, catalog, row);
      return ms === undefined ? toView(row) : { ...toView(row), provision_timeout_ms: ms };
    };
  };

  app.post(
    '/workspaces',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'Create a workspace',
        description:
          'Creates a workspace. Runtime "external" starts awaiting_agent and the answer carries `connection` with the agent token (shown once); other runtimes are provisioned.',
        tags: ['workspaces'],
        body: CreateWorkspaceBody,
        response: { 201: WorkspaceView.extend({ connection: ExternalConnection.optional() }), ...errors, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const { row, connection } = await createWorkspace(deps, req.body, platformUrlOf(req));
      return reply.code(201).send({ ...toView(row), ...(connection ? { connection } : {}) });
    },
  );

  app.get(
    BRIDGE_PATH,
    {
      config: { access: 'open' },
      schema: {
        summary: 'The molecule-mcp bridge, as one file',
        description:
          'What the Universal MCP snippet fetches: `molecule-mcp` (packages/runtime) bundled into one ES module that runs on Node.js 20 or newer with no install. An MCP host launches it with WORKSPACE_ID, PLATFORM_URL and MOLECULE_WORKSPACE_TOKEN; it registers, heartbeats and serves the platform tools and the inbox. Public: it holds no credential. 503 when the platform was started without building it.',
        tags: ['workspaces'],
        response: { 200: z.string(), 503: ErrorBody },
      },
    },
    async (_req, reply) => {
      let code: string;
      try {
        code = await readFile(BRIDGE_BUNDLE, 'utf8');
      } catch {
        throw new HttpError(503, 'the molecule-mcp bridge is not built on this platform (run npm run build)', 'platform_unavailable');
      }
      return reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(code);
    },
  );

  app.get(
    '/workspaces/:id/connection',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'The connect snippets of an external workspace, without a token',
        description: `For an external workspace: the connection and every snippet, stamped with \`${CONNECTION_TOKEN_PLACEHOLDER}\` where the token goes. Tokens are stored hashed and cannot be shown again: POST mints a fresh one and answers the snippets with it. Nothing is minted or changed. 400 for a workspace that is not external.`,
        tags: ['workspaces'],
        params: IdParams,
        response: { 200: ExternalConnection, ...errors, 410: ErrorBody },
      },
    },
    async (req) => {
      const row = await requireLiveWorkspace(deps.db, req.params.id);
      if (row.runtime !== EXTERNAL_RUNTIME) throw new HttpError(400, `only an external workspace is connected this way; this one runs ${row.runtime} and the platform starts its agent`, 'invalid_request');
      return externalConnection(row.id, platformUrlOf(req), CONNECTION_TOKEN_PLACEHOLDER);
    },
  );

  app.post(
    '/workspaces/:id/connection',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'Connect an external agent again',
        description:
          'For an external workspace: mints a fresh token (existing ones keep working; revoke them under /tokens) and answers the connection with every snippet stamped with it, as creation did (C268). 400 for a workspace that is not external.',
        tags: ['workspaces'],
        params: IdParams,
        response: { 201: ExternalConnection, ...errors, 410: ErrorBody, 429: ErrorBody },
      },
    },
    async (req, reply) => {
      const row = await requireLiveWorkspace(deps.db, req.params.id);
      if (row.runtime !== EXTERNAL_RUNTIME) throw new HttpError(400, `only an external workspace is connected this way; this one runs ${row.runtime} and the platform starts its agent`, 'invalid_request');
      const { token } = await mintAnotherToken(deps, row.id);
      return reply.code(201).send(externalConnection(row.id, platformUrlOf(req), token));
    },
  );

  app.get(
    '/templates',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'List the workspace templates',
        description:
          'Every folder of the templates dir with a readable config.yaml, by id (C189-C191). A template whose config.yaml does not parse is left out and logged (C192); an edit shows within 30 s.',
        tags: ['workspaces'],
        response: { 200: z.array(TemplateSummary), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async () => [...(await deps.templateManifests.catalog(deps.templatesDir)).byName.values()].map((m) => m.summary).sort((a, b) => a.id.localeCompare(b.id)),
  );

  app.get(
    '/runtimes',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'List the runtimes and whether this platform can run each',
        description:
          'Every runtime of the registry with what runs it on the configured backend (runnable, runs_with) or why not and what would (reason), its required secrets and a description (docs/runtimes.md). The create dialog offers only runnable ones.',
        tags: ['workspaces'],
        response: { 200: z.array(RuntimeSupportView), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async () => runtimeSupportList(deps.config.provisioner, deps.config.runtimeImages),
  );

  app.get(
    '/workspaces',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'List workspaces',
        description: 'Each workspace carries provision_timeout_ms when its template declares a provision timeout (C162).',
        tags: ['workspaces'],
        querystring: z.object({ include_removed: boolQuery }),
        response: { 200: z.array(WorkspaceView), ...errors },
      },
    },
    async (req) => {
      const rows = await listWorkspaces(deps.db, req.query.include_removed);
      return rows.map(await viewer());
    },
  );

  app.get(
    '/workspaces/:id',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Get one workspace',
        description: 'A removed workspace answers 410 unless include_removed=true (C160, C161).',
        tags: ['workspaces'],
        params: IdParams,
        querystring: z.object({ include_removed: boolQuery }),
        response: { 200: WorkspaceView, ...errors, 410: ErrorBody },
      },
    },
    async (req) => {
      const id = req.params.id;
      const view = await deps.workspaceCache.get(id, async () => {
        const row = await getWorkspace(deps.db, id);
        return row && (await viewer())(row);
      });
      if (!view) throw notFound('workspace not found');
      if (view.status === Status.Removed && !req.query.include_removed) throw removedError(view);
      return view;
    },
  );

  app.patch(
    '/workspaces/:id',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'Rename, re-role, re-parent or place a workspace',
        description: 'x and y (both, or both null) are its canvas position relative to its parent; a new parent without them clears the position.',
        tags: ['workspaces'],
        params: IdParams,
        body: UpdateWorkspaceBody,
        response: { 200: WorkspaceView, ...errors, 409: ErrorBody, 410: ErrorBody },
      },
    },
    async (req) => toView(await updateWorkspace(deps, req.params.id, req.body)),
  );

  app.delete(
    '/workspaces/:id',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'Delete a workspace and its subtree',
        description:
          'Marks the subtree removed, then stops each workspace. `confirm=true` is required when the workspace has live children; `purge=true` hard-deletes the rows. 500 with removed_count and stop_failures when a stop fails; retrying is safe.',
        tags: ['workspaces'],
        params: IdParams,
        querystring: z.object({ confirm: boolQuery, purge: boolQuery }),
        response: {
          200: z.object({ status: z.enum(['removed', 'purged']), cascade_deleted: z.number().int() }),
          ...errors,
          409: ErrorBody,
          500: ErrorBody,
        },
      },
    },
    async (req) => {
      const result = await deleteWorkspace(deps, req.params.id, { confirm: req.query.confirm, purge: req.query.purge });
      if (!result.ok) {
        throw new HttpError(500, `workspace marked removed, but ${result.stop_failures} stop call(s) failed; retry the delete`, 'internal', {
          removed_count: result.removed_count,
          stop_failures: result.stop_failures,
        });
      }
      return { status: result.status, cascade_deleted: result.cascade_deleted };
    },
  );

  const lifecycleErrors = { ...errors, 409: ErrorBody, 410: ErrorBody, 422: ErrorBody, 503: ErrorBody };

  app.post(
    '/workspaces/:id/restart',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Restart a workspace',
        description:
          'Answers once the workspace is `provisioning`; the stop and the new start run in the background, coalesced per workspace. The agent keeps its configs (edits included) unless apply_template=true rewrites them from its template; emptied configs are restored from it anyway. External workspaces: a no-op that keeps the token valid.',
        tags: ['lifecycle'],
        params: IdParams,
        querystring: z.object({ apply_template: boolQuery }),
        response: { 200: z.object({ status: z.string(), message: z.string().optional() }), ...lifecycleErrors },
      },
    },
    async (req) => restartWorkspace(deps, req.params.id, { applyTemplate: req.query.apply_template }),
  );

  app.post(
    '/workspaces/:id/pause',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Pause a workspace and its subtree',
        tags: ['lifecycle'],
        params: IdParams,
        response: { 200: z.object({ status: z.literal('paused'), paused_count: z.number().int() }), ...lifecycleErrors },
      },
    },
    async (req) => pauseWorkspace(deps, req.params.id),
  );

  app.post(
    '/workspaces/:id/resume',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Resume a paused or hibernated workspace (and its paused descendants)',
        tags: ['lifecycle'],
        params: IdParams,
        response: { 200: z.object({ status: z.string(), resumed_count: z.number().int() }), ...lifecycleErrors },
      },
    },
    async (req) => resumeWorkspace(deps, req.params.id),
  );

  app.post(
    '/workspaces/:id/hibernate',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Hibernate an idle workspace',
        description: 'Only online or degraded workspaces with no active task, unless force=true.',
        tags: ['lifecycle'],
        params: IdParams,
        querystring: z.object({ force: boolQuery }),
        response: { 200: z.object({ status: z.literal('hibernated') }), ...lifecycleErrors },
      },
    },
    async (req) => hibernateWorkspace(deps, req.params.id, req.query.force),
  );
}
