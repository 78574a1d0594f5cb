import { z } from 'zod';

/**
 * The poll inbox of an external (poll-mode) workspace (C274): the messages the A2A proxy recorded
 * for it and nobody answered yet, read with `GET /workspaces/:id/inbox?wait=<s>` and answered with
 * `POST /workspaces/:id/inbox/:message_id/reply`, which completes the sender's `message/send`.
 */

/** The longest a long-poll of the inbox may wait, in seconds. */
export const INBOX_MAX_WAIT_SECONDS = 60;
/** The most messages one inbox read returns. */
export const INBOX_MAX_LIMIT = 100;
/** The longest reply text the inbox accepts. */
export const INBOX_REPLY_MAX_CHARS = 100_000;

/** The status of a recorded inbound message that waits for its agent (an `a2a_receive` activity row). */
export const ACTIVITY_STATUS_QUEUED = 'queued';

/** Who sent an inbox message: another workspace (`peer_agent`) or a user on the canvas or API (`canvas_user`). */
export const INBOX_SENDER_KINDS = ['peer_agent', 'canvas_user'] as const;
export type InboxSenderKind = (typeof INBOX_SENDER_KINDS)[number];

export const InboxMessage = z.object({
  /** The inbox id (the `a2a_receive` activity row): what a reply names, and a `since_id` cursor. */
  id: z.string(),
  /** The JSON-RPC method the sender used (`message/send`, `SendMessage`, ...). */
  method: z.string(),
  /** The sender's A2A messageId, when it sent one. */
  message_id: z.string().nullable(),
  kind: z.enum(INBOX_SENDER_KINDS),
  /** The sending workspace; null for a user. */
  from_id: z.string().nullable(),
  /** The message's text parts joined (empty when it holds none). */
  text: z.string(),
  /** The message's parts as the sender sent them. */
  parts: z.array(z.unknown()),
  created_at: z.string(),
});
export type InboxMessage = z.infer<typeof InboxMessage>;

export const InboxResponse = z.object({
  messages: z.array(InboxMessage),
  /** The id of the last message returned (pass it as `since_id`), or the one passed when none came. */
  cursor: z.string().nullable(),
});
export type InboxResponse = z.infer<typeof InboxResponse>;

export const InboxReplyBody = z
  .object({
    text: z
      .string({ error: 'text must be a string' })
      .refine((s) => s.trim() !== '', 'text is required')
      .refine((s) => s.length <= INBOX_REPLY_MAX_CHARS, `text is longer than ${INBOX_REPLY_MAX_CHARS} characters`),
  })
  .strict();
export type InboxReplyBody = z.infer<typeof InboxReplyBody>;

export const InboxReplyResponse = z.object({
  id: z.string(),
  status: z.literal('replied'),
});
export type InboxReplyResponse = z.infer<typeof InboxReplyResponse>;
