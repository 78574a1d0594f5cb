import { z } from 'zod';
import { ErrorBody, OrgImportBody, OrgImportResult, OrgMissingEnv, OrgTemplateSummary } from '@molecule/contracts';
import { requireAdmin, type AuthDeps } from '../auth/principal.js';
import { invalid } from '../errors.js';
import type { App } from '../http/types.js';
import { importOrg, listOrgTemplates, type OrgDeps } from './service.js';
import { MAX_ORG_YAML_BYTES, parseOrgTemplate, readOrgTemplate } from './templates.js';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

/** Org templates and import (C200-C203): admin only, like every route that creates workspaces. */
export function registerOrgRoutes(app: App, deps: OrgDeps & AuthDeps): void {
  const admin = requireAdmin(deps);

  app.get(
    '/org/templates',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'List the org templates',
        description:
          'Every folder of the org templates dir whose org.yaml validates, with its workspace count, the keys it requires and recommends (the union over its tree), and which required keys the global secrets lack (on the process and Docker backends the LLM provider settings of the server environment count too: they reach every agent). A template that does not validate is left out and logged.',
        tags: ['org'],
        response: { 200: z.array(OrgTemplateSummary), 401: ErrorBody, 403: ErrorBody },
      },
    },
    async () => listOrgTemplates(deps),
  );

  app.post(
    '/org/import',
    {
      config: { access: 'admin' },
      onRequest: admin,
      bodyLimit: MAX_ORG_YAML_BYTES * 2,
      schema: {
        summary: 'Import an org',
        description:
          'Creates a whole org from a template folder (`dir`) or an inline `template`: validated whole first (400 with every problem and its path), then 412 when the global secrets (with the LLM provider settings of the server environment on the process and Docker backends) lack a key the org requires (`force` is ignored), then every workspace is created at once and provisioned at most MOLECULE_PROVISION_CONCURRENCY at a time. Answers 201 with the ids before they are online; follow them by their status events or GET /workspaces.',
        tags: ['org'],
        body: OrgImportBody,
        response: { 201: OrgImportResult, ...errors, 412: OrgMissingEnv },
      },
    },
    async (req, reply) => {
      const { dir, template } = req.body;
      if ((dir === undefined) === (template === undefined)) throw invalid("provide 'dir' or 'template'");
      const parsed = dir !== undefined ? await readOrgTemplate(deps.orgTemplatesDir, dir) : parseOrgTemplate(template);
      return reply.code(201).send(await importOrg(deps, parsed, dir ?? 'inline'));
    },
  );
}
