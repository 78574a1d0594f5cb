import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';

/** A file the platform stored for the chat, as `/chat/uploads` answers it and `/notify` takes it. */
export interface ChatAttachment {
  uri: string;
  name: string;
  mimeType: string;
  size: number;
}

/** Sending files to the user failed; nothing was shown to the user. The message is safe to show the model. */
export class ChatFilesError extends Error {
  override name = 'ChatFilesError';
}

export interface SendFilesOptions {
  platformUrl: string;
  workspaceId: string;
  /** The workspace's current bearer. */
  token: () => string;
  signal?: AbortSignal;
}

async function errorOf(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const e = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof e === 'string') return e;
  } catch {
    // not JSON: the start of the text says enough
  }
  return text.slice(0, 200);
}

/**
 * C085: shows `message` with the local `files` (absolute paths) to the user. Each file is checked
 * first (a missing or non-regular file refuses everything), then all are uploaded in one
 * multipart request through the platform (`POST /workspaces/:id/chat/uploads`, as the workspace,
 * streamed from disk), and only then is `POST /workspaces/:id/notify` sent with the stored files'
 * metadata. Any failure before the notify throws {@link ChatFilesError} and the user sees nothing,
 * never a message whose chips point at nothing.
 */
export async function sendFilesToUser(opts: SendFilesOptions, message: string, files: string[]): Promise<ChatAttachment[]> {
  const base = `${opts.platformUrl}/workspaces/${encodeURIComponent(opts.workspaceId)}`;
  const form = new FormData();
  for (const f of files) {
    if (!path.isAbsolute(f)) throw new ChatFilesError(`file path must be absolute: ${f}`);
    const st = await stat(f).catch(() => undefined);
    if (!st?.isFile()) throw new ChatFilesError(`no such file: ${f}`);
    form.append('files', await openAsBlob(f), path.basename(f));
  }
  const call = (url: string, init: RequestInit) =>
    fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${opts.token()}` }, ...(opts.signal ? { signal: opts.signal } : {}) }).catch((err: unknown) => {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ChatFilesError(`could not reach the platform: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    });
  let attachments: ChatAttachment[] = [];
  if (files.length > 0) {
    const up = await call(`${base}/chat/uploads`, { method: 'POST', body: form });
    if (!up.ok) throw new ChatFilesError(`upload refused (HTTP ${up.status}): ${await errorOf(up)}`);
    attachments = ((await up.json()) as { files: ChatAttachment[] }).files;
  }
  const sent = await call(`${base}/notify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message, attachments }) });
  if (!sent.ok) throw new ChatFilesError(`notify refused (HTTP ${sent.status}): ${await errorOf(sent)}`);
  return attachments;
}
