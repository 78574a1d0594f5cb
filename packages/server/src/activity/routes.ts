import { z } from 'zod';
import {
  ACTIVITY_SOURCES,
  ACTIVITY_TYPES,
  ActivityEntry,
  ActivityReportBody,
  DEFAULT_ACTIVITY_LIMIT,
  ErrorBody,
  MAX_ACTIVITY_LIMIT,
  MAX_SINCE_SECS,
  NotifyBody,
} from '@molecule/contracts';
import { requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import type { App } from '../http/types.js';
import { IdParams } from '../workspaces/routes.js';
import { notify, parseRfc3339, queryActivity, reportActivity, type ActivityRouteDeps } from './service.js';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 410: ErrorBody, 503: ErrorBody };

/** A query value checked by `parse`; its message names the field (the error adds the path). */
function queryValue<T>(message: string, parse: (s: string) => T | undefined) {
  return z.string({ error: message }).transform((s, ctx) => {
    const v = parse(s);
    if (v === undefined) {
      ctx.issues.push({ code: 'custom', message, input: s });
      return z.NEVER;
    }
    return v;
  });
}

const wholeNumber = (s: string) => (/^\d{1,16}$/.test(s) ? Number(s) : undefined);
const uuid = (s: string) => (z.uuid().safeParse(s).success ? s : undefined);

/** The filters of GET /workspaces/:id/activity; every bad shape is a 400 naming its field. */
export const ActivityQuery = z.object({
  type: z.enum(ACTIVITY_TYPES, { error: `type must be one of ${ACTIVITY_TYPES.join(', ')}` }).optional(),
  source: z.enum(ACTIVITY_SOURCES, { error: "source must be 'canvas' or 'agent'" }).optional(),
  limit: queryValue(`limit must be a whole number from 1 to ${MAX_ACTIVITY_LIMIT}`, (s) => {
    const n = wholeNumber(s);
    return n !== undefined && n >= 1 && n <= MAX_ACTIVITY_LIMIT ? n : undefined;
  }).optional(),
  since_secs: queryValue('since_secs must be a positive whole number of seconds', (s) => {
    const n = /^\d+$/.test(s) ? Number(s) : undefined;
    return n !== undefined && n >= 1 ? Math.min(n, MAX_SINCE_SECS) : undefined;
  }).optional(),
  since_id: queryValue('since_id must be an activity ID (a UUID)', uuid).optional(),
  peer_id: queryValue('peer_id must be a workspace ID (a UUID)', uuid).optional(),
  before_ts: queryValue('before_ts must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z (send + as %2B)', (s) => parseRfc3339(s) ?? undefined).optional(),
});

/** Activity log and notify: what agents report and push, and what the canvas reads back. */
export function registerActivityRoutes(app: App, deps: ActivityRouteDeps & AuthDeps): void {
  const wsAccess = requireWorkspaceAccess(deps);

  app.post(
    '/workspaces/:id/activity',
    {
      // An agent's log must not be lost to a stray NUL: such text is stored as U+FFFD (repo.ts).
      config: { access: 'workspace', unstorableText: 'replace' },
      onRequest: wsAccess,
      schema: {
        summary: 'An agent reports an activity entry about itself',
        description:
          "Needs the workspace's own token or an admin credential. source_id may only be empty or the workspace itself (403) and " +
          'defaults to it; agent_log, task_update, skill_promotion, memory_write and error rows target the workspace itself when ' +
          'target_id is absent (C037). metadata stands in for an absent request_body. Emits ACTIVITY_LOGGED.',
        tags: ['activity'],
        params: IdParams,
        body: ActivityReportBody,
        response: { 200: z.object({ status: z.literal('logged'), id: z.uuid() }), ...errors, 413: ErrorBody },
      },
    },
    async (req) => {
      const row = await reportActivity(deps, req.params.id, req.body);
      return { status: 'logged' as const, id: row.id };
    },
  );

  app.get(
    '/workspaces/:id/activity',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: "A workspace's activity log",
        description:
          `Newest first, at most \`limit\` rows (default ${DEFAULT_ACTIVITY_LIMIT}, 1-${MAX_ACTIVITY_LIMIT}). Filters compose with AND: ` +
          "`type`; `source` (canvas: no source workspace, agent: one); `since_secs` (the last N seconds, capped at 30 days); " +
          '`since_id` (rows after that row, oldest first: a cursor; 410 when it is not one of this workspace\'s rows); ' +
          '`peer_id` (rows from or to that workspace); `before_ts` (RFC 3339, strictly earlier). Ties on created_at are ordered by id.',
        tags: ['activity'],
        params: IdParams,
        querystring: ActivityQuery,
        response: { 200: z.array(ActivityEntry), ...errors },
      },
    },
    async (req) => {
      const q = req.query;
      return queryActivity(deps, {
        workspaceId: req.params.id,
        limit: q.limit ?? DEFAULT_ACTIVITY_LIMIT,
        ...(q.type !== undefined ? { type: q.type } : {}),
        ...(q.source !== undefined ? { source: q.source } : {}),
        ...(q.since_secs !== undefined ? { sinceSecs: q.since_secs } : {}),
        ...(q.since_id !== undefined ? { sinceId: q.since_id } : {}),
        ...(q.peer_id !== undefined ? { peerId: q.peer_id } : {}),
        ...(q.before_ts !== undefined ? { beforeTs: q.before_ts } : {}),
      });
    },
  );

  app.post(
    '/workspaces/:id/notify',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'An agent pushes a chat message (with file attachments) to the user',
        description:
          'Every attachment needs a uri and a name ("attachment[i]: uri and name are required"). Broadcasts AGENT_MESSAGE and stores ' +
          'the message as an a2a_receive row (method notify) so chat history restores it; a failure to store it is logged and the ' +
          'message is still delivered.',
        tags: ['activity'],
        params: IdParams,
        body: NotifyBody,
        response: { 200: z.object({ status: z.literal('sent') }), ...errors, 413: ErrorBody },
      },
    },
    async (req) => {
      await notify(deps, req.params.id, req.body);
      return { status: 'sent' as const };
    },
  );
}
