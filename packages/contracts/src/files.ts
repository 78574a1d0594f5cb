import { z } from 'zod';

/** The roots the Files API serves (C080): every file path is one of these plus a relative path. */
export const FILE_ROOTS = ['/configs', '/workspace', '/home', '/plugins'] as const;
export type FileRoot = (typeof FILE_ROOTS)[number];

/** Largest file one `PUT /workspaces/:id/files/*` takes (10 MiB). */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;
/** Largest body one `PUT /workspaces/:id/files` (several files) takes (25 MiB). */
export const MAX_FILES_BATCH_BYTES = 25 * 1024 * 1024;
/** Most entries one tree listing returns; more are cut and the answer says `truncated: true`. */
export const MAX_FILE_TREE_ENTRIES = 2000;
export const MAX_FILE_TREE_DEPTH = 5;

/** One entry of a tree listing; `path` is absolute (root included), e.g. `/configs/skills/a.md`. */
export const FileEntry = z.object({
  path: z.string(),
  name: z.string(),
  type: z.enum(['file', 'dir']),
  size: z.number().int().nonnegative(),
  modified_at: z.string(),
});
export type FileEntry = z.infer<typeof FileEntry>;

/** `GET /workspaces/:id/files`. `source` says where the answer came from: the agent, or its template (C195). */
export const FileTree = z.object({
  root: z.enum(FILE_ROOTS),
  path: z.string(),
  entries: z.array(FileEntry),
  truncated: z.boolean(),
  source: z.enum(['workspace', 'template']),
});
export type FileTree = z.infer<typeof FileTree>;

/** `PUT /workspaces/:id/files`: text files by absolute path (root included). */
export const WriteFilesBody = z.strictObject({
  files: z.record(z.string(), z.string()).refine((f) => Object.keys(f).length > 0, 'files must name at least one file'),
});
export type WriteFilesBody = z.infer<typeof WriteFilesBody>;

export const WriteFilesResult = z.object({ written: z.array(z.string()) });
export type WriteFilesResult = z.infer<typeof WriteFilesResult>;
