import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorBody, TemplateSummary } from '@molecule/contracts';
import { requireAdmin, type AuthDeps } from '../auth/principal.js';
import type { AppDeps } from '../deps.js';
import { invalid } from '../errors.js';
import type { App } from '../http/types.js';
import { checkTemplateFiles, filesFromTar, filesFromZip, installTemplate } from './template-install.js';
import { MAX_TEMPLATE_BYTES } from './templates.js';

const ARCHIVE_TYPES = ['application/zip', 'application/x-zip-compressed', 'application/x-tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'];
const JsonUpload = z.strictObject({
  name: z.string().min(1).max(200),
  /** Path relative to the template folder -> its text. */
  files: z.record(z.string(), z.string()),
  overwrite: z.boolean().optional(),
});
const Query = z.object({
  name: z.string().min(1).max(200).optional(),
  overwrite: z.enum(['true', 'false']).optional(),
});

/** Answers a template folder's files from an upload: JSON `{name, files}`, or a zip or (gzipped) tar archive. */
async function uploadedFiles(contentType: string, body: unknown): Promise<{ name?: string; overwrite?: boolean; files: Record<string, string | Buffer> }> {
  if (Buffer.isBuffer(body)) {
    if (body.length === 0) throw invalid('the archive is empty');
    // The bytes say what the archive is (PK: zip; anything else is read as a tar, gzipped or not).
    const zip = body[0] === 0x50 && body[1] === 0x4b;
    return { files: zip || /\/(x-)?zip/.test(contentType) ? await filesFromZip(body) : await filesFromTar(body) };
  }
  const r = JsonUpload.safeParse(body);
  if (!r.success) throw invalid(`invalid template upload: ${r.error.issues[0]!.message} at /${r.error.issues[0]!.path.map(String).join('/')}`);
  return r.data;
}

/** `POST /templates/import`: a workspace template uploaded as files or as an archive (admin). */
export async function registerTemplateRoutes(app: App, deps: Pick<AppDeps, 'templatesDir' | 'templateManifests' | 'log'> & AuthDeps): Promise<void> {
  const admin = requireAdmin(deps);
  // Archive content types are parsed only here (the rest of the API takes JSON alone).
  await app.register(async (plain) => {
    const child = plain.withTypeProvider<ZodTypeProvider>();
    child.addContentTypeParser(ARCHIVE_TYPES, { parseAs: 'buffer', bodyLimit: MAX_TEMPLATE_BYTES * 2 }, (_req, body, done) => done(null, body));
    child.post(
      '/templates/import',
      {
        config: { access: 'admin' },
        onRequest: admin,
        bodyLimit: MAX_TEMPLATE_BYTES * 2,
        schema: {
          summary: 'Import a workspace template',
          description:
            'A folder uploaded as JSON `{name, files: {path: text}, overwrite?}`, or a zip or (gzipped) tar archive with `?name=` (content type application/zip, application/x-tar or application/gzip). Paths must be relative and plain (no `..`, no absolute paths, no symlinks or special entries), text only, at most 4 MiB in 500 files, with a config.yaml at the top (a single top folder is taken off) that is a YAML mapping naming a known runtime if any. Written to a hidden folder and renamed into place. 409 when the name is taken unless `overwrite`.',
          tags: ['workspaces'],
          querystring: Query,
          response: { 201: z.object({ name: z.string(), files: z.number().int(), bytes: z.number().int(), template: TemplateSummary.nullable() }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody, 413: ErrorBody },
        },
      },
      async (req, reply) => {
        const upload = await uploadedFiles(String(req.headers['content-type'] ?? ''), req.body);
        const name = upload.name ?? req.query.name;
        if (!name) throw invalid('name the template: ?name= for an archive, or "name" in the JSON body');
        if (upload.name && req.query.name && upload.name !== req.query.name) throw invalid('the name in the query and the body differ');
        const files = checkTemplateFiles(upload.files);
        await installTemplate(deps.templatesDir, name, files, { overwrite: upload.overwrite ?? req.query.overwrite === 'true' });
        deps.templateManifests.invalidate(deps.templatesDir);
        const summary = (await deps.templateManifests.catalog(deps.templatesDir)).byName.get(name)?.summary ?? null;
        deps.log.info({ template: name, files: Object.keys(files).length }, 'template imported');
        return reply.code(201).send({ name, files: Object.keys(files).length, bytes: Object.values(files).reduce((n, t) => n + Buffer.byteLength(t), 0), template: summary });
      },
    );
  });
}
