import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, realpath, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import websocket from '@fastify/websocket';
import { TERMINAL_MAX_FRAME_BYTES } from '@molecule/contracts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AUTH_TOKEN_FILE, INBOUND_SECRET_FILE } from './config.js';
import { registerFileOps, type FileRootMap } from './file-ops.js';
import type { Logger } from './log.js';
import { readSecretFile } from './secret-file.js';
import { registerAgentTerminal, type AgentTerminalOptions } from './terminal.js';

export interface UploadLimits {
  requestBytes: number;
  fileBytes: number;
  files: number;
  fields: number;
}
export const UPLOAD_LIMITS: Readonly<UploadLimits> = {
  requestBytes: 50 * 1024 * 1024,
  fileBytes: 25 * 1024 * 1024,
  files: 64,
  fields: 32,
};
/** Where ingested chat uploads land, under the workspace dir. */
export const CHAT_UPLOADS_SUBDIR = '.molecule/chat-uploads';
const NAME_MAX = 100;
const EXT_MAX = 16;

export interface InternalFilesOptions {
  configsDir: string;
  workspaceDir: string;
  /**
   * The paths the platform speaks (`/configs`, `/workspace`) and where they are here: the same in
   * a container, the workspace's own folders under the platform's data dir with the process
   * backend. Upload URIs are given, and read paths taken, in the platform's terms.
   */
  virtualRoots?: { virtual: string; real: string }[];
  /** Roots `GET /internal/file/read` may serve from (absolute). */
  readRoots: string[];
  log: Logger;
  /** Overrides {@link UPLOAD_LIMITS} (tests). */
  limits?: Partial<UploadLimits>;
  /** Serves the file operations (`/internal/files/...`, see file-ops.ts) over these roots when given. */
  fileRoots?: FileRootMap[];
  /** Serves `POST /internal/plugins/reload` when given: loads the installed plugins again, answers their names. */
  reloadPlugins?: () => Promise<string[]>;
  /** Serves the workspace terminal (`GET /internal/terminal`, a WebSocket, see terminal.ts) when given. */
  terminal?: AgentTerminalOptions;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * C035: the endpoints the platform calls on the workspace, behind `Authorization: Bearer <platform
 * inbound secret>` (compared in constant time; a missing or empty secret file fails closed: 401).
 * - `POST /internal/chat/uploads/ingest` (multipart): each file part is written, exclusively and
 *   0600, to `<workspace>/.molecule/chat-uploads/<32 hex>-<sanitised name>`; answers
 *   `{files: [{uri: "workspace:<abs path>", name, mimeType, size}]}`. 413 beyond the limits.
 * - `GET /internal/file/read?path=<abs>`: the path must be absolute, canonical (no `..`, no `//`),
 *   under one of the roots, with no symlink below the root, and a regular file (400 otherwise;
 *   404 when missing); streamed with an escaped `Content-Disposition: attachment`.
 * - `GET /internal/files/list`, `POST /internal/files/write|delete` (file-ops.ts): the Files API for
 *   backends that reach files only through the agent.
 * - `POST /internal/plugins/reload`: loads `/configs/plugins/*` again (after the platform installed
 *   or removed one); answers `{plugins: [names]}`.
 * - `GET /internal/terminal` (terminal.ts): a shell on a pty, over a WebSocket, for the backends
 *   that reach the workspace only through its agent.
 */
export async function registerInternalFiles(app: FastifyInstance, opts: InternalFilesOptions): Promise<void> {
  const limits = { ...UPLOAD_LIMITS, ...opts.limits };
  await app.register(async (scope) => {
    // Before the auth hook: the WebSocket plugin's own onRequest hook marks upgrade requests, and only
    // a marked request's socket is destroyed after a refusal (a 401 would leave it open otherwise).
    if (opts.terminal) await scope.register(websocket, { options: { maxPayload: TERMINAL_MAX_FRAME_BYTES } });
    await scope.register(multipart, {
      throwFileSizeLimit: true,
      limits: { fileSize: limits.fileBytes, files: limits.files, fields: limits.fields, parts: limits.files + limits.fields },
    });
    scope.addHook('onRequest', async (req) => authorize(req, opts));
    scope.setErrorHandler((err: Error & { statusCode?: number; code?: string; expose?: boolean }, req, reply) => {
      // `expose`: a refusal whose canned message is meant for the platform whatever its status (a shell that cannot start).
      const status =
        err instanceof HttpError ? err.status : err.statusCode && ((err.statusCode >= 400 && err.statusCode < 500) || err.expose === true) ? err.statusCode : 500;
      if (status >= 500 && err.expose !== true) opts.log.error({ err, url: req.url }, 'internal file endpoint failed');
      else opts.log.info({ status, reason: err.message, url: req.url.split('?')[0] }, 'internal file request refused');
      void reply.status(status).send({ error: status >= 500 && err.expose !== true ? 'internal error' : err.message });
    });
    scope.post('/internal/chat/uploads/ingest', (req, reply) => ingest(req, reply, opts, limits.requestBytes));
    scope.get('/internal/file/read', (req, reply) => readFile(req, reply, opts));
    if (opts.fileRoots) registerFileOps(scope, opts.fileRoots);
    if (opts.terminal) registerAgentTerminal(scope, opts.terminal);
    if (opts.reloadPlugins) {
      const reload = opts.reloadPlugins;
      scope.post('/internal/plugins/reload', async () => ({ plugins: await reload() }));
    }
  });
}

const digest = (s: string) => createHash('sha256').update(s).digest();

async function authorize(req: FastifyRequest, opts: InternalFilesOptions): Promise<void> {
  let secret: string | undefined;
  try {
    secret = await readSecretFile(path.join(opts.configsDir, INBOUND_SECRET_FILE));
  } catch (err) {
    opts.log.error({ err }, 'cannot read the platform inbound secret; refusing internal requests');
  }
  // Fail closed: without a secret on disk nobody is let in.
  if (!secret) throw new HttpError(401, 'unauthorized');
  const header = req.headers.authorization ?? '';
  const given = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
  if (!given || !timingSafeEqual(digest(given), digest(secret))) throw new HttpError(401, 'unauthorized');
}

/** Keeps `[A-Za-z0-9._-]`, spaces become `_`, at most 100 characters keeping an extension of up to 16. */
export function sanitizeFileName(name: string): string {
  let s = path.basename(name.replace(/\\/g, '/')).replace(/ /g, '_').replace(/[^A-Za-z0-9._-]/g, '');
  if (s === '' || s === '.' || s === '..') return 'file';
  if (s.length > NAME_MAX) {
    const ext = path.extname(s);
    s = ext.length > 1 && ext.length <= EXT_MAX ? s.slice(0, NAME_MAX - ext.length) + ext : s.slice(0, NAME_MAX);
  }
  return s;
}

async function uploadsDir(opts: InternalFilesOptions): Promise<string> {
  const dir = path.join(opts.workspaceDir, CHAT_UPLOADS_SUBDIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const real = await realpath(dir);
  // A symlinked .molecule or chat-uploads would send uploads elsewhere.
  if (real !== path.join(await realpath(opts.workspaceDir), CHAT_UPLOADS_SUBDIR)) throw new Error(`${dir} is not a plain directory`);
  return real;
}

async function ingest(req: FastifyRequest, reply: FastifyReply, opts: InternalFilesOptions, requestBytes: number) {
  if (!req.isMultipart()) throw new HttpError(400, 'expected multipart/form-data with files parts');
  const dir = await uploadsDir(opts);
  const written: string[] = [];
  const files: { uri: string; name: string; mimeType: string; size: number }[] = [];
  let total = 0;
  let current = '';
  try {
    for await (const part of req.parts()) {
      if (part.type !== 'file') continue;
      current = part.filename;
      const name = sanitizeFileName(part.filename);
      const target = path.join(dir, `${randomBytes(16).toString('hex')}-${name}`);
      const fh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      written.push(target);
      let size = 0;
      const count = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          total += chunk.length;
          if (total > requestBytes) cb(new HttpError(413, `upload larger than ${requestBytes} bytes (at file "${current}")`));
          else cb(null, chunk);
        },
      });
      await pipeline(part.file, count, createWriteStream('', { fd: fh }));
      files.push({ uri: `workspace:${toVirtual(target, opts.virtualRoots)}`, name, mimeType: partMimeType(part.mimetype, name), size });
    }
  } catch (err) {
    await Promise.all(written.map((f) => rm(f, { force: true })));
    if (err instanceof HttpError) throw err;
    const e = err as { statusCode?: number; code?: string; message: string };
    if (e.statusCode === 413 || e.code === 'FST_REQ_FILE_TOO_LARGE' || e.code === 'FST_FILES_LIMIT' || e.code === 'FST_FIELDS_LIMIT' || e.code === 'FST_PARTS_LIMIT') {
      throw new HttpError(413, current ? `${e.message} (file "${current}")` : e.message);
    }
    if (e.statusCode && e.statusCode < 500) throw new HttpError(400, `malformed multipart: ${e.message}`);
    throw err;
  }
  if (files.length === 0) throw new HttpError(400, 'no files parts in the upload');
  opts.log.info({ files: files.length, bytes: total }, 'chat uploads ingested');
  return reply.send({ files });
}

