import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { contentDisposition, registerInternalFiles, sanitizeFileName } from './internal-files.js';
import { captureLogger, startTestAgent, type TestAgent } from './test-support/agent.js';

const SECRET = 'inbound-secret-0123456789';
const auth = { authorization: `Bearer ${SECRET}` };

let agents: TestAgent[] = [];
afterEach(async () => {
  await Promise.all(agents.map((a) => a.close({ graceMs: 0 })));
  agents = [];
});

async function agentWithFiles(secret: string | undefined = SECRET) {
  const workspace = await mkdtemp(path.join(os.tmpdir(), 'molecule-ws-'));
  const a = await startTestAgent({ env: { MOLECULE_WORKSPACE_DIR: workspace }, files: secret === undefined ? {} : { '.platform_inbound_secret': secret } });
  agents.push(a);
  return { a, workspace };
}

const read = (a: TestAgent, p: string, headers: Record<string, string> = auth) =>
  fetch(`${a.url}/internal/file/read?path=${encodeURIComponent(p)}`, { headers });

function upload(a: TestAgent, files: { name: string; content: string | Uint8Array; type?: string }[], headers: Record<string, string> = auth) {
  const form = new FormData();
  for (const f of files) form.append('files', new Blob([f.content], { type: f.type ?? 'text/plain' }), f.name);
  return fetch(`${a.url}/internal/chat/uploads/ingest`, { method: 'POST', body: form, headers });
}

describe('internal endpoints: inbound-secret bearer (C035)', () => {
  it.each([
    ['no bearer', {}],
    ['a wrong bearer', { authorization: 'Bearer nope' }],
    ['another scheme', { authorization: `Basic ${SECRET}` }],
  ])('C035: answers 401 to %s on both endpoints', async (_name, headers) => {
    const { a, workspace } = await agentWithFiles();
    await writeFile(path.join(workspace, 'a.txt'), 'x');
    expect((await read(a, path.join(workspace, 'a.txt'), headers)).status).toBe(401);
    expect((await upload(a, [{ name: 'a.txt', content: 'x' }], headers)).status).toBe(401);
    await expect(readdir(path.join(workspace, '.molecule'))).rejects.toThrow(); // nothing written
  });

  it.each([
    ['missing', undefined],
    ['empty', '  \n'],
  ])('C035: fails closed when the secret file is %s', async (_name, secret) => {
    const { a, workspace } = await agentWithFiles(secret);
    await writeFile(path.join(workspace, 'a.txt'), 'x');
    expect((await read(a, path.join(workspace, 'a.txt'), { authorization: 'Bearer ' })).status).toBe(401);
    expect((await read(a, path.join(workspace, 'a.txt'), { authorization: 'Bearer undefined' })).status).toBe(401);
  });
});

describe('GET /internal/file/read (C035, C080)', () => {
  it('C035: streams a file with its type and an escaped Content-Disposition', async () => {
    const { a, workspace } = await agentWithFiles();
    const file = path.join(workspace, 'report "final" é.md');
    await writeFile(file, '# hello');
    const res = await read(a, file);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('# hello');
    expect(res.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="report \\"final\\" _.md"; filename*=UTF-8''report%20%22final%22%20%C3%A9.md`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('C035: reads under the configs dir too, but never the agent credential files', async () => {
    const { a } = await agentWithFiles();
    expect((await read(a, path.join(a.dir, 'config.yaml'))).status).toBe(200);
    expect((await read(a, path.join(a.dir, '.platform_inbound_secret'))).status).toBe(400);
    expect((await read(a, path.join(a.dir, '.auth_token'))).status).toBe(400);
  });

  it('C035: answers 404 for a missing file', async () => {
    const { a, workspace } = await agentWithFiles();
    expect((await read(a, path.join(workspace, 'nope.txt'))).status).toBe(404);
    expect((await read(a, path.join(workspace, 'nodir', 'nope.txt'))).status).toBe(404);
  });

  it('C035/C080: rejects relative, traversing, non-canonical and out-of-root paths with 400', async () => {
    const { a, workspace } = await agentWithFiles();
    await writeFile(path.join(workspace, 'a.txt'), 'x');
    for (const p of [
      '',
      'a.txt',
      './a.txt',
      `${workspace}/../${path.basename(workspace)}/a.txt`,
      `${workspace}//a.txt`,
      `${workspace}/./a.txt`,
      `${workspace}/a.txt/`,
      '/etc/passwd',
      `${workspace}-evil/a.txt`,
      `${workspace}/a.txt\0.png`,
    ]) {
      const res = await read(a, p);
      expect(res.status, p).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBeTruthy();
    }
  });

  it('C035: rejects symlinks (to a file, and through a directory) and directories with 400', async () => {
    const { a, workspace } = await agentWithFiles();
    const outside = await mkdtemp(path.join(os.tmpdir(), 'molecule-outside-'));
    await writeFile(path.join(outside, 'secret.txt'), 'secret');
    await symlink(path.join(outside, 'secret.txt'), path.join(workspace, 'link.txt'));
    await symlink(outside, path.join(workspace, 'linkdir'));
    await mkdir(path.join(workspace, 'sub'));
    for (const p of [path.join(workspace, 'link.txt'), path.join(workspace, 'linkdir', 'secret.txt'), path.join(workspace, 'sub')]) {
      const res = await read(a, p);
      expect(res.status, p).toBe(400);
      expect(await res.text()).not.toContain('secret"');
    }
  });
});

