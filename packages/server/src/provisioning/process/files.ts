import type { FileEntry, FileRoot } from '@molecule/contracts';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { WorkspaceRow } from '../../workspaces/read.js';
import { FileError, joinFilePath, type FileWrite, type WorkspaceFiles } from '../files.js';

/** The dir under a workspace's data dir that holds each root. */
export const PROCESS_ROOT_DIRS: Readonly<Record<FileRoot, string>> = { '/configs': 'configs', '/workspace': 'workspace', '/home': 'home', '/plugins': 'plugins' };

const isMissing = (err: unknown) => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');

/**
 * The process backend's files: plain dirs under `<dataDir>/workspaces/<id>/`, reachable whether the
 * agent runs or not. Every path is resolved with realpath and refused when it lands outside its root
 * (a symlink pointing out), before anything is read or written.
 */
export class ProcessFiles implements WorkspaceFiles {
  readonly whileStopped = true;

  constructor(private readonly dirOf: (id: string) => string) {}

  /** The root's real path, created when missing (a workspace that never started has none yet). */
  private async rootDir(ws: WorkspaceRow, root: FileRoot): Promise<string> {
    const dir = path.join(this.dirOf(ws.id), PROCESS_ROOT_DIRS[root]);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return realpath(dir);
  }

  /**
   * The real path of `rel` under the root: the path itself when it exists, else its nearest existing
   * ancestor's real path plus the rest. Outside the root: `invalid_path`.
   */
  private async resolve(base: string, root: FileRoot, rel: string): Promise<string> {
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
    const full = path.join(real, ...parts.slice(existing));
    if (full !== base && !full.startsWith(base + path.sep)) throw new FileError('invalid_path', `invalid file path: ${joinFilePath(root, rel)} leads outside ${root} (a symlink)`);
    return full;
  }

  async list(ws: WorkspaceRow, root: FileRoot, rel: string, depth: number, limit: number): Promise<{ entries: FileEntry[]; truncated: boolean }> {
    const base = await this.rootDir(ws, root);
    const start = await this.resolve(base, root, rel);
    const st = await stat(start).catch((err: unknown) => {
      if (isMissing(err)) throw new FileError('not_found', `${joinFilePath(root, rel)} not found`);
      throw err;
    });
    if (!st.isDirectory()) throw new FileError('not_dir', `${joinFilePath(root, rel)} is not a directory`);
    const entries: FileEntry[] = [];
    let truncated = false;
    const walk = async (dir: string, relDir: string, level: number): Promise<void> => {
      const names = (await readdir(dir)).sort();
      for (const name of names) {
        if (entries.length >= limit) {
          truncated = true;
          return;
        }
        const childRel = relDir === '' ? name : `${relDir}/${name}`;
        const full = path.join(dir, name);
        const l = await lstat(full).catch((err: unknown) => (isMissing(err) ? undefined : Promise.reject(err)));
        // Symlinks are not followed (they may point out of the root); they are not listed either.
        if (!l || !(l.isFile() || l.isDirectory())) continue;
        entries.push({ path: joinFilePath(root, childRel), name, type: l.isDirectory() ? 'dir' : 'file', size: l.isDirectory() ? 0 : l.size, modified_at: l.mtime.toISOString() });
        if (l.isDirectory() && level < depth) await walk(full, childRel, level + 1);
      }
    };
    await walk(start, rel, 1);
    return { entries, truncated };
  }

  async read(ws: WorkspaceRow, root: FileRoot, rel: string, maxBytes: number) {
    const base = await this.rootDir(ws, root);
    const full = await this.resolve(base, root, rel);
    const st = await stat(full).catch((err: unknown) => {
      if (isMissing(err)) throw new FileError('not_found', `${joinFilePath(root, rel)} not found`);
      throw err;
    });
    if (st.isDirectory()) throw new FileError('is_dir', `${joinFilePath(root, rel)} is a directory`);
    if (st.size > maxBytes) throw new FileError('too_large', `${joinFilePath(root, rel)} is larger than ${maxBytes} bytes`);
    return { size: st.size, body: createReadStream(full) };
  }

  async write(ws: WorkspaceRow, root: FileRoot, files: FileWrite[]): Promise<void> {
    const base = await this.rootDir(ws, root);
    // Every path is checked before the first byte is written, so a refusal writes nothing.
    const targets: string[] = [];
    for (const f of files) {
      const full = await this.resolve(base, root, f.rel);
      const st = await stat(full).catch((err: unknown) => (isMissing(err) ? undefined : Promise.reject(err)));
      if (st?.isDirectory()) throw new FileError('is_dir', `${joinFilePath(root, f.rel)} is a directory`);
      targets.push(full);
    }
    for (const [i, f] of files.entries()) {
      const full = targets[i]!;
      await mkdir(path.dirname(full), { recursive: true, mode: 0o700 });
      // Written beside, then renamed: the agent never reads a half-written file.
      const tmp = `${full}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(tmp, f.content, { mode: 0o600 });
      await rename(tmp, full);
    }
  }

  async remove(ws: WorkspaceRow, root: FileRoot, rel: string): Promise<void> {
    const base = await this.rootDir(ws, root);
    const full = await this.resolve(base, root, rel);
    const l = await lstat(full).catch((err: unknown) => (isMissing(err) ? undefined : Promise.reject(err)));
    if (!l) throw new FileError('not_found', `${joinFilePath(root, rel)} not found`);
    await rm(full, { recursive: true });
  }
}
