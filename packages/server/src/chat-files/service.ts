import type { Readable } from 'node:stream';
import { Status } from '@molecule/contracts';
import { classifyDispatchError, type ForwardResponse } from '../a2a/dispatch.js';
import type { AppDeps } from '../deps.js';
import { DomainError, invalid, notFound, unprocessable } from '../errors.js';
import { FileError, splitFilePath } from '../provisioning/files.js';
import { removedError } from '../workspaces/errors.js';
import { getWorkspace } from '../workspaces/read.js';

/** Largest chat upload the platform forwards, all files together (C075). */
export const MAX_CHAT_UPLOAD_BYTES = 50 * 1024 * 1024;
/** How long a caller waits after a secret was minted inline (C081). */
export const HEAL_RETRY_AFTER_SECONDS = 30;

export type ChatFileOp = 'upload' | 'download';
export type ChatFileDeps = Pick<AppDeps, 'db' | 'log' | 'inboundSecrets' | 'a2a'>;

/** Where and how to reach a workspace's internal file endpoints. */
export interface ChatFileTarget {
  workspaceId: string;
  /** The workspace URL without a trailing slash. */
  baseUrl: string;
  secret: string;
}

/**
 * The one credential resolver of chat upload and download (C082): the workspace's URL and its
 * inbound secret, healing a missing secret (C081). Refusals, as domain errors with canned text:
 * no workspace 404; removed 410; empty URL 503 "not registered yet" when it delivers by push, 422
 * "re-register in push mode with a public URL" otherwise (C077; external workspaces follow the same
 * rules, C084); a secret minted now 503 with retry_after_seconds (the agent learns it at its next
 * start or register); minting failed 503 with a Reprovision hint.
 */
export async function resolveChatTarget(deps: ChatFileDeps, workspaceId: string, op: ChatFileOp): Promise<ChatFileTarget> {
  const ws = await getWorkspace(deps.db, workspaceId);
  if (!ws) throw notFound('workspace not found');
  if (ws.status === Status.Removed) throw removedError(ws);
  if (ws.url === '') {
    deps.log.info({ workspace_id: workspaceId, delivery_mode: ws.delivery_mode }, `chat_files ${op}: workspace has no URL`);
    if (ws.delivery_mode === 'push') {
      throw new DomainError('agent_unavailable', 'workspace URL not registered yet; retry after its next heartbeat', { retry_after_seconds: HEAL_RETRY_AFTER_SECONDS });
    }
    throw unprocessable('this workspace has no URL the platform can reach (poll delivery): re-register in push mode with a public URL to send or fetch chat files');
  }
  let healed: { secret: string; healed: boolean };
  try {
    healed = await deps.inboundSecrets.readOrHeal(workspaceId);
  } catch (err) {
    // Fail closed: without a secret nothing is forwarded.
    deps.log.error({ err, workspace_id: workspaceId }, `chat_files ${op}: could not read or mint the inbound secret`);
    throw new DomainError('agent_unavailable', 'the workspace has no platform credential and none could be issued', {
      hint: 'Reprovision the workspace (restart it) so it gets a new platform credential.',
    });
  }
  if (healed.healed) {
    deps.log.warn({ workspace_id: workspaceId }, `chat_files ${op}: inbound secret was missing; minted one, the agent picks it up at its next start`);
    throw new DomainError('agent_unavailable', 'the workspace credential was just re-issued', {
      retry_after_seconds: HEAL_RETRY_AFTER_SECONDS,
      hint: `Retry in ${HEAL_RETRY_AFTER_SECONDS} seconds; if it keeps failing, restart the workspace.`,
    });
  }
  return { workspaceId, baseUrl: ws.url.replace(/\/+$/, ''), secret: healed.secret };
}

/**
 * The platform's half of the download path rule (C080): the Files API's one path check (absolute,
 * canonical, no traversal in any encoding, no control characters or backslash, under /configs,
 * /workspace, /home or /plugins, never the agent's credential files). Throws a 400 domain error
 * naming the broken rule.
 */
export function checkDownloadPath(p: string): void {
  if (p === '') throw invalid('path is required');
  try {
    splitFilePath(p);
  } catch (err) {
    if (err instanceof FileError) throw invalid(err.message);
    throw err;
  }
}

/**
 * Sends one request to the workspace's internal endpoint `endpoint` (with its query) through the
 * guarded A2A client, with the inbound-secret bearer. The workspace's answer, any status, is
 * returned unread for the caller to stream back. Not reached: 502 (`agent_unreachable`); the URL is
 * not one the platform may dial: 502 (`agent_error`). `body` is streamed, never buffered.
 */
export async function forwardChatFile(
  deps: ChatFileDeps,
  op: ChatFileOp,
  target: ChatFileTarget,
  req: { method: 'GET' | 'POST'; endpoint: string; headers?: Record<string, string>; body?: Readable; signal?: AbortSignal },
): Promise<ForwardResponse> {
  try {
    return await deps.a2a.dispatcher.forward(`${target.baseUrl}${req.endpoint}`, {
      method: req.method,
      headers: { ...req.headers, authorization: `Bearer ${target.secret}` },
      ...(req.body ? { body: req.body } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    });
  } catch (err) {
    const failure = classifyDispatchError(err);
    deps.log.warn({ err, workspace_id: target.workspaceId, failure }, `chat_files ${op}: forwarding to the workspace failed`);
    if (failure === 'unsafe_url') throw new DomainError('agent_error', 'the workspace URL is not one the platform may call');
    if (failure === 'unreachable') throw new DomainError('agent_unreachable', 'workspace unreachable');
    throw new DomainError('agent_error', 'the connection to the workspace failed');
  }
}
