import { z } from 'zod';
import { ErrorBody } from '@molecule/contracts';
import { requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import { HttpError } from '../http/errors.js';
import type { App } from '../http/types.js';
import type { WorkspaceDeps } from '../workspaces/service.js';
import { collapseTeam, expandTeam } from './service.js';

const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 410: ErrorBody };

/** Teams (C198, C199): a workspace's template-declared team, created under it and removed again. */
export function registerTeamRoutes(app: App, deps: WorkspaceDeps & AuthDeps): void {
  const wsAccess = requireWorkspaceAccess(deps);

  app.post(
    '/workspaces/:id/expand',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: "Create the workspace's team",
        description:
          "Creates the members its template's `sub_workspaces:` declares as its children, each provisioned through the pipeline with PARENT_ID set (C199). Members a live child already has by name are left alone and listed in `existing`; calling it twice creates nothing new.",
        tags: ['teams'],
        params: IdParams,
        response: {
          200: z.object({
            status: z.literal('expanded'),
            children: z.array(z.object({ id: z.uuid(), name: z.string(), role: z.string().nullable() })),
            existing: z.array(z.object({ id: z.uuid(), name: z.string() })),
          }),
          ...errors,
        },
      },
    },
    async (req) => expandTeam(deps, req.params.id),
  );

  app.post(
    '/workspaces/:id/collapse',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: "Remove the workspace's team",
        description:
          'Removes every live child and everything under it through the delete path: marked removed and tokens revoked first, then each stopped on the backend that runs it (C198). 500 with stop_failures when a stop fails; retrying is safe.',
        tags: ['teams'],
        params: IdParams,
        response: { 200: z.object({ status: z.literal('collapsed'), removed: z.array(z.string()) }), ...errors, 500: ErrorBody },
      },
    },
    async (req) => {
      const r = await collapseTeam(deps, req.params.id);
      if (!r.ok) throw new HttpError(500, `children marked removed, but ${r.stop_failures} stop call(s) failed; retry the collapse`, 'internal', { removed: r.removed, stop_failures: r.stop_failures });
      return { status: 'collapsed' as const, removed: r.removed };
    },
  );
}
