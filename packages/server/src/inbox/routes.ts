import { z } from 'zod';
import { ErrorBody, INBOX_MAX_LIMIT, INBOX_MAX_WAIT_SECONDS, InboxReplyBody, InboxReplyResponse, InboxResponse } from '@molecule/contracts';
import { requireOwnWorkspaceToken, type AuthDeps } from '../auth/principal.js';
import type { App } from '../http/types.js';
import { IdParams } from '../workspaces/routes.js';
import { readInbox, replyToMessage, type InboxDeps } from './service.js';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 410: ErrorBody, 503: ErrorBody };

const DEFAULT_INBOX_LIMIT = 50;

/** A whole number from `min` to `max` in a query string; anything else is a 400 naming the field. */
const wholeNumber = (message: string, min: number, max: number) =>
  z.string({ error: message }).transform((s, ctx) => {
    const n = /^\d{1,6}$/.test(s) ? Number(s) : Number.NaN;
    if (!(n >= min && n <= max)) {
      ctx.issues.push({ code: 'custom', message, input: s });
      return z.NEVER;
    }
    return n;
  });

export const InboxQuery = z.object({
  wait: wholeNumber(`wait must be a whole number of seconds from 0 to ${INBOX_MAX_WAIT_SECONDS}`, 0, INBOX_MAX_WAIT_SECONDS).optional(),
  since_id: z.uuid({ error: 'since_id must be an inbox message ID (a UUID)' }).optional(),
  limit: wholeNumber(`limit must be a whole number from 1 to ${INBOX_MAX_LIMIT}`, 1, INBOX_MAX_LIMIT).optional(),
});

/**
 * The poll inbox of a workspace (C274), for its own agent only (its own token; an admin credential
 * or another workspace's token is 403): read with a bounded long-poll, answer one message.
 */
export function registerInboxRoutes(app: App, deps: InboxDeps & AuthDeps): void {
  const own = requireOwnWorkspaceToken(deps);

  app.get(
    '/workspaces/:id/inbox',
    {
      config: { access: 'credential' },
      onRequest: own,
      schema: {
        summary: 'The unanswered messages of a poll-mode agent (long-poll)',
        description:
          `Messages the A2A proxy recorded for this workspace and nobody answered yet, oldest first (at most \`limit\`, default ${DEFAULT_INBOX_LIMIT}). ` +
          `\`wait\` (0-${INBOX_MAX_WAIT_SECONDS} s, default 0): with nothing to return, answer as soon as a message arrives or when the wait ends (then empty). ` +
          "`since_id`: only messages after that one (the answer's `cursor`); 410 when it is not one of this workspace's rows. " +
          "The workspace's own token only.",
        tags: ['inbox'],
        params: IdParams,
        querystring: InboxQuery,
        response: { 200: InboxResponse, ...errors },
      },
    },
    async (req, reply) => {
      const abort = new AbortController();
      // The agent hung up: stop waiting for it.
      reply.raw.once('close', () => abort.abort());
      return readInbox(deps, req.params.id, {
        waitSeconds: req.query.wait ?? 0,
        limit: req.query.limit ?? DEFAULT_INBOX_LIMIT,
        signal: abort.signal,
        ...(req.query.since_id !== undefined ? { sinceId: req.query.since_id } : {}),
      });
    },
  );

  app.post(
    '/workspaces/:id/inbox/:message_id/reply',
    {
      config: { access: 'credential' },
      onRequest: own,
      schema: {
        summary: 'Answer one inbox message',
        description:
          "Answers the message with `text`: the sender's waiting `message/send` completes with it (an A2A message in the sender's dialect), and the message leaves the inbox. " +
          "A message that is not in this workspace's inbox is 404 (another workspace's looks the same); one already answered is 409; nothing changes either way. The workspace's own token only.",
        tags: ['inbox'],
        params: IdParams.extend({ message_id: z.uuid({ error: 'invalid message ID' }) }),
        body: InboxReplyBody,
        response: { 200: InboxReplyResponse, ...errors },
      },
    },
    async (req) => {
      const row = await replyToMessage(deps, req.params.id, req.params.message_id, req.body.text);
      return { id: row.id, status: 'replied' as const };
    },
  );
}
