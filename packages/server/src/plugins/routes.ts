import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ErrorBody,
  InstallPluginBody,
  InstallPluginResult,
  MAX_PLUGIN_BYTES,
  PluginCompatibility,
  PluginInfo,
  PluginSources,
  UninstallPluginResult,
} from '@molecule/contracts';
import { requireAnyCredential, requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import { DomainError, invalid } from '../errors.js';
import type { App } from '../http/types.js';
import { requireLiveWorkspace } from '../workspaces/errors.js';
import { listRegistry } from './registry.js';
import { availablePlugins, compatibility, downloadPlugin, installPlugin, listInstalled, uninstallPlugin, type PluginDeps } from './service.js';
import { availableSchemes } from './stage.js';

const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const NameParams = IdParams.extend({ name: z.string().min(1).max(200) });
const RuntimeQuery = z.object({ runtime: z.string().min(1).max(64).optional() });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 410: ErrorBody };
const changeErrors = { ...errors, 413: ErrorBody, 422: ErrorBody, 500: ErrorBody, 501: ErrorBody, 502: ErrorBody, 503: ErrorBody, 504: ErrorBody };
/** An install's JSON body is small (a source and a digest); archives get the plugin cap with room for compression overhead. */
const JSON_BODY_LIMIT = 64 * 1024;
const ARCHIVE_TYPES = ['application/zip', 'application/x-zip-compressed', 'application/x-tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'];
/** The whole install (fetch included) is bounded (upstream PLUGIN_INSTALL_FETCH_TIMEOUT). */
const INSTALL_TIMEOUT_MS = 5 * 60_000;

/**
 * Plugins (#13, C180-C188): the registry (`GET /plugins`, `/plugins/sources`) and a workspace's
 * plugins (list, available, compatibility, install, uninstall, download).
 */
