import type { FileEntry, FileRoot } from '@molecule/contracts';
import type Docker from 'dockerode';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import type { WorkspaceRow } from '../../workspaces/read.js';
import { FileError, joinFilePath, type FileWrite, type WorkspaceFiles } from '../files.js';
import { CONFIGS_DIR, containerName, WORKSPACE_DIR } from './names.js';

/**
 * Where each root lives inside a workspace's container. Every runtime runs in the one runtime image
 * with its configs volume at /configs (C100), so unlike upstream's per-image paths (C197) the config
 * root is the same for all.
 */
export function containerRootDir(root: FileRoot): string {
  switch (root) {
    case '/configs':
      return CONFIGS_DIR;
    case '/workspace':
      return WORKSPACE_DIR;
    case '/home':
      return '/root';
    case '/plugins':
      return '/plugins';
  }
}

/** What the engine says about a path (the `X-Docker-Container-Path-Stat` header). */
interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}
// Go's os.FileMode bits, as the engine sends them (beyond 2^31: no bitwise operators).
const isDirMode = (mode: number) => Math.floor(mode / 2 ** 31) % 2 === 1;
const isLinkMode = (mode: number) => Math.floor(mode / 2 ** 27) % 2 === 1;

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number } | null)?.statusCode;
/** Bytes of archive a listing reads at most before it says `truncated` (a dir archive carries file contents). */
const MAX_LIST_ARCHIVE_BYTES = 64 * 1024 * 1024;

/**
 * The Docker backend's files, through the engine's archive API (no host mounts).
 * Symlinks are refused: any symlink on the way to a path (the engine would follow it anywhere in the
 * container) is a 400, and listings skip them. Deleting has no archive call: it is one exec (`remove`).
 */
export class DockerFiles implements WorkspaceFiles {
  readonly whileStopped = false;

  constructor(private readonly client: () => Docker) {}

  private container(ws: WorkspaceRow): Docker.Container {
    return this.client().getContainer(containerName(ws.id));
  }

