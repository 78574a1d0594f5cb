import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody, FILE_ROOTS, FileTree, MAX_FILE_BYTES, MAX_FILE_TREE_DEPTH, MAX_FILES_BATCH_BYTES, Status, WriteFilesBody, WriteFilesResult } from '@molecule/contracts';
import path from 'node:path';
import { requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import { badRequest, notFound } from '../http/errors.js';
import type { App } from '../http/types.js';
import { FileError, splitFilePath } from '../provisioning/files.js';
import { removedError, requireLiveWorkspace } from '../workspaces/errors.js';
import { getWorkspace } from '../workspaces/read.js';
import type { WorkspaceDeps } from '../workspaces/service.js';
import { listFiles, readWorkspaceFile, removeWorkspaceFile, writeWorkspaceFiles, type FilesDeps } from './service.js';

const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const FileParams = IdParams.extend({ '*': z.string() });
const TreeQuery = z.object({
  root: z.enum(FILE_ROOTS, { error: `root must be one of ${FILE_ROOTS.join(', ')}` }).default('/configs'),
  path: z.string().max(4096).default(''),
  depth: z.coerce.number().int().min(1).max(MAX_FILE_TREE_DEPTH).default(1),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 410: ErrorBody, 501: ErrorBody, 503: ErrorBody };
const writeErrors = { ...errors, 413: ErrorBody, 422: ErrorBody };

const TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
};
const TEXT = new Set(['.md', '.txt', '.py', '.ts', '.js', '.mjs', '.sh', '.toml', '.csv', '.ini', '.cfg', '.env', '.log', '.html', '.css', '.xml', '']);

/** The content type a file is served with, from its extension: text as text/plain (never rendered), unknown binary as octet-stream. */
export function contentTypeOf(name: string): string {
  const ext = path.extname(name).toLowerCase();
  if (TYPES[ext]) return TYPES[ext];
  return TEXT.has(ext) ? 'text/plain; charset=utf-8' : 'application/octet-stream';
}

/** `attachment` with the name both plain (quotes and non-ASCII replaced) and RFC 5987-encoded. */
export function contentDisposition(name: string): string {
  const plain = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${plain}"; filename*=UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

/** A client's path, checked (C080); a refusal is a 400 naming the rule. */
function checked(full: string, allowRoot = false) {
  try {
    return splitFilePath(full, allowRoot);
  } catch (err) {
    if (err instanceof FileError) throw badRequest(err.message);
    throw err;
  }
}

/**
 * The Files API (#13): a workspace's files under four roots (/configs, /workspace, /home, /plugins).
 * A file is addressed by its absolute path appended to `/workspaces/:id/files`, e.g.
 * `/workspaces/:id/files/configs/config.yaml`. Reads of a stopped agent's /configs come from its
 * template (C195); writes need an agent its backend reaches (409 when stopped on a container backend).
 */
export function registerFileRoutes(app: App, deps: WorkspaceDeps & AuthDeps & FilesDeps): void {
  const wsAccess = requireWorkspaceAccess(deps);
  const liveWorkspace = (id: string) => requireLiveWorkspace(deps.db, id);

  app.get(
    '/workspaces/:id/files',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: "A tree of a workspace's files",
        description: `Entries under \`path\` (relative to \`root\`; "" is the root), \`depth\` levels deep (1-${MAX_FILE_TREE_DEPTH}). At most 2000 entries; more set \`truncated\`. A stopped agent's /configs come from its template (\`source: "template"\`, C195). Symlinks are not listed.`,
        tags: ['files'],
        params: IdParams,
        querystring: TreeQuery,
        response: { 200: FileTree, ...errors },
      },
    },
    async (req) => {
      const ws = await liveWorkspace(req.params.id);
      const { root, rel } = checked(req.query.path === '' ? req.query.root : `${req.query.root}/${req.query.path}`, true);
      return listFiles(deps, ws, root, rel, req.query.depth);
    },
  );

  app.get(
    '/workspaces/:id/files/*',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Download one file',
        description:
          'The bytes of `/<root>/<path>`, as an attachment, content type from the extension. `x-molecule-file-source` says whether they came from the agent or its template (C195). Larger than 10 MiB: 413.',
        tags: ['files'],
        params: FileParams,
        response: { 200: z.unknown().describe('the file bytes'), ...errors, 413: ErrorBody, 422: ErrorBody },
      },
    },
    async (req, reply) => {
      const ws = await liveWorkspace(req.params.id);
      const { root, rel } = checked(`/${req.params['*']}`);
      const file = await readWorkspaceFile(deps, ws, root, rel);
      const name = rel.split('/').at(-1)!;
      return reply
        .header('content-type', contentTypeOf(name))
        .header('content-length', file.size)
        .header('content-disposition', contentDisposition(name))
        .header('x-molecule-file-source', file.source)
        .send(file.body);
    },
  );

  app.delete(
    '/workspaces/:id/files/*',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Delete one file or directory',
        description: 'A directory goes with everything under it. The roots themselves cannot be deleted.',
        tags: ['files'],
        params: FileParams,
        response: { 200: z.object({ deleted: z.string() }), ...writeErrors },
      },
    },
    async (req) => {
      const ws = await liveWorkspace(req.params.id);
      const { root, rel } = checked(`/${req.params['*']}`);
      await removeWorkspaceFile(deps, ws, root, rel);
      return { deleted: `${root}/${rel}` };
    },
  );

  app.put(
    '/workspaces/:id/files',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      bodyLimit: MAX_FILES_BATCH_BYTES,
      schema: {
        summary: 'Write several text files at once',
        description:
          '`{files: {"/configs/a.md": "text", ...}}`, all under one root; parent directories are created. Every path is checked before anything is written: one refusal writes none. Body over 25 MiB: 413.',
        tags: ['files'],
        params: IdParams,
        body: WriteFilesBody,
        response: { 200: WriteFilesResult, ...writeErrors },
      },
    },
    async (req) => {
      const ws = await liveWorkspace(req.params.id);
      const paths = Object.keys(req.body.files);
      const split = paths.map((p) => checked(p));
      const root = split[0]!.root;
      if (split.some((s) => s.root !== root)) throw badRequest('all files of one call must be under the same root');
      await writeWorkspaceFiles(
        deps,
        ws,
        root,
        split.map((s, i) => ({ rel: s.rel, content: Buffer.from(req.body.files[paths[i]!]!) })),
      );
      return { written: paths };
    },
  );
}