export async function registerPluginRoutes(app: App, deps: PluginDeps & AuthDeps): Promise<void> {
  const anyCredential = requireAnyCredential(deps);
  const wsAccess = requireWorkspaceAccess(deps);

  app.get(
    '/plugins',
    {
      config: { access: 'credential' },
      onRequest: anyCredential,
      schema: {
        summary: 'The plugin registry',
        description: 'The plugins in the registry folder (MOLECULE_PLUGINS_DIR), by name. `runtime` keeps the ones that work on it (and sets `supported_on_runtime`).',
        tags: ['plugins'],
        querystring: RuntimeQuery,
        response: { 200: z.array(PluginInfo), 400: ErrorBody, 401: ErrorBody },
      },
    },
    async (req) => {
      const all = await listRegistry(deps.pluginsDir, deps.log, req.query.runtime);
      return req.query.runtime === undefined ? all : all.filter((p) => p.supported_on_runtime);
    },
  );

  app.get(
    '/plugins/sources',
    {
      config: { access: 'credential' },
      onRequest: anyCredential,
      schema: {
        summary: 'Where plugins can be installed from',
        description: 'The source schemes an install takes (`file` only when MOLECULE_PLUGIN_SOURCE_DIRS is set), and whether git sources must be pinned.',
        tags: ['plugins'],
        response: { 200: PluginSources, 401: ErrorBody },
      },
    },
    async () => ({
      schemes: availableSchemes(deps),
      registry: 'a bare name or local://<name> installs from the registry (GET /plugins)',
      pinned_git_required: !deps.config.pluginAllowUnpinned,
      archive_upload: true,
    }),
  );

  app.get(
    '/workspaces/:id/plugins',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Plugins installed in a workspace',
        description:
          "The folders of `/configs/plugins/`, each annotated for the workspace's runtime; one whose plugin.yaml is missing or broken carries `error`. An empty list when the agent is not running or is external (C185).",
        tags: ['plugins'],
        params: IdParams,
        response: { 200: z.array(PluginInfo), ...errors },
      },
    },
    async (req) => listInstalled(deps, await requireLiveWorkspace(deps.db, req.params.id)),
  );

  app.get(
    '/workspaces/:id/plugins/available',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: "Registry plugins that work on the workspace's runtime",
        tags: ['plugins'],
        params: IdParams,
        response: { 200: z.array(PluginInfo), ...errors },
      },
    },
    async (req) => availablePlugins(deps, await requireLiveWorkspace(deps.db, req.params.id)),
  );

  app.get(
    '/workspaces/:id/plugins/compatibility',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Which installed plugins keep working on another runtime',
        description: 'Before a runtime change: the installed plugins split by whether they support `runtime`. Both lists are empty when the agent is not running.',
        tags: ['plugins'],
        params: IdParams,
        querystring: RuntimeQuery,
        response: { 200: PluginCompatibility, ...errors },
      },
    },
    async (req) => {
      if (req.query.runtime === undefined) throw invalid('runtime query parameter is required');
      return compatibility(deps, await requireLiveWorkspace(deps.db, req.params.id), req.query.runtime);
    },
  );

  app.delete(
    '/workspaces/:id/plugins/:name',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Uninstall a plugin',
        description:
          "Removes `/configs/plugins/<name>/`; the running agent drops it at once (`applied: hot_loaded`) or restarts (`restarting`). External workspaces: 422 with a hint (C180); agent not running: 503 (C182); not installed: 404.",
        tags: ['plugins'],
        params: NameParams,
        response: { 200: UninstallPluginResult, ...changeErrors },
      },
    },
    async (req) => uninstallPlugin(deps, req.params.id, req.params.name),
  );

  app.get(
    '/workspaces/:id/plugins/:name/download',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'A plugin as a gzipped tarball',
        description:
          'For agents that install plugins themselves (external workspaces, C186): the plugin from `source` (default `local://<name>`) packed as `<name>/...` in a tar.gz. No container is involved. 400 when the source holds a plugin of another name.',
        tags: ['plugins'],
        params: NameParams,
        querystring: z.object({ source: z.string().min(1).max(2048).optional() }),
        response: { 200: z.unknown().describe('application/gzip'), ...changeErrors },
      },
    },
    async (req, reply) => {
      const { staged, tarball } = await downloadPlugin(deps, req.params.id, req.params.name, req.query.source, AbortSignal.timeout(INSTALL_TIMEOUT_MS));
      return reply
        .header('content-type', 'application/gzip')
        .header('content-length', tarball.length)
        .header('content-disposition', `attachment; filename="${staged.name}.tar.gz"`)
        .header('x-plugin-name', staged.name)
        .header('x-plugin-source', staged.source)
        .send(tarball);
    },
  );

  // The install takes JSON or an archive: its own context parses archive content types as bytes.
  await app.register(async (plain) => {
    const child = plain.withTypeProvider<ZodTypeProvider>();
    child.addContentTypeParser(ARCHIVE_TYPES, { parseAs: 'buffer', bodyLimit: MAX_PLUGIN_BYTES * 2 }, (_req, body, done) => done(null, body));
    child.post(
      '/workspaces/:id/plugins',
      {
        config: { access: 'workspace' },
        onRequest: wsAccess,
        bodyLimit: MAX_PLUGIN_BYTES * 2,
        schema: {
          summary: 'Install a plugin',
          description:
            'JSON `{source, sha256?}` (at most 64 KiB): `source` is a registry name, `local://<name>`, `github://owner/repo#ref`, `git+https://host/repo.git#ref` (a ref is required unless PLUGIN_ALLOW_UNPINNED=true; the host must pass the SSRF rules) or `file:///path` under MOLECULE_PLUGIN_SOURCE_DIRS; `sha256` is that of the plugin.yaml. Or the plugin itself as a tar, tar.gz or zip body (no links, absolute or `..` entries). At most 4 MiB in 500 files. Written to `/configs/plugins/<name>/`; the running agent loads it at once (`applied: hot_loaded`: its skills join the agent card, its commands answer) or restarts (`restarting`). External workspaces: 422 with a hint, after auth (C180, C181); agent not running: 503 (C182); a plugin for other runtimes: 422.',
          tags: ['plugins'],
          params: IdParams,
          response: { 200: InstallPluginResult, ...changeErrors },
        },
      },
      async (req) => {
        const signal = AbortSignal.timeout(INSTALL_TIMEOUT_MS);
        if (Buffer.isBuffer(req.body)) {
          if (req.body.length === 0) throw invalid('the archive is empty');
          return installPlugin(deps, req.params.id, { archive: req.body }, signal);
        }
        if (JSON.stringify(req.body ?? null).length > JSON_BODY_LIMIT) throw new DomainError('payload_too_large', `the JSON body is larger than ${JSON_BODY_LIMIT} bytes`);
        const body = InstallPluginBody.safeParse(req.body ?? {});
        if (!body.success) throw invalid(body.error.issues[0]!.message);
        return installPlugin(deps, req.params.id, body.data, signal);
      },
    );
  });
}
