import { randomBytes, randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { startServer, type RunningServer } from '../main.js';
import { Status } from '@molecule/contracts';
import { eventually } from '../test-support/api.js';
import { e2eClient, E2E_ADMIN_TOKEN } from '../test-support/e2e.js';

// A real molecule-agent (process backend) behind the platform's chat routes. Its folders are under
// the platform's data dir (a temp dir here); it speaks the platform's paths (/workspace/...,
// /configs/...) and maps them to its folders, so downloads stay under the roots of C080.
const FILE_SENDER = 'name: File sender\nruntime: molecule\nadapter: script\nscript:\n  - send_files: { message: "here is your file", files: ["{{input}}"] }\n  - reply: "sent"\n';

describe('chat attachments end to end: platform -> molecule-agent (C072-C081)', () => {
  let server: RunningServer;
  let dataDir: string;
  const c = e2eClient(() => server);
  const admin = { authorization: `Bearer ${E2E_ADMIN_TOKEN}` };
  let id: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-chatfiles-'));
    // Its own templates: echo, and a script agent that sends the file it is told to (C085).
    const templates = path.join(dataDir, 'templates');
    await cp(fileURLToPath(new URL('../../../../templates/echo', import.meta.url)), path.join(templates, 'echo'), { recursive: true });
    await mkdir(path.join(templates, 'file-sender'));
    await writeFile(path.join(templates, 'file-sender', 'config.yaml'), FILE_SENDER);
    const { config } = loadConfig({ PORT: '0', MOLECULE_DATA_DIR: dataDir, MOLECULE_TEMPLATES_DIR: templates, ADMIN_TOKEN: E2E_ADMIN_TOKEN, MOLECULE_PROVISIONER: 'process', DATABASE_URL: process.env.TEST_DATABASE_URL });
    server = await startServer(config, [], createLogger({ level: 'silent', pretty: false }));
    id = await c.create(`files-${randomUUID().slice(0, 6)}`, 'echo');
    // expect.poll is for tests only: wait here with a deadline.
    await eventually(async () => (await c.get(id)).status === Status.Online, 60_000);
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const workspaceDir = () => path.join(dataDir, 'workspaces', id, 'workspace');
  /** Where an upload URI (`workspace:/workspace/...`) is on this machine. */
  const onDisk = (uri: string) => path.join(workspaceDir(), uri.slice('workspace:/workspace'.length));
  const upload = (form: FormData) => fetch(`${server.url}/workspaces/${id}/chat/uploads`, { method: 'POST', headers: admin, body: form });
  const download = (p: string) => fetch(`${server.url}/workspaces/${id}/chat/download?path=${encodeURIComponent(p)}`, { headers: admin });

  it('C072 C073 C074 an upload lands under .molecule/chat-uploads/<hex>-<name> and the agent\'s answer comes back unchanged', async () => {
    const binary = randomBytes(64 * 1024);
    const form = new FormData();
    form.append('files', new Blob(['# notes\n'], { type: 'text/markdown' }), 'notes.md');
    form.append('files', new Blob([binary], { type: 'application/octet-stream' }), 'pic.png');
    const r = await upload(form);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const { files } = (await r.json()) as { files: { uri: string; name: string; mimeType: string; size: number }[] };
    expect(files.map(({ name, mimeType, size }) => ({ name, mimeType, size }))).toEqual([
      { name: 'notes.md', mimeType: 'text/markdown', size: 8 },
      { name: 'pic.png', mimeType: 'image/png', size: binary.length },
    ]);
    const dir = path.join(workspaceDir(), '.molecule', 'chat-uploads');
    // In the platform's terms, wherever the agent keeps its folders.
    for (const f of files) expect(f.uri).toMatch(new RegExp(`^workspace:/workspace/\\.molecule/chat-uploads/[0-9a-f]{32}-${f.name.replace('.', '\\.')}$`));
    expect((await readdir(dir)).sort()).toEqual(files.map((f) => path.basename(f.uri)).sort());
    expect((await readFile(onDisk(files[1]!.uri))).equals(binary)).toBe(true);

    // C078: what was uploaded comes back byte for byte.
    const back = await download(files[1]!.uri.slice('workspace:'.length));
    expect(back.status).toBe(200);
    expect(back.headers.get('content-type')).toBe('image/png');
    expect(back.headers.get('content-length')).toBe(String(binary.length));
    expect(Buffer.from(await back.arrayBuffer()).equals(binary)).toBe(true);
  });

  it('C078 a download streams the file byte for byte with Content-Type, Content-Length and an escaped Content-Disposition', async () => {
    const bytes = Buffer.concat([Buffer.from([0, 0xff, 0x80, 0x0d, 0x0a]), randomBytes(300 * 1024)]);
    const name = 'résumé "q" 1.bin';
    await writeFile(path.join(workspaceDir(), name), bytes);
    const r = await download(`/workspace/${name}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    expect(r.headers.get('content-length')).toBe(String(bytes.length));
    expect(r.headers.get('content-disposition')).toBe(`attachment; filename="r_sum_ \\"q\\" 1.bin"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22q%22%201.bin`);
    expect(Buffer.from(await r.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('C079 C080 the agent\'s own 404 and 400 pass through: a missing file, and a path the agent refuses though the platform allows it', async () => {
    const missing = await download('/workspace/no-such-file.txt');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'not found' });
    // Under /home (the platform's rule) but outside the agent's read roots: the agent's 400.
    const outside = await download('/home/outside.txt');
    expect(outside.status).toBe(400);
    expect((await outside.json()) as { error: string }).toEqual({ error: 'path is outside the allowed roots' });
  });

  it('C075 C076 the agent\'s 413 for a file over its per-file limit passes through, naming the file; nothing is kept', async () => {
    const before = await readdir(path.join(workspaceDir(), '.molecule', 'chat-uploads'));
    const form = new FormData();
    form.append('files', new Blob([new Uint8Array(26 * 1024 * 1024)]), 'too-big.bin');
    const r = await upload(form);
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error: string }).error).toContain('"too-big.bin"');
    expect(await readdir(path.join(workspaceDir(), '.molecule', 'chat-uploads'))).toEqual(before);
  });

  it('C085 the agent sends a local file: uploaded through the platform as the workspace, then notified with the stored metadata; a missing file sends nothing', async () => {
    const sender = await c.create(`sender-${randomUUID().slice(0, 6)}`, 'file-sender');
    await c.waitOnline(sender, 60_000);
    const agentUrl = (await c.get(sender)).url as string;
    const local = path.join(dataDir, 'workspaces', sender, 'workspace', 'report.csv');
    await writeFile(local, 'a,b\n1,2\n');
    const notifies = async () =>
      (await server.deps.db.query<{ response_body: { result: string; parts?: { kind: string; file: { uri: string; name: string; mimeType?: string; size?: number } }[] } }>(
        `SELECT response_body FROM activity_logs WHERE workspace_id = $1 AND method = 'notify' ORDER BY created_at`,
        [sender],
      )).rows;

    expect(await c.sendDirect(agentUrl, local)).toBe('sent');
    const [row] = await notifies();
    expect(row!.response_body.result).toBe('here is your file');
    const file = row!.response_body.parts![0]!.file;
    expect(file).toMatchObject({ name: 'report.csv', mimeType: 'text/csv; charset=utf-8', size: 8 });
    expect(file.uri).toMatch(/^workspace:\/workspace\/\.molecule\/chat-uploads\/[0-9a-f]{32}-report\.csv$/);
    expect(await readFile(path.join(path.dirname(local), file.uri.slice('workspace:/workspace'.length)), 'utf8')).toBe('a,b\n1,2\n');

    expect(await c.sendDirect(agentUrl, path.join(path.dirname(local), 'gone.csv'))).not.toBe('sent');
    expect(await notifies()).toHaveLength(1);
    expect(await readdir(path.join(path.dirname(local), '.molecule', 'chat-uploads'))).toHaveLength(1);
  }, 90_000);

  it('C081 a NULL inbound secret is minted inline (503, retry_after_seconds 30); after a restart the agent has it and uploads work again', async () => {
    await server.deps.db.query('UPDATE workspaces SET platform_inbound_secret = NULL WHERE id = $1', [id]);
    server.deps.inboundSecrets.reset();
    const form = () => {
      const f = new FormData();
      f.append('files', new Blob(['again']), 'again.txt');
      return f;
    };
    const r = await upload(form());
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ retry_after_seconds: 30, hint: expect.stringContaining('Retry') });
    const minted = (await server.deps.db.query<{ s: string | null }>('SELECT platform_inbound_secret AS s FROM workspaces WHERE id = $1', [id])).rows[0]!.s;
    expect(minted).toMatch(/^mol_in_/);

    expect((await fetch(`${server.url}/workspaces/${id}/restart`, { method: 'POST', headers: admin })).status).toBeLessThan(300);
    await expect.poll(async () => (await upload(form())).status, { timeout: 60_000, interval: 250 }).toBe(200);
  }, 90_000);
});
