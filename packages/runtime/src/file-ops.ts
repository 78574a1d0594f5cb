import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { AUTH_TOKEN_FILE, INBOUND_SECRET_FILE } from './config.js';

/** A refusal with the status the platform maps to its own answer (400 bad path, 404 missing, 413 too large). */
export class FileOpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** One root the platform names (`/configs`) and the folder it is here. */
export interface FileRootMap {
  virtual: string;
  real: string;
}

const MAX_BATCH_BYTES = 25 * 1024 * 1024;
const CREDENTIALS = new Set([AUTH_TOKEN_FILE, INBOUND_SECRET_FILE]);

const isMissing = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');

/**
 * A path in the platform's terms, checked and resolved: absolute, canonical, under one of the roots,
 * not one of the agent's credential files, and with no symlink on the way from the root (the nearest
 * existing ancestor's real path must be where the path says). `allowRoot`: the root itself is fine.
 */
async function resolve(p: unknown, roots: FileRootMap[], allowRoot = false): Promise<{ root: FileRootMap; real: string; rel: string }> {
  if (typeof p !== 'string' || p === '') throw new FileOpError(400, 'path is required');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\\]/.test(p) || !path.posix.isAbsolute(p)) throw new FileOpError(400, 'path must be absolute, without control characters or backslashes');
  if (path.posix.normalize(p) !== p || p.split('/').includes('..') || (p.endsWith('/') && p !== '/')) throw new FileOpError(400, 'path must be canonical');
  const root = roots.find((r) => p === r.virtual || p.startsWith(`${r.virtual}/`));
  if (!root) throw new FileOpError(400, 'path is outside the allowed roots');
  const rel = p.slice(root.virtual.length + 1);
  if (rel === '' && !allowRoot) throw new FileOpError(400, 'path names a root');
  if (root.virtual === '/configs' && CREDENTIALS.has(rel)) throw new FileOpError(400, 'path is not served');
  await mkdir(root.real, { recursive: true, mode: 0o700 });
  const base = await realpath(root.real);
  const parts = rel === '' ? [] : rel.split('/');
  let existing = parts.length;
  let real: string | undefined;
  while (real === undefined) {
    try {
      real = await realpath(path.join(base, ...parts.slice(0, existing)));
    } catch (err) {
      if (!isMissing(err) || existing === 0) throw err;
      existing--;
    }
  }
  const expected = path.join(base, ...parts.slice(0, existing));
  if (real !== expected) throw new FileOpError(400, 'path goes through a symlink');
  return { root, real: path.join(base, ...parts), rel };
}

interface Entry {
  path: string;
  name: string;
  type: 'file' | 'dir';
  size: number;
  modified_at: string;
}

/**
 * The file operations the platform's Files API uses on backends that reach files only through the
 * agent (the control plane), behind the inbound secret like the other internal endpoints:
 * - `GET /internal/files/list?path=&depth=&limit=`: `{entries, truncated}` (symlinks and the
 *   credential files left out);
 * - `POST /internal/files/write` `{files: [{path, content_base64}]}`: every path checked first (one
 *   refusal writes none), parents created, each file written aside and renamed into place;
 * - `POST /internal/files/delete?path=`: a file, or a dir with what it holds.
 */
export function registerFileOps(scope: FastifyInstance, roots: FileRootMap[]): void {
  scope.get('/internal/files/list', async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const depth = Math.min(Math.max(Number(q.depth ?? 1) || 1, 1), 5);
    const limit = Math.min(Math.max(Number(q.limit ?? 2000) || 2000, 1), 10_000);
    const { root, real, rel } = await resolve(q.path, roots, true);
    const st = await stat(real).catch((err: unknown) => {
      if (isMissing(err)) throw new FileOpError(404, 'not found');
      throw err;
    });
    if (!st.isDirectory()) throw new FileOpError(400, 'path is not a directory');
    const entries: Entry[] = [];
    let truncated = false;
    const walk = async (dir: string, dirRel: string, level: number): Promise<void> => {
      for (const d of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
        if (truncated) return;
        const childRel = dirRel === '' ? d.name : `${dirRel}/${d.name}`;
        if (d.isSymbolicLink() || (!d.isFile() && !d.isDirectory())) continue;
        if (root.virtual === '/configs' && CREDENTIALS.has(childRel)) continue;
        if (entries.length >= limit) {
          truncated = true;
          return;
        }
        const s = await lstat(path.join(dir, d.name));
        entries.push({ path: `${root.virtual}/${childRel}`, name: d.name, type: d.isDirectory() ? 'dir' : 'file', size: d.isFile() ? s.size : 0, modified_at: s.mtime.toISOString() });
        if (d.isDirectory() && level < depth) await walk(path.join(dir, d.name), childRel, level + 1);
      }
    };
    await walk(real, rel, 1);
    return { entries, truncated };
  });

  scope.post('/internal/files/write', { bodyLimit: Math.ceil((MAX_BATCH_BYTES * 4) / 3) + 64 * 1024 }, async (req) => {
    // The agent's app takes every body as bytes (its JSON-RPC routes parse their own).
    let parsed: unknown;
    try {
      parsed = Buffer.isBuffer(req.body) ? JSON.parse(req.body.toString('utf8')) : req.body;
    } catch {
      throw new FileOpError(400, 'the body must be JSON');
    }
    const files = (parsed as { files?: unknown } | undefined)?.files;
    if (!Array.isArray(files) || files.length === 0) throw new FileOpError(400, 'files must be a non-empty list of {path, content_base64}');
    const planned: { real: string; content: Buffer }[] = [];
    let total = 0;
    for (const f of files as { path?: unknown; content_base64?: unknown }[]) {
      if (typeof f?.content_base64 !== 'string') throw new FileOpError(400, 'each file needs content_base64');
      const { real } = await resolve(f.path, roots);
      const existing = await lstat(real).catch(() => undefined);
      if (existing?.isDirectory()) throw new FileOpError(400, `${String(f.path)} is a directory`);
      const content = Buffer.from(f.content_base64, 'base64');
      total += content.length;
      if (total > MAX_BATCH_BYTES) throw new FileOpError(413, `the files are larger than ${MAX_BATCH_BYTES} bytes`);
      planned.push({ real, content });
    }
    for (const f of planned) {
      await mkdir(path.dirname(f.real), { recursive: true, mode: 0o700 });
      const tmp = path.join(path.dirname(f.real), `.${path.basename(f.real)}.${randomBytes(6).toString('hex')}.tmp`);
      await writeFile(tmp, f.content, { mode: 0o600, flag: 'wx' });
      await rename(tmp, f.real);
    }
    return { written: planned.length };
  });

  scope.post('/internal/files/delete', async (req) => {
    const { real } = await resolve((req.query as Record<string, unknown>).path, roots);
    if (!(await lstat(real).catch(() => undefined))) throw new FileOpError(404, 'not found');
    await rm(real, { recursive: true, force: true });
    return { deleted: true };
  });
}
