import { FILE_ROOTS, type FileEntry, type FileRoot } from '@molecule/contracts';
import type { Readable } from 'node:stream';
import type { WorkspaceRow } from '../workspaces/read.js';

/** Why a backend refused a file operation; the route turns each kind into its 4xx. */
export type FileErrorKind = 'not_found' | 'invalid_path' | 'is_dir' | 'not_dir' | 'too_large' | 'unsupported';

/** A refusal with a message safe to show a client (it names the path the client gave, nothing else). */
export class FileError extends Error {
  constructor(
    readonly kind: FileErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'FileError';
  }
}

/** One file to write: a path relative to its root and its bytes. */
export interface FileWrite {
  rel: string;
  content: Buffer;
}

/**
 * The files of a workspace, by root and a relative path that `splitFilePath` accepted. Backends check
 * again what only they can see (symlinks escaping the root) and refuse it with `FileError`.
 */
export interface WorkspaceFiles {
  /** True when the files live where the platform reaches them with the agent stopped (the process backend). */
  readonly whileStopped: boolean;
  /** Entries under `rel` (a dir; "" is the root), `depth` levels deep, at most `limit` of them. */
  list(ws: WorkspaceRow, root: FileRoot, rel: string, depth: number, limit: number, signal: AbortSignal): Promise<{ entries: FileEntry[]; truncated: boolean }>;
  /** One file's bytes (at most `maxBytes`, else `too_large`). */
  read(ws: WorkspaceRow, root: FileRoot, rel: string, maxBytes: number, signal: AbortSignal): Promise<{ size: number; body: Readable }>;
  /** Writes every file (parent dirs created) or, on a refusal found before writing, none. */
  write(ws: WorkspaceRow, root: FileRoot, files: FileWrite[], signal: AbortSignal): Promise<void>;
  /** Removes a file or a dir (recursively); a missing one is `not_found`. */
  remove(ws: WorkspaceRow, root: FileRoot, rel: string, signal: AbortSignal): Promise<void>;
}

const MAX_PATH_CHARS = 4096;
const MAX_SEGMENT_CHARS = 255;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/** A percent-escape of `.`, `/`, `\` or `%` that survived one decoding: a second decoding would traverse. */
const ENCODED_TRAVERSAL = /%(2e|2f|5c|25|00)/i;

/**
 * Splits a client's file path (`/configs/skills/a.md`) into its root and a relative path (C080):
 * absolute, one of the four roots, canonical (no `.` or `..` segment, no empty segment from `//`, no
 * trailing `/` except the root itself), no backslash, no NUL or control character, no percent-encoded
 * traversal left after decoding. `allowRoot`: the root alone is accepted (listing), with rel "".
 * Throws `FileError('invalid_path')` with the reason.
 */
/** The agent's credentials in its configs (the pipeline writes them at every start): never listed, read or written through the Files API. */
export const CREDENTIAL_FILES: ReadonlySet<string> = new Set(['.auth_token', '.platform_inbound_secret']);

/** Whether a root-relative path is one of the agent's credential files. */
export const isCredentialFile = (root: FileRoot, rel: string): boolean => root === '/configs' && CREDENTIAL_FILES.has(rel);

export function splitFilePath(full: string, allowRoot = false): { root: FileRoot; rel: string } {
  const bad = (why: string) => new FileError('invalid_path', `invalid file path: ${why}`);
  if (full.length > MAX_PATH_CHARS) throw bad(`longer than ${MAX_PATH_CHARS} characters`);
  if (CONTROL.test(full)) throw bad('control characters (NUL included) are not allowed');
  if (full.includes('\\')) throw bad('backslashes are not allowed');
  if (ENCODED_TRAVERSAL.test(full)) throw bad('percent-encoded dots, slashes or percent signs are not allowed');
  if (!full.startsWith('/')) throw bad(`must be absolute, under one of ${FILE_ROOTS.join(', ')}`);
  const segments = full.slice(1).split('/');
  const root = `/${segments[0]}`;
  if (!(FILE_ROOTS as readonly string[]).includes(root)) throw bad(`must be under one of ${FILE_ROOTS.join(', ')}`);
  const rest = segments.slice(1);
  if (rest.length === 0 || (rest.length === 1 && rest[0] === '' && allowRoot)) {
    if (!allowRoot) throw bad('names a root, not a file');
    return { root: root as FileRoot, rel: '' };
  }
  for (const s of rest) {
    if (s === '') throw bad('empty segments (// or a trailing /) are not allowed');
    if (s === '.' || s === '..') throw bad('"." and ".." segments are not allowed');
    if (s.length > MAX_SEGMENT_CHARS) throw bad(`a segment is longer than ${MAX_SEGMENT_CHARS} characters`);
  }
  if (isCredentialFile(root as FileRoot, rest.join('/'))) throw bad("the agent's credential files are not served");
  return { root: root as FileRoot, rel: rest.join('/') };
}

/** The absolute path the client sees for a root and a relative path. */
export const joinFilePath = (root: FileRoot, rel: string): string => (rel === '' ? root : `${root}/${rel}`);

