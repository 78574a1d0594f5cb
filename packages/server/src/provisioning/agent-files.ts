import type { FileEntry, FileRoot } from '@molecule/contracts';
import { Readable } from 'node:stream';
import type { AppDeps } from '../deps.js';
import type { WorkspaceRow } from '../workspaces/read.js';
import { FileError, joinFilePath, type FileWrite, type WorkspaceFiles } from './files.js';

/** The roots an agent serves itself (`/plugins` has no folder of its own outside a container image). */
const AGENT_ROOTS: ReadonlySet<FileRoot> = new Set(['/configs', '/workspace', '/home']);

/** What reaches a workspace's agent: its inbound secret and the guarded A2A client. */
export type AgentReach = Pick<AppDeps, 'inboundSecrets' | 'a2a'>;

/**
 * A workspace's files reached through its own agent (`/internal/files/...` and
 * `/internal/file/read` on molecule-agent, with its inbound secret, through the guarded A2A client):
 * for backends whose instances the platform cannot reach otherwise (the control plane). The agent
 * checks every path again against its own roots (no traversal, no symlink, no credential files).
 * `deps` is read when a call runs (the composition root builds the backend before the A2A client).
 */
export class AgentFiles implements WorkspaceFiles {
  readonly whileStopped = false;

  constructor(private readonly deps: () => AgentReach) {}

  private async call(ws: WorkspaceRow, method: 'GET' | 'POST', endpoint: string, signal: AbortSignal, body?: unknown): Promise<{ status: number; body: Readable; headers: Record<string, string> }> {
    if (ws.url === '') throw new FileError('unsupported', 'the workspace has no URL yet: its files are reachable once its agent has registered');
    const { inboundSecrets, a2a } = this.deps();
    const { secret, healed } = await inboundSecrets.readOrHeal(ws.id);
    if (healed) throw new Error('the inbound secret was just minted; the agent learns it at its next start');
    return a2a.dispatcher.forward(`${ws.url.replace(/\/+$/, '')}${endpoint}`, {
      method,
      headers: { authorization: `Bearer ${secret}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: Readable.from([Buffer.from(JSON.stringify(body))]) }),
      signal,
    });
  }

  /** The agent's refusal as a FileError (its messages are canned path rules), anything else an error. */
  private async refusal(res: { status: number; body: Readable }, where: string): Promise<never> {
    let message = '';
    try {
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      message = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: unknown }).error ?? '');
    } catch {
      message = '';
    }
    if (res.status === 404) throw new FileError('not_found', `${where} not found`);
    if (res.status === 413) throw new FileError('too_large', `${where}: ${message || 'too large'}`);
    if (res.status === 400) throw new FileError('invalid_path', `invalid file path: ${where}: ${message.slice(0, 200) || 'refused by the agent'}`);
    throw new Error(`the agent answered ${res.status} for ${where}`);
  }

  private checkRoot(root: FileRoot): void {
    if (!AGENT_ROOTS.has(root)) throw new FileError('unsupported', `${root} is not reachable on this backend (its agent serves /configs, /workspace and /home)`);
  }

  async list(ws: WorkspaceRow, root: FileRoot, rel: string, depth: number, limit: number, signal: AbortSignal): Promise<{ entries: FileEntry[]; truncated: boolean }> {
    this.checkRoot(root);
    const where = joinFilePath(root, rel);
    const q = new URLSearchParams({ path: where, depth: String(depth), limit: String(limit) });
    const res = await this.call(ws, 'GET', `/internal/files/list?${q.toString()}`, signal);
    if (res.status !== 200) return this.refusal(res, where);
    const chunks: Buffer[] = [];
    for await (const c of res.body) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as { entries: FileEntry[]; truncated: boolean };
  }

  async read(ws: WorkspaceRow, root: FileRoot, rel: string, maxBytes: number, signal: AbortSignal): Promise<{ size: number; body: Readable }> {
    this.checkRoot(root);
    const where = joinFilePath(root, rel);
    const res = await this.call(ws, 'GET', `/internal/file/read?${new URLSearchParams({ path: where }).toString()}`, signal);
    if (res.status !== 200) return this.refusal(res, where);
    const size = Number(res.headers['content-length'] ?? NaN);
    if (!Number.isFinite(size) || size > maxBytes) {
      res.body.destroy();
      throw new FileError('too_large', `${where} is larger than ${maxBytes} bytes`);
    }
    return { size, body: res.body };
  }

  async write(ws: WorkspaceRow, root: FileRoot, files: FileWrite[], signal: AbortSignal): Promise<void> {
    this.checkRoot(root);
    const body = { files: files.map((f) => ({ path: joinFilePath(root, f.rel), content_base64: f.content.toString('base64') })) };
    const res = await this.call(ws, 'POST', '/internal/files/write', signal, body);
    if (res.status !== 200) return this.refusal(res, joinFilePath(root, files[0]?.rel ?? ''));
    res.body.resume();
  }

  async remove(ws: WorkspaceRow, root: FileRoot, rel: string, signal: AbortSignal): Promise<void> {
    this.checkRoot(root);
    const where = joinFilePath(root, rel);
    const res = await this.call(ws, 'POST', `/internal/files/delete?${new URLSearchParams({ path: where }).toString()}`, signal, {});
    if (res.status !== 200) return this.refusal(res, where);
    res.body.resume();
  }
}
