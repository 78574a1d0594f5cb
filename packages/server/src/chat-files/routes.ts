import type { IncomingMessage } from 'node:http';
import { Readable, Transform } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody } from '@molecule/contracts';
import type { ForwardResponse } from '../a2a/dispatch.js';
import { requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import { DomainError } from '../errors.js';
import { HttpError } from '../http/errors.js';
import type { App } from '../http/types.js';
import { checkDownloadPath, forwardChatFile, MAX_CHAT_UPLOAD_BYTES, resolveChatTarget, type ChatFileDeps } from './service.js';

const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const DownloadQuery = z.object({ path: z.string().max(4096) });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 410: ErrorBody, 422: ErrorBody, 502: ErrorBody, 503: ErrorBody };
/** The answer headers a chat file forward passes back (the rest are the platform's own). */
const PASSED_HEADERS = ['content-type', 'content-length', 'content-disposition'] as const;
const tooLarge = () => new HttpError(413, `upload larger than ${MAX_CHAT_UPLOAD_BYTES} bytes`, 'payload_too_large');

/**
 * The one response-streaming helper of chat upload and download (C082): the workspace's status and
 * the content headers, and its body streamed byte for byte (never parsed, never re-encoded).
 */
function sendUpstream(reply: FastifyReply, res: ForwardResponse): FastifyReply {
  for (const h of PASSED_HEADERS) if (res.headers[h] !== undefined) void reply.header(h, res.headers[h]);
  return reply.code(res.status).send(res.body);
}

/** Counts the bytes going through and fails the stream past `max` (a chunked body has no length to check up front). */
function capped(max: number): Transform & { exceeded: boolean } {
  let total = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      if (total > max) {
        t.exceeded = true;
        cb(new Error(`upload larger than ${max} bytes`));
      } else cb(null, chunk);
    },
  }) as Transform & { exceeded: boolean };
  t.exceeded = false;
  return t;
}

/**
 * Chat attachments (C072-C085): `POST /workspaces/:id/chat/uploads` streams a multipart upload to
 * the workspace's `/internal/chat/uploads/ingest`, `GET /workspaces/:id/chat/download?path=` streams
 * a file back from its `/internal/file/read`; both as the platform (the inbound-secret bearer),
 * through the guarded A2A client, with the workspace's answer passed through unchanged.
 */
export async function registerChatFileRoutes(app: App, deps: ChatFileDeps & AuthDeps): Promise<void> {
  const wsAccess = requireWorkspaceAccess(deps);

  // multipart/form-data is taken only here, and not parsed: the raw request stream is the body.
  await app.register(async (plain) => {
    const child = plain.withTypeProvider<ZodTypeProvider>();
    child.addContentTypeParser('multipart/form-data', (_req, payload: IncomingMessage, done) => done(null, payload));
    child.post(
      '/workspaces/:id/chat/uploads',
      {
        config: { access: 'workspace' },
        onRequest: wsAccess,
        schema: {
          summary: 'Upload chat attachments to a workspace',
          description:
            "A multipart/form-data body with file parts, streamed unchanged to the workspace, which stores each file under `<workspace>/.molecule/chat-uploads/` and answers `{files: [{uri, name, mimeType, size}]}`. At most 50 MB in all (413). The workspace's own answers, errors included (413 naming the file, 400), pass through unchanged. 503 when its URL is not registered yet or its credential was just re-issued (`retry_after_seconds`), 422 when it delivers by poll and has no URL, 502 when it cannot be reached.",
          tags: ['chat'],
          consumes: ['multipart/form-data'],
          params: IdParams,
          response: { 200: z.object({ files: z.array(z.object({ uri: z.string(), name: z.string(), mimeType: z.string(), size: z.number().int() })) }), ...errors, 413: ErrorBody },
        },
      },
      async (req, reply) => {
        if (!(req.body instanceof Readable)) throw new HttpError(400, 'expected a multipart/form-data body with file parts', 'invalid_request');
        const contentType = req.headers['content-type'] ?? '';
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > MAX_CHAT_UPLOAD_BYTES) throw tooLarge();
        const target = await resolveChatTarget(deps, req.params.id, 'upload');
        const cap = capped(MAX_CHAT_UPLOAD_BYTES);
        const body = req.body.pipe(cap);
        req.body.on('error', (err) => cap.destroy(err));
        let res: ForwardResponse;
        try {
          res = await forwardChatFile(deps, 'upload', target, {
            method: 'POST',
            endpoint: '/internal/chat/uploads/ingest',
            headers: { 'content-type': contentType, ...(req.headers['content-length'] ? { 'content-length': req.headers['content-length'] } : {}) },
            body,
          });
        } catch (err) {
          if (cap.exceeded && err instanceof DomainError) throw tooLarge();
          throw err;
        }
        return sendUpstream(reply, res);
      },
    );
  });

  app.get(
    '/workspaces/:id/chat/download',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Download a file from a workspace',
        description:
          'Streams the file at `path` back from the workspace byte for byte, with its Content-Type, Content-Length and Content-Disposition. The path must be absolute and canonical (no `..`, `.` or `//`) and under /configs, /workspace, /home or /plugins (400, checked here and again by the workspace). A 404 or 400 from the workspace passes through; 503, 422 and 502 as for uploads.',
        tags: ['chat'],
        params: IdParams,
        querystring: DownloadQuery,
        produces: ['application/octet-stream'],
        response: { 200: z.any().describe('the file'), ...errors },
      },
    },
    async (req, reply) => {
      checkDownloadPath(req.query.path);
      const target = await resolveChatTarget(deps, req.params.id, 'download');
      const res = await forwardChatFile(deps, 'download', target, { method: 'GET', endpoint: `/internal/file/read?path=${encodeURIComponent(req.query.path)}` });
      // A file from a workspace is never rendered on the platform's origin, whatever the workspace says.
      if (res.status === 200 && res.headers['content-disposition'] === undefined) res.headers['content-disposition'] = 'attachment';
      return sendUpstream(reply, res);
    },
  );
}
