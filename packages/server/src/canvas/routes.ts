import { z } from 'zod';
import { CanvasViewport, ErrorBody } from '@molecule/contracts';
import { requireAdmin, type AuthDeps } from '../auth/principal.js';
import type { Queryable } from '../db/port.js';
import type { App } from '../http/types.js';
import { readViewport, saveViewport } from './repo.js';

/** Where the canvas opens when no viewport has been saved. */
export const DEFAULT_VIEWPORT: CanvasViewport = { x: 0, y: 0, zoom: 1 };

/** The canvas's one shared viewport: pan offset and zoom, saved as the user moves around. */
export function registerCanvasRoutes(app: App, deps: AuthDeps & { db: Queryable }): void {
  const admin = requireAdmin(deps);
  const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody };

  app.get(
    '/canvas/viewport',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'The canvas viewport',
        description: 'The last saved pan offset and zoom, or {x:0, y:0, zoom:1} when none was saved.',
        tags: ['canvas'],
        response: { 200: CanvasViewport, ...errors },
      },
    },
    async () => (await readViewport(deps.db)) ?? DEFAULT_VIEWPORT,
  );

  app.put(
    '/canvas/viewport',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'Save the canvas viewport',
        description: 'Replaces the one shared viewport.',
        tags: ['canvas'],
        body: CanvasViewport,
        response: { 200: z.object({ status: z.literal('saved') }), ...errors },
      },
    },
    async (req) => {
      await saveViewport(deps.db, req.body);
      return { status: 'saved' as const };
    },
  );
}