  private async stat(c: Docker.Container, p: string, signal: AbortSignal): Promise<PathStat | undefined> {
    let res: IncomingMessage;
    try {
      res = (await c.infoArchive({ path: p, abortSignal: signal })) as IncomingMessage;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
    res.resume();
    const header = res.headers['x-docker-container-path-stat'];
    if (typeof header !== 'string') throw new Error('the engine sent no path stat');
    return JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as PathStat;
  }

  /**
   * The stat of `rel` under the root, after checking that neither it nor any dir on the way is a
   * symlink; undefined when something on the way is missing.
   */
  private async walk(c: Docker.Container, ws: WorkspaceRow, root: FileRoot, rel: string, signal: AbortSignal): Promise<PathStat | undefined> {
    const base = containerRootDir(root);
    const parts = rel === '' ? [] : rel.split('/');
    let st = await this.stat(c, base, signal);
    for (let i = 1; i <= parts.length && st; i++) {
      st = await this.stat(c, path.posix.join(base, ...parts.slice(0, i)), signal);
      if (st && isLinkMode(st.mode)) throw new FileError('invalid_path', `invalid file path: ${joinFilePath(root, parts.slice(0, i).join('/'))} is a symlink; it may lead outside ${root}`);
    }
    return st;
  }

  async list(ws: WorkspaceRow, root: FileRoot, rel: string, depth: number, limit: number, signal: AbortSignal): Promise<{ entries: FileEntry[]; truncated: boolean }> {
    const c = this.container(ws);
    const st = await this.walk(c, ws, root, rel, signal);
    if (!st) {
      if (rel === '') return { entries: [], truncated: false };
      throw new FileError('not_found', `${joinFilePath(root, rel)} not found`);
    }
    if (!isDirMode(st.mode)) throw new FileError('not_dir', `${joinFilePath(root, rel)} is not a directory`);
    const dir = path.posix.join(containerRootDir(root), rel);
    const archive = (await c.getArchive({ path: dir, abortSignal: signal })) as Readable;
    const entries: FileEntry[] = [];
    let truncated = false;
    let bytes = 0;
    const ex = extract();
    await new Promise<void>((resolve, reject) => {
      const stop = () => {
        truncated = true;
        archive.unpipe(ex);
        archive.destroy();
        resolve();
      };
      archive.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_LIST_ARCHIVE_BYTES) stop();
      });
      ex.on('entry', (h, body, next) => {
        body.resume();
        // Names are `<dir name>/<relative path>`; the dir itself comes first.
        const inner = h.name.replace(/\/$/, '').split('/').slice(1);
        if (inner.length > 0 && inner.length <= depth && (h.type === 'file' || h.type === 'directory')) {
          if (entries.length >= limit) return stop();
          const childRel = [...(rel === '' ? [] : [rel]), ...inner].join('/');
          entries.push({ path: joinFilePath(root, childRel), name: inner.at(-1)!, type: h.type === 'directory' ? 'dir' : 'file', size: h.type === 'file' ? (h.size ?? 0) : 0, modified_at: (h.mtime ?? new Date(0)).toISOString() });
        }
        body.on('end', () => next());
      });
      ex.on('finish', resolve);
      ex.on('error', reject);
      archive.on('error', reject);
      archive.pipe(ex);
    });
    entries.sort((a, b) => a.path.localeCompare(b.path));
    return { entries, truncated };
  }

  async read(ws: WorkspaceRow, root: FileRoot, rel: string, maxBytes: number, signal: AbortSignal): Promise<{ size: number; body: Readable }> {
    const c = this.container(ws);
    const st = await this.walk(c, ws, root, rel, signal);
    if (!st) throw new FileError('not_found', `${joinFilePath(root, rel)} not found`);
    if (isDirMode(st.mode)) throw new FileError('is_dir', `${joinFilePath(root, rel)} is a directory`);
    if (st.size > maxBytes) throw new FileError('too_large', `${joinFilePath(root, rel)} is larger than ${maxBytes} bytes`);
    const archive = (await c.getArchive({ path: path.posix.join(containerRootDir(root), rel), abortSignal: signal })) as Readable;
    // The archive holds the one file: its entry's bytes are streamed out as they arrive.
    const out = new PassThrough();
    const ex = extract();
    let seen = false;
    ex.on('entry', (h, body, next) => {
      if (seen || h.type !== 'file') {
        body.resume();
        body.on('end', () => next());
        return;
      }
      seen = true;
      body.pipe(out);
      body.on('end', () => next());
    });
    ex.on('finish', () => {
      if (!seen) out.destroy(new Error('the engine archive held no file'));
    });
    ex.on('error', (err) => out.destroy(err));
    archive.on('error', (err) => out.destroy(err));
    archive.pipe(ex);
    return { size: st.size, body: out };
  }

  async write(ws: WorkspaceRow, root: FileRoot, files: FileWrite[], signal: AbortSignal): Promise<void> {
    const c = this.container(ws);
    const base = containerRootDir(root);
    // Every path is checked before the archive goes in: a refusal writes nothing.
    for (const f of files) {
      const st = await this.walk(c, ws, root, f.rel, signal);
      if (st && isDirMode(st.mode)) throw new FileError('is_dir', `${joinFilePath(root, f.rel)} is a directory`);
    }
    const baseExists = (await this.stat(c, base, signal)) !== undefined;
    // A root the image lacks (/plugins) is created by putting the archive at / with the root's path in it.
    const prefix = baseExists ? '' : `${base.slice(1)}/`;
    const p = pack();
    const chunks: Buffer[] = [];
    p.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    const done = new Promise<void>((resolve, reject) => {
      p.on('end', resolve);
      p.on('error', reject);
    });
    const mtime = new Date();
    const dirs = new Set<string>();
    for (const f of files) {
      const parts = `${prefix}${f.rel}`.split('/').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    }
    // Dirs that exist keep their mode and owner: only missing ones are entries.
    for (const d of [...dirs].sort()) {
      const full = baseExists ? path.posix.join(base, d) : `/${d}`;
      if (!(await this.stat(c, full, signal))) p.entry({ name: `${d}/`, type: 'directory', mode: 0o755, mtime });
    }
    for (const f of files) p.entry({ name: `${prefix}${f.rel}`, mode: 0o644, mtime }, f.content);
    p.finalize();
    await done;
    await c.putArchive(Buffer.concat(chunks), { path: baseExists ? base : '/', copyUIDGID: '1', abortSignal: signal });
  }

  /**
   * Removes a file or a dir (recursively) with one exec in the container, the archive API having no
   * delete: `rm -rf`, or node's `fs.rmSync` in images without `rm` (every runtime image has node).
   * Neither follows a symlink inside the tree, and the walk has refused any on the way to it.
   */
  async remove(ws: WorkspaceRow, root: FileRoot, rel: string, signal: AbortSignal): Promise<void> {
    if (rel === '') throw new FileError('invalid_path', `invalid file path: ${root} is a root; it cannot be deleted`);
    const c = this.container(ws);
    const st = await this.walk(c, ws, root, rel, signal);
    if (!st) throw new FileError('not_found', `${joinFilePath(root, rel)} not found`);
    const target = path.posix.join(containerRootDir(root), rel);
    for (const cmd of [
      ['rm', '-rf', '--', target],
      ['node', '-e', 'require("fs").rmSync(process.argv[1], { recursive: true, force: true })', target],
    ]) {
      if ((await execQuietly(c, cmd, signal)) === 0) return;
    }
    throw new Error(`could not delete ${target} in the container (neither rm nor node succeeded)`);
  }
}

/** Runs `cmd` in the container without a TTY, output discarded; its exit code (127 when the binary is missing). */
async function execQuietly(c: Docker.Container, cmd: string[], signal: AbortSignal): Promise<number> {
  let exec: Docker.Exec;
  let stream: NodeJS.ReadableStream;
  try {
    exec = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, abortSignal: signal });
    stream = await exec.start({ hijack: true, stdin: false, abortSignal: signal });
  } catch (err) {
    // The engine refuses to start a binary the image lacks.
    if (/executable file not found|no such file or directory/i.test(String((err as Error).message))) return 127;
    throw err;
  }
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', reject);
    stream.resume();
  });
  return (await exec.inspect({ abortSignal: signal })).ExitCode ?? 127;
}
