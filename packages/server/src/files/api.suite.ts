import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { WorkspaceFiles } from '../provisioning/files.js';
import { ProcessFiles } from '../provisioning/process/files.js';
import { bearer, createExternal, json } from '../test-support/api.js';
import { fakeProvisioner, onlineWorkspace, type FakeBackend } from '../test-support/fake-provisioner.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';

/**
 * The Files API suite on a container-like backend (files only while the agent runs; the fake backend
 * says whether it does) whose files are real dirs, so symlinks and traversal meet a real filesystem.
 * On PGlite (api.test.ts) and PostgreSQL (api.int.test.ts).
 */
export function filesApiSuite(kind: DbKind): void {
  describe(`files API on ${kind}`, () => {
    let t: TestApp;
    let noPort: TestApp;
    let fake: FakeBackend;
    let dataDir: string;
    /** Where a symlink in a workspace points: nothing may ever be written here. */
    let outside: string;
    const dirOf = (id: string) => path.join(dataDir, 'workspaces', id);
    let address: string | undefined;
    beforeAll(async () => {
      dataDir = await mkdtemp(path.join(tmpdir(), 'files-api-'));
      outside = path.join(dataDir, 'outside');
      await mkdir(outside);
      await writeFile(path.join(outside, 'secret.txt'), 'not yours');
      fake = fakeProvisioner();
      const real = new ProcessFiles(dirOf);
      // Like a container backend: its files are reachable only while the agent runs.
      const files: WorkspaceFiles = { whileStopped: false, list: real.list.bind(real), read: real.read.bind(real), write: real.write.bind(real), remove: real.remove.bind(real) };
      t = await startTestApp({ kind, config: { provisioner: 'docker' }, tweak: (deps) => void (deps.provisioner = { ...fake.prov, files }) });
      noPort = await startTestApp({ kind, config: { provisioner: 'docker' }, tweak: (deps) => void (deps.provisioner = fakeProvisioner().prov) });
    });
    afterAll(async () => {
      await t.close();
      await noPort.close();
      await rm(dataDir, { recursive: true, force: true });
    });

    const req = (method: 'GET' | 'PUT' | 'DELETE', url: string, opts: { body?: string | Buffer; json?: unknown; headers?: Record<string, string>; app?: TestApp } = {}) => {
      const app = opts.app ?? t;
      const headers = { ...app.admin, ...(opts.json !== undefined ? json : opts.body !== undefined ? { 'content-type': 'application/octet-stream' } : {}), ...opts.headers };
      const payload = opts.json !== undefined ? JSON.stringify(opts.json) : opts.body;
      return app.app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
    };
    const files = (id: string) => `/workspaces/${id}/files`;
    /** A request whose path goes out byte for byte (inject, like browsers, would resolve `..` and `%2e%2e` first). */
    const raw = async (method: 'GET' | 'PUT' | 'DELETE', rawPath: string, body?: string): Promise<{ statusCode: number; body: string }> => {
      address ??= await t.app.listen({ port: 0, host: '127.0.0.1' });
      const url = new URL(address);
      return new Promise((resolve, reject) => {
        const r = httpRequest(url, { method, path: rawPath, headers: { ...t.admin, ...(body !== undefined ? { 'content-type': 'text/plain' } : {}) } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body: text }));
        });
        r.on('error', reject);
        r.end(body);
      });
    };

    it('C080 lists a root, writes a file (parents created), reads it back with its type and name, and deletes it', async () => {
      const ws = await onlineWorkspace(t, 'files-rw', { template: 'echo' });
      expect((await req('PUT', `${files(ws.id)}/configs/notes/today.md`, { body: '# hi\n', headers: { 'content-type': 'text/markdown' } })).json()).toEqual({ written: ['/configs/notes/today.md'] });
      expect(await readFile(path.join(dirOf(ws.id), 'configs/notes/today.md'), 'utf8')).toBe('# hi\n');

      const tree = (await req('GET', `${files(ws.id)}?root=/configs&depth=2`)).json();
      expect(tree).toMatchObject({ root: '/configs', path: '/configs', truncated: false, source: 'workspace' });
      expect(tree.entries).toEqual([
        { path: '/configs/notes', name: 'notes', type: 'dir', size: 0, modified_at: expect.any(String) },
        { path: '/configs/notes/today.md', name: 'today.md', type: 'file', size: 5, modified_at: expect.any(String) },
      ]);
      expect((await req('GET', `${files(ws.id)}?root=/configs&path=notes`)).json().entries.map((e: { path: string }) => e.path)).toEqual(['/configs/notes/today.md']);

      const got = await req('GET', `${files(ws.id)}/configs/notes/today.md`);
      expect(got.statusCode).toBe(200);
      expect(got.body).toBe('# hi\n');
      expect(got.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(got.headers['content-disposition']).toBe(`attachment; filename="today.md"; filename*=UTF-8''today.md`);
      expect(got.headers['x-molecule-file-source']).toBe('workspace');

      // Binary bytes survive, every root works.
      const bytes = Buffer.from([0, 1, 2, 255, 254]);
      expect((await req('PUT', `${files(ws.id)}/workspace/out.bin`, { body: bytes })).statusCode).toBe(200);
      expect((await req('GET', `${files(ws.id)}/workspace/out.bin`)).rawPayload).toEqual(bytes);
      for (const root of ['home', 'plugins']) expect((await req('PUT', `${files(ws.id)}/${root}/x.txt`, { body: 'x' })).statusCode).toBe(200);
      // Any content type is the file's bytes, JSON included (never parsed), and an empty body is an empty file.
      expect((await req('PUT', `${files(ws.id)}/workspace/data.json`, { body: '{"a": 1, ', headers: json })).statusCode).toBe(200);
      expect(await readFile(path.join(dirOf(ws.id), 'workspace/data.json'), 'utf8')).toBe('{"a": 1, ');
      expect((await req('GET', `${files(ws.id)}/workspace/data.json`)).headers['content-type']).toBe('application/json');
      expect((await t.app.inject({ method: 'PUT', url: `${files(ws.id)}/workspace/empty.txt`, headers: t.admin })).statusCode).toBe(200);
      expect(await readFile(path.join(dirOf(ws.id), 'workspace/empty.txt'), 'utf8')).toBe('');

      expect((await req('DELETE', `${files(ws.id)}/configs/notes/today.md`)).json()).toEqual({ deleted: '/configs/notes/today.md' });
      expect((await req('GET', `${files(ws.id)}/configs/notes/today.md`)).statusCode).toBe(404);
      expect((await req('DELETE', `${files(ws.id)}/configs/notes/today.md`)).statusCode).toBe(404);
      expect((await req('DELETE', `${files(ws.id)}/configs/notes`)).statusCode).toBe(200);
      expect(existsSync(path.join(dirOf(ws.id), 'configs/notes'))).toBe(false);
    });

    it('writes several text files in one call, all under one root; a refused path writes none', async () => {
      const ws = await onlineWorkspace(t, 'files-multi');
      const r = await req('PUT', files(ws.id), { json: { files: { '/configs/a.md': 'A', '/configs/skills/b.md': 'B' } } });
      expect(r.json()).toEqual({ written: ['/configs/a.md', '/configs/skills/b.md'] });
      expect(await readFile(path.join(dirOf(ws.id), 'configs/skills/b.md'), 'utf8')).toBe('B');

      for (const bad of [{ '/configs/c.md': 'C', '/configs/../d.md': 'D' }, { '/configs/c.md': 'C', '/workspace/d.md': 'D' }, {}]) {
        const res = await req('PUT', files(ws.id), { json: { files: bad } });
        expect(res.statusCode, JSON.stringify(bad)).toBe(400);
        expect(res.json().error).toMatch(/path|root|at least one/);
      }
      expect(existsSync(path.join(dirOf(ws.id), 'configs/c.md'))).toBe(false);
      expect((await req('PUT', files(ws.id), { json: { files: 'nope' } })).statusCode).toBe(400);
    });

    it('C195 a stopped agent: /configs reads come from its template (a missing file is 404), other roots and writes answer 409', async () => {
      const ws = await onlineWorkspace(t, 'files-stopped', { template: 'echo' });
      fake.states.set('files-stopped', { state: 'stopped' });
      const tree = (await req('GET', files(ws.id))).json();
      expect(tree).toMatchObject({ root: '/configs', source: 'template', entries: [{ path: '/configs/config.yaml', name: 'config.yaml', type: 'file' }] });
      const cfg = await req('GET', `${files(ws.id)}/configs/config.yaml`);
      expect(cfg.statusCode).toBe(200);
      expect(cfg.body).toContain('adapter: echo');
      expect(cfg.headers['x-molecule-file-source']).toBe('template');
      expect(cfg.headers['content-type']).toBe('application/yaml');
      const missing = await req('GET', `${files(ws.id)}/configs/prompt.md`);
      expect(missing.statusCode).toBe(404);
      expect(missing.json().error).toBe('No prompt.md found in /configs');

      const other = await req('GET', `${files(ws.id)}?root=/workspace`);
      expect(other.statusCode).toBe(409);
      expect(other.json().error).toMatch(/not running: start it first/);
      expect((await req('PUT', `${files(ws.id)}/configs/new.md`, { body: 'x' })).statusCode).toBe(409);
      expect((await req('DELETE', `${files(ws.id)}/configs/config.yaml`)).statusCode).toBe(409);
      expect(existsSync(path.join(dirOf(ws.id), 'configs/new.md'))).toBe(false);
    });

    it('C195 a workspace without a template reads the config.yaml it starts with', async () => {
      const ws = await onlineWorkspace(t, 'files-plain');
      fake.states.set('files-plain', { state: 'stopped' });
      expect((await req('GET', `${files(ws.id)}/configs/config.yaml`)).body).toContain('adapter: echo');
    });

    it('a backend that cannot tell whether the agent runs: /configs reads fall back to the template, writes answer 503 (retry)', async () => {
      const ws = await onlineWorkspace(t, 'files-unknown', { template: 'echo' });
      fake.states.set('files-unknown', { state: 'unknown', error: new Error('engine at 10.0.0.7 unreachable') });
      expect((await req('GET', files(ws.id))).json().source).toBe('template');
      const w = await req('PUT', `${files(ws.id)}/configs/x.md`, { body: 'x' });
      expect(w.statusCode).toBe(503);
      expect(w.json().error).toBe("could not reach the workspace's backend, retry");
      expect(w.body).not.toContain('10.0.0.7');
      expect((await req('GET', `${files(ws.id)}?root=/home`)).statusCode).toBe(503);
    });

    it('a backend without files answers 501; an external workspace: template reads, 422 for writes', async () => {
      const ws = await onlineWorkspace(noPort, 'files-noport');
      const r = await req('GET', `${files(ws.id)}?root=/workspace`, { app: noPort });
      expect(r.statusCode).toBe(501);
      expect(r.json()).toEqual({ error: 'files are not supported on this backend', code: 'not_supported' });
      expect((await req('PUT', `${files(ws.id)}/configs/a.md`, { body: 'x', app: noPort })).statusCode).toBe(501);

      const ext = await createExternal(t, { name: 'files-ext' });
      expect((await req('GET', files(ext.id))).json().source).toBe('template');
      expect((await req('PUT', `${files(ext.id)}/configs/a.md`, { body: 'x' })).statusCode).toBe(422);
    });

    it('C080 refuses every bad path with a clear 400 and writes nothing: traversal (plain, encoded, double-encoded), //, backslash, NUL, outside the roots, unknown root', async () => {
      const ws = await onlineWorkspace(t, 'files-bad');
      const base = files(ws.id);
      const cases: [string, RegExp][] = [
        [`${base}/configs/../../outside/pwned.txt`, /"\." and "\.\." segments/],
        [`${base}/configs/%2e%2e/%2e%2e/outside/pwned.txt`, /"\." and "\.\." segments/],
        [`${base}/configs/%252e%252e/pwned.txt`, /percent-encoded/],
        [`${base}/configs/a/%2e/pwned.txt`, /"\." and "\.\." segments/],
        [`${base}/configs//pwned.txt`, /empty segments/],
        [`${base}/configs/a%5c..%5cpwned.txt`, /backslash/],
        [`${base}/configs/pwned%0a.txt`, /control characters/],
        [`${base}/etc/pwned.txt`, /must be under one of \/configs, \/workspace, \/home, \/plugins/],
        [`${base}/configs`, /names a root/],
      ];
      for (const [url, why] of cases) {
        for (const method of ['PUT', 'GET', 'DELETE'] as const) {
          const r = await raw(method, url, method === 'PUT' ? 'pwned' : undefined);
          expect(r.statusCode, `${method} ${url}`).toBe(400);
          expect((JSON.parse(r.body) as { error: string }).error, `${method} ${url}`).toMatch(why);
        }
      }
      // NUL is refused for every route before it runs.
      expect((await req('PUT', `${base}/configs/a%00.txt`, { body: 'x' })).statusCode).toBe(400);
      for (const q of ['root=/etc', 'root=configs', 'path=../..', 'path=%2e%2e', 'path=/abs', 'depth=0', 'depth=6']) {
        expect((await req('GET', `${base}?${q}`)).statusCode, q).toBe(400);
      }
      expect((await req('PUT', base, { json: { files: { '/configs/../x': 'x' } } })).statusCode).toBe(400);
      expect((await req('PUT', base, { json: { files: { 'configs/x': 'x' } } })).statusCode).toBe(400);
      expect(existsSync(path.join(dataDir, 'workspaces/outside'))).toBe(false);
      expect(existsSync(path.join(dataDir, 'pwned.txt'))).toBe(false);
      expect(existsSync(path.join(dirOf(ws.id), 'configs/pwned.txt'))).toBe(false);
    });

    it('C080 refuses a symlink that leads out of the root (read, write, list, delete) and writes nothing through it', async () => {
      const ws = await onlineWorkspace(t, 'files-symlink');
      await mkdir(path.join(dirOf(ws.id), 'configs'), { recursive: true });
      await symlink(outside, path.join(dirOf(ws.id), 'configs/escape'));
      await symlink(path.join(outside, 'secret.txt'), path.join(dirOf(ws.id), 'configs/secret.txt'));
      const base = files(ws.id);
      for (const [method, url] of [
        ['GET', `${base}/configs/escape/secret.txt`],
        ['GET', `${base}/configs/secret.txt`],
        ['PUT', `${base}/configs/escape/new.txt`],
        ['PUT', `${base}/configs/secret.txt`],
        ['PUT', `${base}/configs/escape/deeper/new.txt`],
        ['DELETE', `${base}/configs/escape/secret.txt`],
        ['GET', `${base}?path=escape`],
      ] as const) {
        const r = await req(method, url, method === 'PUT' ? { body: 'pwned' } : {});
        expect(r.statusCode, `${method} ${url}`).toBe(400);
        expect(r.json().error, `${method} ${url}`).toMatch(/leads outside \/configs/);
        expect(r.body).not.toContain(dataDir);
      }
      const batch = await req('PUT', base, { json: { files: { '/configs/fine.md': 'ok', '/configs/escape/new.txt': 'pwned' } } });
      expect(batch.statusCode).toBe(400);
      expect(existsSync(path.join(dirOf(ws.id), 'configs/fine.md'))).toBe(false);
      expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('not yours');
      expect(existsSync(path.join(outside, 'new.txt'))).toBe(false);
      expect(existsSync(path.join(outside, 'deeper'))).toBe(false);
      // The tree does not list symlinks at all.
      expect((await req('GET', base)).json().entries).toEqual([]);
    });

    it('refuses a file over 10 MiB and a several-files body over 25 MiB with 413, writing nothing', async () => {
      const ws = await onlineWorkspace(t, 'files-big');
      const big = await req('PUT', `${files(ws.id)}/workspace/big.bin`, { body: Buffer.alloc(10 * 1024 * 1024 + 1) });
      expect(big.statusCode).toBe(413);
      expect(big.json()).toEqual({ error: `request body larger than ${10 * 1024 * 1024} bytes`, code: 'payload_too_large' });
      const many = await req('PUT', files(ws.id), { json: { files: { '/workspace/a.txt': 'a'.repeat(13 * 1024 * 1024), '/workspace/b.txt': 'b'.repeat(13 * 1024 * 1024) } } });
      expect(many.statusCode).toBe(413);
      expect(existsSync(path.join(dirOf(ws.id), 'workspace/big.bin'))).toBe(false);
      expect(existsSync(path.join(dirOf(ws.id), 'workspace/a.txt'))).toBe(false);
      // Over the platform's general body limit but under 25 MiB: several files go in.
      expect((await req('PUT', files(ws.id), { json: { files: { '/workspace/m1.txt': 'm'.repeat(9 * 1024 * 1024), '/workspace/m2.txt': 'n'.repeat(9 * 1024 * 1024) } } })).statusCode).toBe(200);
      // Exactly the cap is fine.
      expect((await req('PUT', `${files(ws.id)}/workspace/cap.bin`, { body: Buffer.alloc(10 * 1024 * 1024) })).statusCode).toBe(200);
    });

    it("another workspace's token gets 403, no token 401, an unknown workspace 404, a removed one 410; nothing is written", async () => {
      const ws = await onlineWorkspace(t, 'files-auth');
      const other = await createExternal(t, { name: 'files-other' });
      const own = await createExternal(t, { name: 'files-own' });
      for (const [method, url] of [
        ['GET', files(ws.id)],
        ['GET', `${files(ws.id)}/configs/config.yaml`],
        ['PUT', `${files(ws.id)}/configs/x.md`],
        ['DELETE', `${files(ws.id)}/configs/x.md`],
      ] as const) {
        expect((await req(method, url, { body: method === 'PUT' ? 'x' : undefined, headers: bearer(other.token) })).statusCode, `${method} ${url}`).toBe(403);
        expect((await t.app.inject({ method, url, ...(method === 'PUT' ? { payload: 'x' } : {}) })).statusCode).toBe(401);
      }
      expect((await req('PUT', files(ws.id), { json: { files: { '/configs/x.md': 'x' } }, headers: bearer(other.token) })).statusCode).toBe(403);
      expect(existsSync(path.join(dirOf(ws.id), 'configs/x.md'))).toBe(false);
      // Its own token reads its files.
      expect((await req('GET', files(own.id), { headers: bearer(own.token) })).statusCode).toBe(200);

      expect((await req('GET', `/workspaces/00000000-0000-4000-8000-000000000000/files`)).statusCode).toBe(404);
      expect((await req('GET', `/workspaces/not-a-uuid/files`)).statusCode).toBe(400);
      await req('DELETE', `/workspaces/${ws.id}`);
      for (const [method, url] of [
        ['GET', files(ws.id)],
        ['GET', `${files(ws.id)}/configs/config.yaml`],
        ['PUT', `${files(ws.id)}/configs/x.md`],
        ['DELETE', `${files(ws.id)}/configs/x.md`],
      ] as const) {
        const r = await req(method, url, method === 'PUT' ? { body: 'x' } : {});
        expect(r.statusCode, `${method} ${url}`).toBe(410);
        expect(r.json().error).toBe('workspace removed');
      }
      expect((await req('PUT', files(ws.id), { json: { files: { '/configs/x.md': 'x' } } })).statusCode).toBe(410);
      expect(existsSync(path.join(dirOf(ws.id), 'configs/x.md'))).toBe(false);
    });

    it('escapes a downloaded file name in content-disposition', async () => {
      const ws = await onlineWorkspace(t, 'files-names');
      const name = 'ré "port".txt';
      expect((await req('PUT', `${files(ws.id)}/workspace/${encodeURIComponent(name)}`, { body: 'x' })).statusCode).toBe(200);
      const r = await req('GET', `${files(ws.id)}/workspace/${encodeURIComponent(name)}`);
      expect(r.headers['content-disposition']).toBe(`attachment; filename="r_ _port_.txt"; filename*=UTF-8''r%C3%A9%20%22port%22.txt`);
    });
  });
}
