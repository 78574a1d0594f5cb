import { z } from 'zod';
import { Bundle, BundleImportResult, ErrorBody, MAX_BUNDLE_TEMPLATE_BYTES, OrgMissingEnv } from '@molecule/contracts';
import { requireAdmin, type AuthDeps } from '../auth/principal.js';
import type { App } from '../http/types.js';
import type { OrgDeps } from '../org/service.js';
import { exportBundle, importBundle } from './service.js';

const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

/** Bundles: a live subtree as one file, and back (admin). */
export function registerBundleRoutes(app: App, deps: OrgDeps & AuthDeps): void {
  const admin = requireAdmin(deps);

  app.get(
    '/bundles/export/:id',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'Export a workspace and its subtree as a bundle',
        description:
          "One JSON file: the live subtree as an org template (config, schedules, and each workspace's own secret names in recommended_env; never values) and the files of every template it uses. POST it to /bundles/import to recreate the subtree.",
        tags: ['org'],
        params: IdParams,
        response: { 200: Bundle, ...errors, 410: ErrorBody },
      },
    },
    async (req, reply) => {
      const bundle = await exportBundle(deps, req.params.id);
      const file = bundle.org.name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'workspace';
      return reply.header('content-disposition', `attachment; filename="${file}.molecule-bundle.json"`).send(bundle);
    },
  );

  app.post(
    '/bundles/import',
    {
      config: { access: 'admin' },
      onRequest: admin,
      bodyLimit: MAX_BUNDLE_TEMPLATE_BYTES + 4 * 1024 * 1024,
      schema: {
        summary: 'Recreate a bundle',
        description:
          'Creates the bundle\'s workspaces as a new top-level org with new ids, through the org import (validated whole first, then created and provisioned), after writing the templates it carries: one that exists with the same files is reused, a different one of the same name is written as `<name>-<hash>`. Secrets are not in a bundle: set the names listed in each workspace\'s recommended_env.',
        tags: ['org'],
        body: Bundle,
        response: { 201: BundleImportResult, ...errors, 412: OrgMissingEnv, 413: ErrorBody },
      },
    },
    async (req, reply) => reply.code(201).send(await importBundle(deps, req.body)),
  );
}
