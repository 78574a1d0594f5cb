import { MAX_FILE_BYTES, MAX_FILE_TREE_ENTRIES, type FileEntry, type FileRoot, type FileTree } from '@molecule/contracts';
import { Readable } from 'node:stream';
import type { AppDeps } from '../deps.js';
import { DomainError, conflict, invalid, notFound } from '../errors.js';
import { CREDENTIAL_FILES, FileError, joinFilePath, type FileWrite, type WorkspaceFiles } from '../provisioning/files.js';
import { agentState, type AgentState } from '../provisioning/running.js';
import { templateFiles } from '../provisioning/templates.js';
import type { WorkspaceRow } from '../workspaces/read.js';

export type FilesDeps = Pick<AppDeps, 'provisioner' | 'templatesDir' | 'log'>;

/** How long one file operation may take on a backend. */
const FILE_OP_TIMEOUT_MS = 60_000;

const notSupported = () => new DomainError('not_supported', 'files are not supported on this backend');
const unreachable = () => new DomainError('platform_unavailable', "could not reach the workspace's backend, retry");
const notRunning = (root: FileRoot) => conflict(`the workspace is not running: start it first to reach ${root}`);
const externalRefused = () => new DomainError('unprocessable', "an external workspace's files live where its operator runs it; the platform cannot reach them");

/** A backend's refusal as the client sees it. */
function fromFileError(err: unknown): never {
  if (!(err instanceof FileError)) throw err;
  switch (err.kind) {
    case 'not_found':
      throw notFound(err.message);
    case 'too_large':
      throw new DomainError('payload_too_large', err.message);
    case 'unsupported':
      throw new DomainError('not_supported', err.message);
    case 'invalid_path':
    case 'is_dir':
    case 'not_dir':
      throw invalid(err.message);
  }
}

type Reach = { via: 'backend'; files: WorkspaceFiles } | { via: 'template' };

/**
 * Where a read is answered from. The agent's files when its backend reaches them (it runs, or the
 * backend keeps them on this host, the process backend); otherwise, for /configs only, the template
 * the workspace was made from (C195). Other roots of a stopped agent: 409.
 */
async function reachForRead(deps: FilesDeps, ws: WorkspaceRow, root: FileRoot): Promise<Reach> {
  const files = deps.provisioner?.files;
  if (files?.whileStopped) return { via: 'backend', files };
  const state: AgentState = await agentState(deps, ws);
  // 'could not tell' on a read: the template answers for /configs (said in `source`), other roots 503.
  if (state.state === 'unknown') deps.log.warn({ workspace_id: ws.id, err: state.error }, 'files: could not tell whether the agent runs');
  if (state.state === 'running') {
    if (!files) throw notSupported();
    return { via: 'backend', files };
  }
  if (root === '/configs') return { via: 'template' };
  if (state.state === 'unknown') throw unreachable();
  if (state.state === 'external') throw externalRefused();
  if (state.state === 'no_backend' || !files) throw notSupported();
  throw notRunning(root);
}

/** Where a write or delete goes: only to a backend that reaches the agent's files now. */
async function reachForWrite(deps: FilesDeps, ws: WorkspaceRow, root: FileRoot): Promise<WorkspaceFiles> {
  const files = deps.provisioner?.files;
  if (files?.whileStopped) return files;
  const state = await agentState(deps, ws);
  switch (state.state) {
    case 'running':
      if (!files) throw notSupported();
      return files;
    case 'unknown':
      // 'could not tell' on a write: refuse (503, retry) rather than write to what may be gone.
      deps.log.warn({ workspace_id: ws.id, err: state.error }, 'files: could not tell whether the agent runs');
      throw unreachable();
    case 'external':
      throw externalRefused();
    case 'no_backend':
      throw notSupported();
    case 'stopped':
      if (!files) throw notSupported();
      throw notRunning(root);
  }
}

/** The template's /configs files, keyed by relative path; an unreadable template is an empty one. */
async function templateConfigs(deps: FilesDeps, ws: WorkspaceRow): Promise<Map<string, Buffer>> {
  try {
    return new Map(Object.entries(await templateFiles(deps.templatesDir, ws)).map(([p, text]) => [p, Buffer.from(text)]));
  } catch (err) {
    deps.log.warn({ workspace_id: ws.id, template: ws.template, err }, 'files: template unreadable; answering as if empty');
    return new Map();
  }
}