const CONTENT_TYPES: Record<string, string> = {
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.json': 'application/json',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.html': 'text/html; charset=utf-8',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.zip': 'application/zip',
};

/**
 * C074: the part's own Content-Type wins; only when it says nothing (absent, or the generic
 * application/octet-stream a browser sends for an unknown type) is the file extension asked.
 * (Busboy reports an absent part header as text/plain, indistinguishable from a declared one.)
 */
export function partMimeType(declared: string | undefined, name: string): string {
  if (declared && declared !== 'application/octet-stream') return declared;
  return CONTENT_TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/** RFC 6266 / 5987: an ASCII fallback with quotes escaped, plus the exact name percent-encoded. */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '\\$&');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * The path rule of C035/C080: absolute, canonical, under a root, no symlink below that root, not
 * one of the agent's own credential files. Throws a 400 naming the broken rule, or 404.
 */
export async function checkReadPath(p: string, roots: string[], configsDir: string): Promise<void> {
  if (!p) throw new HttpError(400, 'path is required');
  if (p.includes('\0') || !path.posix.isAbsolute(p)) throw new HttpError(400, 'path must be absolute');
  if (path.posix.normalize(p) !== p || p.split('/').includes('..') || p.endsWith('/')) throw new HttpError(400, 'path must be canonical');
  const root = roots.find((r) => p.startsWith(r.endsWith('/') ? r : `${r}/`));
  if (!root) throw new HttpError(400, 'path is outside the allowed roots');
  if ([AUTH_TOKEN_FILE, INBOUND_SECRET_FILE].some((f) => p === path.join(configsDir, f))) throw new HttpError(400, 'path is not readable');
  let real: string;
  try {
    real = await realpath(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new HttpError(404, 'not found');
    throw err;
  }
  if (real !== path.join(await realpath(root), path.relative(root, p))) throw new HttpError(400, 'path goes through a symlink');
}

/** A real path in the platform's terms (`/workspace/...`), when it lies under a mapped root. */
export function toVirtual(real: string, roots: InternalFilesOptions['virtualRoots'] = []): string {
  const m = roots.find((r) => real === r.real || real.startsWith(`${r.real}/`));
  return m ? `${m.virtual}${real.slice(m.real.length)}` : real;
}

/** A path in the platform's terms mapped to where it is here; anything else is left as given (and checked as such). */
export function fromVirtual(p: string, roots: InternalFilesOptions['virtualRoots'] = []): string {
  const m = roots.find((r) => p === r.virtual || p.startsWith(`${r.virtual}/`));
  return m ? `${m.real}${p.slice(m.virtual.length)}` : p;
}

async function readFile(req: FastifyRequest, reply: FastifyReply, opts: InternalFilesOptions) {
  const asked = (req.query as Record<string, unknown>).path;
  // The platform checked the path as given (canonical, under its roots); here it is mapped, then checked again.
  const p = typeof asked === 'string' && path.posix.isAbsolute(asked) && path.posix.normalize(asked) === asked ? fromVirtual(asked, opts.virtualRoots) : asked;
  await checkReadPath(typeof p === 'string' ? p : '', opts.readRoots, opts.configsDir);
  let fh: FileHandle;
  try {
    // O_NOFOLLOW: the last component cannot have become a symlink since the check.
    fh = await open(p as string, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new HttpError(404, 'not found');
    if (code === 'ELOOP') throw new HttpError(400, 'path goes through a symlink');
    throw err;
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new HttpError(400, 'path is not a regular file');
  }
  // A chat upload is stored as <32 hex>-<name>: it downloads under the name it was sent with.
  const stored = path.basename(p as string);
  const name = path.basename(path.dirname(p as string)) === path.basename(CHAT_UPLOADS_SUBDIR) ? stored.replace(/^[0-9a-f]{32}-/, '') : stored;
  return reply
    .header('content-type', CONTENT_TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream')
    .header('content-length', String(st.size))
    .header('content-disposition', contentDisposition(name))
    .header('x-content-type-options', 'nosniff')
    .send(createReadStream('', { fd: fh }));
}
