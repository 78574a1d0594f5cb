import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ChatFilesError, sendFilesToUser } from './chat-files.js';
import { McpPlatformTools } from './platform-tools.js';
import { captureLogger } from './test-support/agent.js';

const WS = '11111111-2222-4333-8444-555555555555';

/** The platform's two routes as the agent uses them: records each call; the upload answers as told. */
async function startPlatform() {
  const calls: { path: string; auth: string | undefined; contentType: string | undefined; body: string }[] = [];
  let uploadAnswer: { status: number; body: string } | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('latin1');
      calls.push({ path: req.url!, auth: req.headers.authorization, contentType: req.headers['content-type'], body });
      if (req.url!.endsWith('/chat/uploads')) {
        if (uploadAnswer) return res.writeHead(uploadAnswer.status, { 'content-type': 'application/json' }).end(uploadAnswer.body);
        const names = [...body.matchAll(/filename="([^"]+)"/g)].map((m) => m[1]!);
        return res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ files: names.map((n) => ({ uri: `workspace:/workspace/.molecule/chat-uploads/abc-${n}`, name: n, mimeType: 'text/plain', size: 5 })) }));
      }
      return res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"sent"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    refuseUploads: (a: { status: number; body: string } | undefined) => (uploadAnswer = a),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('sending files to the user (C085)', () => {
  let platform: Awaited<ReturnType<typeof startPlatform>>;
  let dir: string;
  const opts = () => ({ platformUrl: platform.url, workspaceId: WS, token: () => 'mol_ws_token' });

  beforeAll(async () => {
    platform = await startPlatform();
    dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-send-'));
    await writeFile(path.join(dir, 'report.txt'), 'hello');
    await writeFile(path.join(dir, 'data.csv'), 'a,b\n');
  });
  afterAll(async () => platform?.close());
  beforeEach(() => {
    platform.calls.length = 0;
    platform.refuseUploads(undefined);
  });

  it('C085 uploads every file through /chat/uploads as the workspace, then notifies with the stored metadata', async () => {
    const sent = await sendFilesToUser(opts(), 'here you go', [path.join(dir, 'report.txt'), path.join(dir, 'data.csv')]);
    expect(sent.map((f) => f.name)).toEqual(['report.txt', 'data.csv']);
    expect(platform.calls.map((c) => c.path)).toEqual([`/workspaces/${WS}/chat/uploads`, `/workspaces/${WS}/notify`]);
    const [up, note] = platform.calls;
    expect(up!.auth).toBe('Bearer mol_ws_token');
    expect(up!.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(up!.body).toContain('hello');
    expect(JSON.parse(note!.body)).toEqual({ message: 'here you go', attachments: sent });
  });

  it('C085 a missing file aborts before anything is sent (no upload, no notify)', async () => {
    await expect(sendFilesToUser(opts(), 'x', [path.join(dir, 'report.txt'), path.join(dir, 'nope.txt')])).rejects.toThrow(ChatFilesError);
    await expect(sendFilesToUser(opts(), 'x', ['relative.txt'])).rejects.toThrow(/absolute/);
    await expect(sendFilesToUser(opts(), 'x', [dir])).rejects.toThrow(/no such file/);
    expect(platform.calls).toEqual([]);
  });

  it('C085 a refused upload aborts before notify, with the platform\'s reason', async () => {
    platform.refuseUploads({ status: 413, body: '{"error":"request file too large (file \\"report.txt\\")"}' });
    await expect(sendFilesToUser(opts(), 'x', [path.join(dir, 'report.txt')])).rejects.toThrow(/HTTP 413.*report\.txt/);
    expect(platform.calls.map((c) => c.path)).toEqual([`/workspaces/${WS}/chat/uploads`]);
  });

  it('C085 send_message_to_user with local files goes through the upload; a missing file is the tool\'s error and nothing is sent', async () => {
    const tools = new McpPlatformTools({ platformUrl: platform.url, workspaceId: WS, token: { current: () => 'mol_ws_token', reload: () => Promise.resolve(false) }, log: captureLogger().logger });
    try {
      const ok = await tools.call('send_message_to_user', { message: 'done', files: [path.join(dir, 'report.txt')] });
      expect(ok).toMatchObject({ isError: false, text: expect.stringContaining('report.txt') });
      expect(platform.calls.map((c) => c.path)).toEqual([`/workspaces/${WS}/chat/uploads`, `/workspaces/${WS}/notify`]);
      platform.calls.length = 0;
      const missing = await tools.call('send_message_to_user', { message: 'done', files: [path.join(dir, 'gone.txt')] });
      expect(missing).toMatchObject({ isError: true, text: expect.stringContaining('not sent') });
      expect(platform.calls).toEqual([]);
    } finally {
      await tools.close();
    }
  });
});