describe('POST /internal/chat/uploads/ingest (C035)', () => {
  it('C035 C073: writes each file 0600 under chat-uploads with a random prefix and answers their URIs in the platform\'s terms (/workspace/...), which read back', async () => {
    const { a, workspace } = await agentWithFiles();
    const res = await upload(a, [
      { name: 'notes.txt', content: 'hello' },
      { name: '../../evil name?.sh', content: new Uint8Array([1, 2, 3]), type: 'application/x-sh' },
    ]);
    expect(res.status).toBe(200);
    const { files } = (await res.json()) as { files: { uri: string; name: string; mimeType: string; size: number }[] };
    expect(files.map(({ name, mimeType, size }) => ({ name, mimeType, size }))).toEqual([
      { name: 'notes.txt', mimeType: 'text/plain', size: 5 },
      { name: 'evil_name.sh', mimeType: 'application/x-sh', size: 3 },
    ]);
    const dir = path.join(workspace, '.molecule', 'chat-uploads');
    // The agent's folder is a temp dir here; the URI says /workspace, as in a container.
    const onDisk = (uri: string) => path.join(workspace, uri.slice('workspace:/workspace'.length));
    for (const f of files) {
      expect(f.uri).toMatch(/^workspace:\/workspace\/\.molecule\/chat-uploads\//);
      const p = onDisk(f.uri);
      expect(path.dirname(p)).toBe(dir);
      expect(path.basename(p)).toMatch(new RegExp(`^[0-9a-f]{32}-${f.name.replace('.', '\\.')}$`));
      expect((await stat(p)).mode & 0o777).toBe(0o600);
    }
    expect(await readFile(onDisk(files[0]!.uri), 'utf8')).toBe('hello');
    // What was ingested can be read back through the read endpoint, by the URI's path, under the name it was sent with.
    const back = await read(a, files[0]!.uri.slice('workspace:'.length));
    expect(back.headers.get('content-disposition')).toMatch(/^attachment; filename="notes\.txt"/);
    expect(await back.text()).toBe('hello');
    // /workspace/.. does not escape through the mapping.
    expect((await read(a, '/workspace/../etc/passwd')).status).toBe(400);
  });

  it('C074: the MIME type comes from the part header first, from the extension only when the header says nothing', async () => {
    const { a } = await agentWithFiles();
    const res = await upload(a, [
      { name: 'data.csv', content: 'a,b', type: 'application/x-custom' },
      { name: 'photo.png', content: new Uint8Array([137, 80]), type: 'application/octet-stream' },
      { name: 'blob.weird', content: 'x', type: 'application/octet-stream' },
    ]);
    const { files } = (await res.json()) as { files: { name: string; mimeType: string }[] };
    expect(files.map((f) => f.mimeType)).toEqual(['application/x-custom', 'image/png', 'application/octet-stream']);
  });

  it('C035: answers 400 to a body that is not multipart or holds no file', async () => {
    const { a } = await agentWithFiles();
    const notMultipart = await fetch(`${a.url}/internal/chat/uploads/ingest`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' });
    expect(notMultipart.status).toBe(400);
    const form = new FormData();
    form.append('note', 'just a field');
    expect((await fetch(`${a.url}/internal/chat/uploads/ingest`, { method: 'POST', body: form, headers: auth })).status).toBe(400);
  });
});

describe('upload limits (C035)', () => {
  async function app(limits: { fileBytes?: number; requestBytes?: number; files?: number }) {
    const configsDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-cfg-'));
    const workspaceDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-ws-'));
    await writeFile(path.join(configsDir, '.platform_inbound_secret'), SECRET);
    const f = Fastify();
    await registerInternalFiles(f, { configsDir, workspaceDir, readRoots: [workspaceDir], log: captureLogger().logger, limits });
    await f.listen({ port: 0, host: '127.0.0.1' });
    return { f, url: `http://127.0.0.1:${(f.server.address() as { port: number }).port}`, workspaceDir };
  }

  it.each([
    ['a file over the per-file limit', { fileBytes: 10 }, [{ name: 'big.bin', size: 11 }]],
    ['a request over the total limit', { requestBytes: 15 }, [{ name: 'a', size: 10 }, { name: 'b', size: 10 }]],
    ['too many files', { files: 1 }, [{ name: 'a', size: 1 }, { name: 'b', size: 1 }]],
  ])('C035 C075: answers 413 to %s (naming the file that broke it) and keeps nothing', async (_name, limits, parts) => {
    const { f, url, workspaceDir } = await app(limits);
    try {
      const form = new FormData();
      for (const p of parts) form.append('files', new Blob([new Uint8Array(p.size)]), p.name);
      const res = await fetch(`${url}/internal/chat/uploads/ingest`, { method: 'POST', body: form, headers: auth });
      expect(res.status).toBe(413);
      if (!('files' in limits)) expect(((await res.json()) as { error: string }).error).toContain(`"${parts.at(-1)!.name}"`);
      expect(await readdir(path.join(workspaceDir, '.molecule', 'chat-uploads'))).toEqual([]);
    } finally {
      await f.close();
      await rm(workspaceDir, { recursive: true, force: true });
    }
  });
});

describe('helpers', () => {
  it.each([
    ['report.pdf', 'report.pdf'],
    ['my file (1).txt', 'my_file_1.txt'],
    ['../../etc/passwd', 'passwd'],
    ['..', 'file'],
    ['', 'file'],
    ['日本語', 'file'],
    [`${'a'.repeat(200)}.tar.gz`, `${'a'.repeat(200)}.tar`.slice(0, 97) + '.gz'],
  ])('sanitizeFileName(%j) = %j', (input, out) => {
    expect(sanitizeFileName(input)).toBe(out);
    expect(sanitizeFileName(input).length).toBeLessThanOrEqual(100);
  });

  it('contentDisposition strips control characters from the ASCII fallback', () => {
    expect(contentDisposition('a\r\nb.txt')).toBe(`attachment; filename="a__b.txt"; filename*=UTF-8''a%0D%0Ab.txt`);
  });
});
