import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createWs } from '../test-support/api.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';
import { freePort } from '../test-support/net.js';
import { MAX_CHAT_UPLOAD_BYTES } from './service.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A stand-in for a workspace's internal file endpoints: records each request, answers as told. */
async function startFileServer() {
  const seen: Seen[] = [];
  let answer: { status: number; headers: Record<string, string>; body: Buffer | string } = { status: 200, headers: { 'content-type': 'application/json' }, body: '{"files":[]}' };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(answer.status, answer.headers).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    answer: (a: typeof answer) => (answer = a),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const BOUNDARY = 'molecule-test-boundary';
const multipart = (parts: { name: string; type?: string; data: Buffer | string }[]) =>
  Buffer.concat([
    ...parts.flatMap((p) => [
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="${p.name}"\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`),
      Buffer.from(p.data),
      Buffer.from('\r\n'),
    ]),
    Buffer.from(`--${BOUNDARY}--\r\n`),
  ]);
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;

/** The platform side of chat attachments (C072-C084), against a stand-in for the workspace's endpoints. */
export function chatFilesApiSuite(kind: DbKind): void {
  describe(`chat attachments on ${kind}: the platform side (C072-C084)`, () => {
    let t: TestApp;
    let files: Awaited<ReturnType<typeof startFileServer>>;

    beforeAll(async () => {
      t = await startTestApp({ kind });
      files = await startFileServer();
    });
    afterAll(async () => {
      await files?.close();
      await t?.close();
    });
    afterEach(() => {
      files.seen.length = 0;
    });

    /** A push workspace (external: C084, not blanket-refused) whose URL is the file server, with a secret. */
    const workspace = async (over: { url?: string; delivery_mode?: 'push' | 'poll'; secret?: string | null } = {}) => {
      const ws = await createWs(t, { name: 'files', runtime: 'external', delivery_mode: over.delivery_mode ?? 'push' });
      const token = (ws.connection as { auth_token: string }).auth_token;
      await t.db.query('UPDATE workspaces SET url = $2, platform_inbound_secret = $3 WHERE id = $1', [ws.id, over.url ?? files.url, over.secret === undefined ? 'mol_in_test_secret' : over.secret]);
      return { id: ws.id, token };
    };
    const upload = (id: string, headers: Record<string, string>, payload: Buffer = multipart([{ name: 'a.txt', type: 'text/plain', data: 'hello' }])) =>
      t.app.inject({ method: 'POST', url: `/workspaces/${id}/chat/uploads`, headers: { 'content-type': MULTIPART, ...headers }, payload });
    const download = (id: string, headers: Record<string, string>, path: string) =>
      t.app.inject({ method: 'GET', url: `/workspaces/${id}/chat/download?path=${path}`, headers });

    it('C072 C082 C083 C084 streams the multipart body unchanged to /internal/chat/uploads/ingest with the inbound secret, and answers what the workspace answered', async () => {
      const ws = await workspace();
      const body = multipart([{ name: 'a.txt', type: 'text/plain', data: 'hello' }, { name: 'b.bin', data: Buffer.from([0, 1, 2, 255]) }]);
      files.answer({ status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"files":[{"uri":"workspace:/workspace/.molecule/chat-uploads/x-a.txt","name":"a.txt","mimeType":"text/plain","size":5}]}' });
      const r = await upload(ws.id, bearer(ws.token), body);
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(r.body).toBe('{"files":[{"uri":"workspace:/workspace/.molecule/chat-uploads/x-a.txt","name":"a.txt","mimeType":"text/plain","size":5}]}');
      expect(files.seen).toHaveLength(1);
      const [sent] = files.seen;
      expect(sent).toMatchObject({ method: 'POST', url: '/internal/chat/uploads/ingest' });
      expect(sent!.headers.authorization).toBe('Bearer mol_in_test_secret');
      expect(sent!.headers['content-type']).toBe(MULTIPART);
      expect(sent!.body.equals(body)).toBe(true);
    });

    it('C072 the admin may upload too; another workspace\'s token is refused (403) and nothing is forwarded', async () => {
      const ws = await workspace();
      const other = await workspace();
      expect((await upload(ws.id, t.admin)).statusCode).toBe(200);
      files.seen.length = 0;
      const refused = await upload(ws.id, bearer(other.token));
      expect(refused.statusCode).toBe(403);
      expect((await download(ws.id, bearer(other.token), '/workspace/a.txt')).statusCode).toBe(403);
      expect((await upload(ws.id, {})).statusCode).toBe(401);
      expect(files.seen).toHaveLength(0);
    });

    it.each([
      [413, '{"error":"request file too large (file \\"big.bin\\")"}'],
      [400, '{"error":"no files parts in the upload"}'],
      [500, '{"error":"internal error"}'],
    ])('C075 C076 the workspace\'s own %i passes through unchanged, not remapped', async (status, text) => {
      const ws = await workspace();
      files.answer({ status, headers: { 'content-type': 'application/json' }, body: text });
      const r = await upload(ws.id, bearer(ws.token));
      expect(r.statusCode).toBe(status);
      expect(r.body).toBe(text);
    });

    it('C075 refuses a declared body over 50 MB before forwarding anything', async () => {
      const ws = await workspace();
      const r = await t.app.inject({
        method: 'POST',
        url: `/workspaces/${ws.id}/chat/uploads`,
        headers: { ...bearer(ws.token), 'content-type': MULTIPART, 'content-length': String(MAX_CHAT_UPLOAD_BYTES + 1) },
        payload: multipart([{ name: 'a.txt', data: 'x' }]),
      });
      expect(r.statusCode).toBe(413);
      expect(r.json()).toMatchObject({ code: 'payload_too_large' });
      expect(files.seen).toHaveLength(0);
    });

    it('C075 a chunked body (no length to check up front) is cut at 50 MB: 413, and the workspace never gets a whole upload', async () => {
      const ws = await workspace();
      const head = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n\r\n`);
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      async function* body() {
        yield head;
        for (let sent = 0; sent <= MAX_CHAT_UPLOAD_BYTES; sent += chunk.length) yield chunk;
        yield Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
      }
      const r = await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/chat/uploads`, headers: { ...bearer(ws.token), 'content-type': MULTIPART }, payload: Readable.from(body()) });
      expect(r.statusCode).toBe(413);
      expect(r.json()).toMatchObject({ code: 'payload_too_large' });
      for (const seen of files.seen) expect(seen.body.length).toBeLessThanOrEqual(MAX_CHAT_UPLOAD_BYTES);
    });

    it('C072 a body that is not multipart is refused (400) and nothing is forwarded', async () => {
      const ws = await workspace();
      const json = await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/chat/uploads`, headers: { ...bearer(ws.token), 'content-type': 'application/json' }, payload: '{}' });
      expect(json.statusCode).toBe(400);
      const text = await t.app.inject({ method: 'POST', url: `/workspaces/${ws.id}/chat/uploads`, headers: { ...bearer(ws.token), 'content-type': 'text/plain' }, payload: 'x' });
      expect(text.statusCode).toBe(400);
      expect(files.seen).toHaveLength(0);
    });

    it('C076 C079 invalid id 400, no workspace 404, removed 410; nothing forwarded', async () => {
      expect((await upload('not-a-uuid', t.admin)).statusCode).toBe(400);
      expect((await download('not-a-uuid', t.admin, '/workspace/a')).statusCode).toBe(400);
      const missing = '00000000-0000-4000-8000-000000000000';
      expect((await upload(missing, t.admin)).statusCode).toBe(404);
      expect((await download(missing, t.admin, '/workspace/a')).statusCode).toBe(404);
      const ws = await workspace();
      await t.db.query(`UPDATE workspaces SET status = 'removed', removed_at = now() WHERE id = $1`, [ws.id]);
      expect((await upload(ws.id, t.admin)).statusCode).toBe(410);
      expect((await download(ws.id, t.admin, '/workspace/a')).statusCode).toBe(410);
      expect(files.seen).toHaveLength(0);
    });

    it('C077 an empty URL: push -> 503 "not registered yet"; poll -> 422 "re-register in push mode with a public URL"', async () => {
      const push = await workspace({ url: '', delivery_mode: 'push' });
      for (const r of [await upload(push.id, bearer(push.token)), await download(push.id, bearer(push.token), '/workspace/a.txt')]) {
        expect(r.statusCode).toBe(503);
        expect(r.json().error).toContain('not registered yet');
      }
      const poll = await workspace({ url: '', delivery_mode: 'poll' });
      for (const r of [await upload(poll.id, bearer(poll.token)), await download(poll.id, bearer(poll.token), '/workspace/a.txt')]) {
        expect(r.statusCode).toBe(422);
        expect(r.json().error).toContain('re-register in push mode with a public URL');
      }
      expect(files.seen).toHaveLength(0);
    });

    it('C076 C079 C081 a missing inbound secret is minted inline: 503 with retry_after_seconds 30 and a hint; the next call goes through with it', async () => {
      for (const call of [(id: string, h: Record<string, string>) => upload(id, h), (id: string, h: Record<string, string>) => download(id, h, '/workspace/a.txt')]) {
        files.seen.length = 0;
        const ws = await workspace({ secret: null });
        const r = await call(ws.id, bearer(ws.token));
        expect(r.statusCode).toBe(503);
        expect(r.json()).toMatchObject({ retry_after_seconds: 30, hint: expect.stringContaining('Retry') });
        expect(files.seen).toHaveLength(0);
        const minted = (await t.db.query<{ s: string | null }>('SELECT platform_inbound_secret AS s FROM workspaces WHERE id = $1', [ws.id])).rows[0]!.s;
        expect(minted).toMatch(/^mol_in_/);
        files.answer({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"files":[]}' });
        expect((await call(ws.id, bearer(ws.token))).statusCode).toBe(200);
        expect(files.seen.at(-1)!.headers.authorization).toBe(`Bearer ${minted}`);
      }
    });

    it('C081 when minting fails the answer is 503 with a Reprovision hint and no internals', async () => {
      const ws = await workspace({ secret: null });
      const heal = t.deps.inboundSecrets.readOrHeal.bind(t.deps.inboundSecrets);
      t.deps.inboundSecrets.readOrHeal = () => Promise.reject(new Error('connection to db-host-17 lost'));
      try {
        const r = await upload(ws.id, bearer(ws.token));
        expect(r.statusCode).toBe(503);
        expect(r.json().hint).toContain('Reprovision');
        expect(r.body).not.toContain('db-host-17');
      } finally {
        t.deps.inboundSecrets.readOrHeal = heal;
      }
    });

    it('C076 C079 a workspace that refuses connections -> 502 with no host in the body; nothing else changed', async () => {
      const port = await freePort();
      const ws = await workspace({ url: `http://127.0.0.1:${port}` });
      for (const r of [await upload(ws.id, bearer(ws.token)), await download(ws.id, bearer(ws.token), '/workspace/a.txt')]) {
        expect(r.statusCode).toBe(502);
        expect(r.json()).toMatchObject({ code: 'agent_unreachable' });
        expect(r.body).not.toContain('127.0.0.1');
        expect(r.body).not.toContain(String(port));
      }
    });

    it('C224 the forward goes through the guarded client: a URL the platform may not dial is refused, nothing sent', async () => {
      const ws = await workspace({ url: 'http://169.254.169.254' });
      const r = await download(ws.id, bearer(ws.token), '/workspace/a.txt');
      expect(r.statusCode).toBe(502);
      expect(r.body).not.toContain('169.254');
    });

    it('C078 C082 download forwards GET /internal/file/read?path= with the bearer and streams the file back byte for byte with its headers', async () => {
      const ws = await workspace();
      const bytes = Buffer.from([0, 255, 1, 254, 10, 13, 0x80, 0x7f]);
      const disposition = `attachment; filename="r_sum_ \\"q\\".bin"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22q%22.bin`;
      files.answer({ status: 200, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length), 'content-disposition': disposition }, body: bytes });
      const path = '/workspace/dir/résumé "q".bin';
      const r = await download(ws.id, bearer(ws.token), encodeURIComponent(path));
      expect(r.statusCode).toBe(200);
      expect(r.rawPayload.equals(bytes)).toBe(true);
      expect(r.headers).toMatchObject({ 'content-type': 'application/octet-stream', 'content-length': String(bytes.length), 'content-disposition': disposition });
      expect(files.seen).toHaveLength(1);
      expect(files.seen[0]!.method).toBe('GET');
      expect(files.seen[0]!.url).toBe(`/internal/file/read?path=${encodeURIComponent(path)}`);
      expect(files.seen[0]!.headers.authorization).toBe('Bearer mol_in_test_secret');
    });

    it('C078 a file the workspace sends without Content-Disposition is still an attachment, never rendered on the platform origin', async () => {
      const ws = await workspace();
      files.answer({ status: 200, headers: { 'content-type': 'text/html' }, body: '<script>alert(1)</script>' });
      const r = await download(ws.id, bearer(ws.token), '/workspace/page.html');
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-disposition']).toBe('attachment');
      expect(r.headers['content-security-policy']).toContain("default-src 'none'");
    });

    it('C079 a 404 from the workspace stays 404 (not 500), its body unchanged', async () => {
      const ws = await workspace();
      files.answer({ status: 404, headers: { 'content-type': 'application/json' }, body: '{"error":"not found"}' });
      const r = await download(ws.id, bearer(ws.token), '/workspace/missing.txt');
      expect(r.statusCode).toBe(404);
      expect(r.body).toBe('{"error":"not found"}');
    });

    it.each([
      ['a relative path', 'workspace/a.txt'],
      ['a ".." segment', '/workspace/../etc/passwd'],
      ['a percent-encoded ".."', '/workspace/%2e%2e/etc/passwd'],
      ['a trailing ".."', '/workspace/a/..'],
      ['a "." segment', '/workspace/./a.txt'],
      ['a double slash', '/workspace//a.txt'],
      ['a leading double slash', '//workspace/a.txt'],
      ['a root outside the allowed ones', '/etc/passwd'],
      ['a root lookalike', '/workspaces/a.txt'],
      ['a root itself', '/workspace'],
      ['a backslash', '/workspace/..\\a'],
      ['an empty path', ''],
    ])('C080 download refuses %s with 400 and forwards nothing', async (_name, path) => {
      const ws = await workspace();
      const r = await download(ws.id, bearer(ws.token), path.replace(/\\/g, '%5C'));
      expect(r.statusCode).toBe(400);
      expect(files.seen).toHaveLength(0);
    });
  });
}