/** The entries under `rel`, `depth` levels deep, of a flat file map (dirs derived from the paths). */
function treeOf(files: Map<string, Buffer>, root: FileRoot, rel: string, depth: number, modifiedAt: string): { entries: FileEntry[]; truncated: boolean } {
  const prefix = rel === '' ? '' : `${rel}/`;
  const seen = new Map<string, FileEntry>();
  let any = rel === '';
  for (const [p, content] of files) {
    if (!p.startsWith(prefix)) continue;
    any = true;
    const parts = p.slice(prefix.length).split('/');
    for (let i = 0; i < Math.min(parts.length, depth); i++) {
      const relPath = prefix + parts.slice(0, i + 1).join('/');
      const isFile = i === parts.length - 1;
      if (!seen.has(relPath)) seen.set(relPath, { path: joinFilePath(root, relPath), name: parts[i]!, type: isFile ? 'file' : 'dir', size: isFile ? content.length : 0, modified_at: modifiedAt });
    }
  }
  if (!any) throw notFound(`${joinFilePath(root, rel)} not found`);
  if (files.has(rel)) throw invalid(`${joinFilePath(root, rel)} is not a directory`);
  const entries = [...seen.values()].sort((a, b) => a.path.localeCompare(b.path));
  return { entries: entries.slice(0, MAX_FILE_TREE_ENTRIES), truncated: entries.length > MAX_FILE_TREE_ENTRIES };
}

const CREDENTIAL_PATHS = new Set([...CREDENTIAL_FILES].map((f) => joinFilePath('/configs', f)));

/** `GET /workspaces/:id/files`: the tree under a dir of a root (C195 for a stopped agent's /configs). */
export async function listFiles(deps: FilesDeps, ws: WorkspaceRow, root: FileRoot, rel: string, depth: number): Promise<FileTree> {
  const reach = await reachForRead(deps, ws, root);
  if (reach.via === 'template') {
    return { root, path: joinFilePath(root, rel), ...treeOf(await templateConfigs(deps, ws), root, rel, depth, ws.updated_at.toISOString()), source: 'template' };
  }
  try {
    const listed = await reach.files.list(ws, root, rel, depth, MAX_FILE_TREE_ENTRIES, AbortSignal.timeout(FILE_OP_TIMEOUT_MS));
    // The agent's credentials stay out of sight.
    const entries = listed.entries.filter((e) => !(e.type === 'file' && CREDENTIAL_PATHS.has(e.path)));
    return { root, path: joinFilePath(root, rel), ...listed, entries, source: 'workspace' };
  } catch (err) {
    return fromFileError(err);
  }
}

/** `GET /workspaces/:id/files/*`: one file's bytes, streamed from the backend when it can. */
export async function readWorkspaceFile(deps: FilesDeps, ws: WorkspaceRow, root: FileRoot, rel: string): Promise<{ size: number; body: Readable; source: 'workspace' | 'template' }> {
  const reach = await reachForRead(deps, ws, root);
  if (reach.via === 'template') {
    const content = (await templateConfigs(deps, ws)).get(rel);
    if (!content) throw notFound(`No ${rel.split('/').at(-1)} found in ${joinFilePath(root, rel.split('/').slice(0, -1).join('/'))}`);
    return { size: content.length, body: Readable.from([content]), source: 'template' };
  }
  try {
    return { ...(await reach.files.read(ws, root, rel, MAX_FILE_BYTES, AbortSignal.timeout(FILE_OP_TIMEOUT_MS))), source: 'workspace' };
  } catch (err) {
    return fromFileError(err);
  }
}

/** `PUT /workspaces/:id/files[/*]`: writes every file of one root, or none when one is refused. */
export async function writeWorkspaceFiles(deps: FilesDeps, ws: WorkspaceRow, root: FileRoot, files: FileWrite[]): Promise<void> {
  const backend = await reachForWrite(deps, ws, root);
  try {
    await backend.write(ws, root, files, AbortSignal.timeout(FILE_OP_TIMEOUT_MS));
  } catch (err) {
    fromFileError(err);
  }
}

/** `DELETE /workspaces/:id/files/*`: a file, or a dir with what it holds. */
export async function removeWorkspaceFile(deps: FilesDeps, ws: WorkspaceRow, root: FileRoot, rel: string): Promise<void> {
  const backend = await reachForWrite(deps, ws, root);
  try {
    await backend.remove(ws, root, rel, AbortSignal.timeout(FILE_OP_TIMEOUT_MS));
  } catch (err) {
    fromFileError(err);
  }
}