/**
 * `PUT /workspaces/:id/files/*`: the raw body, any content type, is the file. In its own context so
 * that every content type is taken as bytes (the app's JSON parser stays for every other route).
 */
export async function registerFileUploadRoute(app: App, deps: WorkspaceDeps & AuthDeps & FilesDeps): Promise<void> {
  const wsAccess = requireWorkspaceAccess(deps);
  await app.register(async (plain) => {
    const child = plain.withTypeProvider<ZodTypeProvider>();
    child.removeAllContentTypeParsers();
    child.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_FILE_BYTES }, (_req, body, done) => done(null, body));
    child.put(
      '/workspaces/:id/files/*',
      {
        config: { access: 'workspace' },
        onRequest: wsAccess,
        bodyLimit: MAX_FILE_BYTES,
        schema: {
          summary: 'Write one file',
          description: 'The request body, whatever its content type, becomes the file at `/<root>/<path>`; parent directories are created. Over 10 MiB: 413.',
          tags: ['files'],
          params: FileParams,
          response: { 200: WriteFilesResult, ...writeErrors },
        },
      },
      async (req) => {
        const ws = await getWorkspace(deps.db, req.params.id);
        if (!ws) throw notFound('workspace not found');
        if (ws.status === Status.Removed) throw removedError(ws);
        const { root, rel } = checked(`/${req.params['*']}`);
        const content = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        await writeWorkspaceFiles(deps, ws, root, [{ rel, content }]);
        return { written: [`${root}/${rel}`] };
      },
    );
  });
}
