import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { Status } from '@molecule/contracts';
import { freePort } from '../net/free-port.js';
import type { WorkspaceFiles } from '../provisioning/files.js';
import { ProcessFiles } from '../provisioning/process/files.js';
import { bearer, createExternal, sender } from '../test-support/api.js';
import { fakeProvisioner, onlineWorkspace, type FakeBackend } from '../test-support/fake-provisioner.js';
import { startTestApp, type DbKind, type TestApp } from '../test-support/harness.js';
import { getWorkspace } from '../workspaces/repo.js';
import { DEFAULT_PLUGINS_DIR } from './registry.js';

/** A tar.gz of `entries` (name -> content, or a symlink / absolute / traversal entry as given). */
async function tarball(entries: { name: string; content?: string; type?: 'file' | 'symlink'; linkname?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const e of entries) {
    if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
    else pack.entry({ name: e.name }, e.content ?? '');
  }
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/** The files of a tar.gz, by name. */
async function untar(gz: Buffer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const extract = tar.extract();
  extract.on('entry', (h, s, next) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: unknown) => chunks.push(c as Buffer));
    s.on('end', () => {
      out[h.name] = Buffer.concat(chunks).toString('utf8');
      next();
    });
  });
  const done = new Promise<void>((r) => extract.on('finish', () => r()));
  extract.end(gunzipSync(gz));
  await done;
  return out;
}

const MANIFEST = (name: string, extra = '') => `name: ${name}\nversion: 2.0.0\ndescription: test plugin\nskills: [Thing]\ncommands:\n  - match: '^/${name}$'\n    steps:\n      - reply: '${name} here'\n${extra}`;

/**
 * The plugins API (C180-C188) on a container-like backend whose files are real dirs (files only
 * while the fake backend says the agent runs). On PGlite (api.test.ts) and PostgreSQL (api.int.test.ts).
 */
export function pluginsApiSuite(kind: DbKind): void {
  describe(`plugins API on ${kind}`, () => {
    let t: TestApp;
    let strict: TestApp;
    let fake: FakeBackend;
    let dataDir: string;
    let registry: string;
    let sourceDir: string;
    let agent: Server;
    let agentUrl: string;
    const reloads: string[] = [];
    const send = sender(() => t);
    const dirOf = (id: string) => path.join(dataDir, 'workspaces', id);
    const pluginsOf = (id: string) => path.join(dirOf(id), 'configs', 'plugins');

    beforeAll(async () => {
      dataDir = await mkdtemp(path.join(tmpdir(), 'plugins-api-'));
      registry = path.join(dataDir, 'registry');
      await cp(DEFAULT_PLUGINS_DIR, registry, { recursive: true });
      await mkdir(path.join(registry, 'hermes-only'));
      await writeFile(path.join(registry, 'hermes-only', 'plugin.yaml'), MANIFEST('hermes-only', 'runtimes: [hermes]\n'));
      await mkdir(path.join(registry, 'broken'));
      await writeFile(path.join(registry, 'broken', 'plugin.yaml'), 'name: broken\ncommands:\n  - steps: [{ reply: every message }]\n');
      await mkdir(path.join(registry, 'misnamed'));
      await writeFile(path.join(registry, 'misnamed', 'plugin.yaml'), MANIFEST('other-name'));
      sourceDir = path.join(dataDir, 'sources');
      await mkdir(path.join(sourceDir, 'mine'), { recursive: true });
      await writeFile(path.join(sourceDir, 'mine', 'plugin.yaml'), MANIFEST('mine'));
      await writeFile(path.join(dataDir, 'plugin.yaml'), MANIFEST('outside'));

      // A stand-in agent: answers the platform's reload call and records the bearer it came with.
      agent = createServer((req, res) => {
        reloads.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
        res.writeHead(req.url === '/internal/plugins/reload' ? 200 : 404, { 'content-type': 'application/json' }).end('{"plugins":[]}');
      });
      const port = await freePort();
      await new Promise<void>((r) => agent.listen(port, '127.0.0.1', r));
      agentUrl = `http://127.0.0.1:${port}`;

      fake = fakeProvisioner();
      const real = new ProcessFiles(dirOf);
      const files: WorkspaceFiles = { whileStopped: false, list: real.list.bind(real), read: real.read.bind(real), write: real.write.bind(real), remove: real.remove.bind(real) };
      const config = { provisioner: 'docker' as const, pluginsDir: registry, pluginSourceDirs: [sourceDir] };
      t = await startTestApp({ kind, config, tweak: (deps) => void (deps.provisioner = { ...fake.prov, files }) });
      // Production's address rules: no private targets.
      strict = await startTestApp({
        kind,
        config: { ...config, env: 'production' },
        tweak: (deps) => {
          deps.provisioner = { ...fake.prov, files };
          deps.agentUrlPolicy = { ...deps.agentUrlPolicy, allowPrivate: false };
        },
      });
    });
    afterAll(async () => {
      await t?.close();
      await strict?.close();
      await new Promise((r) => agent?.close(r));
      await rm(dataDir, { recursive: true, force: true });
    });

    /** An online workspace whose agent answers the reload call (`hot: false`: no URL, so installs restart it). */
    const running = async (name: string, hot = true) => {
      const ws = await onlineWorkspace(t, name, { template: 'echo' });
      if (hot) {
        await t.db.query('UPDATE workspaces SET url = $2 WHERE id = $1', [ws.id, agentUrl]);
        t.deps.workspaceCache.invalidate(ws.id);
        await t.deps.inboundSecrets.readOrHeal(ws.id);
      }
      return ws;
    };
    const install = (id: string, body: unknown, headers?: Record<string, string>) => send('POST', `/workspaces/${id}/plugins`, body, headers);
    const installArchive = (id: string, archive: Buffer) =>
      t.app.inject({ method: 'POST', url: `/workspaces/${id}/plugins`, headers: { ...t.admin, 'content-type': 'application/gzip' }, payload: archive });

    it('lists the registry with each plugin once, skipping folders that are not valid plugins; ?runtime keeps the ones that work on it', async () => {
      const all = (await send('GET', '/plugins')).json() as { name: string; skills: string[]; commands: number }[];
      expect(all.map((p) => p.name)).toEqual(['clock', 'hermes-only', 'team-ask']);
      expect(all[0]).toMatchObject({ name: 'clock', version: '1.0.0', skills: ['Clock'], commands: 1, runtimes: [] });
      const forMolecule = (await send('GET', '/plugins?runtime=molecule')).json() as { name: string; supported_on_runtime: boolean }[];
      expect(forMolecule.map((p) => [p.name, p.supported_on_runtime])).toEqual([
        ['clock', true],
        ['team-ask', true],
      ]);
      expect(((await send('GET', '/plugins?runtime=hermes')).json() as { name: string }[]).map((p) => p.name)).toEqual(['clock', 'hermes-only', 'team-ask']);
      expect((await send('GET', '/plugins', undefined, {})).statusCode).toBe(401);
    });

    it('names the source schemes it takes (file only with MOLECULE_PLUGIN_SOURCE_DIRS) and that git sources must be pinned', async () => {
      expect((await send('GET', '/plugins/sources')).json()).toMatchObject({ schemes: ['local', 'github', 'git+https', 'git+http', 'file'], pinned_git_required: true, archive_upload: true });
      const off = await startTestApp({ kind });
      try {
        expect((await sender(() => off)('GET', '/plugins/sources')).json().schemes).toEqual(['local', 'github', 'git+https', 'git+http']);
      } finally {
        await off.close();
      }
    });

    it('C186 installs from the registry into /configs/plugins/<name>/, has the running agent reload (hot_loaded), lists it, and uninstalls it', async () => {
      const ws = await running('plug-hot');
      reloads.length = 0;
      const r = await install(ws.id, { source: 'clock' });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toEqual({ status: 'installed', plugin: 'clock', source: 'local://clock', version: '1.0.0', applied: 'hot_loaded' });
      expect(await readFile(path.join(pluginsOf(ws.id), 'clock', 'plugin.yaml'), 'utf8')).toBe(await readFile(path.join(registry, 'clock', 'plugin.yaml'), 'utf8'));
      const secret = (await t.deps.inboundSecrets.readOrHeal(ws.id)).secret;
      expect(reloads).toEqual([`POST /internal/plugins/reload Bearer ${secret}`]);
      expect((await getWorkspace(t.db, ws.id))!.status).toBe(Status.Online);

      expect((await send('GET', `/workspaces/${ws.id}/plugins`)).json()).toEqual([
        { name: 'clock', version: '1.0.0', description: expect.any(String), author: 'Molecule', tags: ['utility', 'demo'], skills: ['Clock'], runtimes: [], commands: 1, supported_on_runtime: true },
      ]);
      // local://name is the same source; installing again replaces the copy.
      expect((await install(ws.id, { source: 'local://clock' })).json().plugin).toBe('clock');

      const del = await send('DELETE', `/workspaces/${ws.id}/plugins/clock`);
      expect(del.json()).toEqual({ status: 'uninstalled', plugin: 'clock', applied: 'hot_loaded' });
      expect(existsSync(path.join(pluginsOf(ws.id), 'clock'))).toBe(false);
      expect((await send('DELETE', `/workspaces/${ws.id}/plugins/clock`)).statusCode).toBe(404);
      expect((await send('GET', `/workspaces/${ws.id}/plugins`)).json()).toEqual([]);
    });

    it('restarts the workspace to apply a plugin when its agent cannot be asked to reload', async () => {
      const ws = await running('plug-cold', false);
      const before = fake.calls.start.filter((n) => n === 'plug-cold').length;
      const r = await install(ws.id, { source: 'team-ask' });
      expect(r.json()).toMatchObject({ status: 'installed', plugin: 'team-ask', applied: 'restarting' });
      await expect.poll(() => fake.calls.start.filter((n) => n === 'plug-cold').length).toBe(before + 1);
    });

    it('C180 C181 C275 an external workspace gets 422 with the download hint for install and uninstall, only once authenticated', async () => {
      const ext = await createExternal(t, { name: 'plug-ext' });
      for (const r of [await install(ext.id, { source: 'clock' }), await send('DELETE', `/workspaces/${ext.id}/plugins/clock`), await install(ext.id, { source: 'clock' }, bearer(ext.token))]) {
        expect(r.statusCode).toBe(422);
        expect(r.json().hint).toBe('external workspaces pull plugins via GET /workspaces/:id/plugins/:name/download');
      }
      // No credential, a bad one, or another workspace's: the auth answer, never the hint.
      const other = await createExternal(t, { name: 'plug-ext-2' });
      for (const [headers, status] of [[{}, 401], [bearer('mol_ws_nope'), 401], [bearer(other.token), 403]] as const) {
        const r = await install(ext.id, { source: 'clock' }, headers);
        expect(r.statusCode).toBe(status);
        expect(r.json().hint).toBeUndefined();
      }
      // C185: its list is empty rather than an error.
      expect((await send('GET', `/workspaces/${ext.id}/plugins`)).json()).toEqual([]);
    });

    it('C182 C184 C185 an agent that is not running: install and uninstall 503, list [], compatibility empty; could-not-tell is a 503 of its own', async () => {
      const ws = await running('plug-stopped');
      fake.states.set('plug-stopped', { state: 'stopped' });
      try {
        const r = await install(ws.id, { source: 'clock' });
        expect(r.statusCode).toBe(503);
        expect(r.json().error).toBe('workspace container not running');
        expect((await send('DELETE', `/workspaces/${ws.id}/plugins/clock`)).json().error).toBe('workspace container not running');
        expect((await send('GET', `/workspaces/${ws.id}/plugins`)).json()).toEqual([]);
        expect((await send('GET', `/workspaces/${ws.id}/plugins/compatibility?runtime=hermes`)).json()).toEqual({ target_runtime: 'hermes', compatible: [], incompatible: [], all_compatible: true });
        fake.states.set('plug-stopped', { state: 'unknown', error: new Error('dial unix /var/run/docker.sock: connection refused') });
        const u = await install(ws.id, { source: 'clock' });
        expect(u.statusCode).toBe(503);
        expect(u.json().error).toBe('could not tell whether the workspace is running; retry shortly');
        expect(u.body).not.toContain('docker.sock');
        expect((await send('GET', `/workspaces/${ws.id}/plugins`)).json()).toEqual([]);
        expect(existsSync(pluginsOf(ws.id))).toBe(false);
      } finally {
        fake.states.delete('plug-stopped');
      }
    });

    it('C188 bad sources are refused with a clear 4xx naming the rule, and nothing is installed', async () => {
      const ws = await running('plug-bad');
      const cases: [unknown, number, RegExp][] = [
        [{}, 400, /'source' is required/],
        [{ source: '' }, 400, /'source' is required/],
        [{ source: 'clock', extra: 1 }, 400, /unrecognized key/i],
        [{ source: 'ftp://example.com/x' }, 400, /failed to resolve plugin source/],
        [{ source: 'local://../etc' }, 400, /invalid plugin name/],
        [{ source: '../etc' }, 400, /invalid plugin source/],
        [{ source: 'nope' }, 404, /plugin "nope" is not in the registry/],
        [{ source: 'broken' }, 422, /not a valid plugin manifest/],
        [{ source: 'misnamed' }, 422, /source resolved to plugin "other-name" but "misnamed" was asked for/],
        [{ source: 'hermes-only' }, 422, /does not support the molecule runtime/],
        [{ source: `file://${path.join(dataDir)}` }, 400, /must be under one of MOLECULE_PLUGIN_SOURCE_DIRS/],
        [{ source: `file://${path.join(sourceDir, 'mine', '..', '..')}` }, 400, /must be under one of MOLECULE_PLUGIN_SOURCE_DIRS/],
        [{ source: 'file:///no/such/dir' }, 404, /no plugin folder/],
        [{ source: 'github://owner/repo' }, 422, /unpinned git source/],
        [{ source: 'github://owner/repo#--upload-pack=touch' }, 400, /invalid git ref/],
        [{ source: 'github://../x#v1' }, 400, /github:\/\/<owner>\/<repo>#<ref>/],
        [{ source: 'git+https://user:pw@example.com/x.git#v1' }, 400, /without credentials/],
        [{ source: 'clock', sha256: 'abc' }, 400, /sha256 must be 64 hex characters/],
        [{ source: 'clock', sha256: 'a'.repeat(64) }, 422, /sha256 mismatch: expected a{64}, got [0-9a-f]{64}/],
        [`{"source": "${'x'.repeat(70_000)}"}`, 413, /larger than/],
      ];
      for (const [body, status, message] of cases) {
        const r = await install(ws.id, body);
        expect([r.statusCode, r.json().error], JSON.stringify(body).slice(0, 80)).toEqual([status, expect.stringMatching(message)]);
      }
      expect((await install(ws.id, { source: 'ftp://x/y' })).json().available_schemes).toEqual(['local', 'github', 'git+https', 'git+http', 'file']);
      expect(existsSync(pluginsOf(ws.id))).toBe(false);
      // The right digest installs.
      const digest = createHash('sha256').update(await readFile(path.join(registry, 'clock', 'plugin.yaml'))).digest('hex');
      expect((await install(ws.id, { source: 'clock', sha256: digest.toUpperCase() })).statusCode).toBe(200);
      // A file source under MOLECULE_PLUGIN_SOURCE_DIRS installs.
      expect((await install(ws.id, { source: `file://${path.join(sourceDir, 'mine')}` })).json()).toMatchObject({ plugin: 'mine', source: `file://${path.join(sourceDir, 'mine')}` });
    });

    it('a symlink inside a plugin folder is refused; nothing is installed', async () => {
      const ws = await running('plug-link');
      await mkdir(path.join(sourceDir, 'linky'));
      await writeFile(path.join(sourceDir, 'linky', 'plugin.yaml'), MANIFEST('linky'));
      await symlink('/etc/passwd', path.join(sourceDir, 'linky', 'passwd'));
      const r = await install(ws.id, { source: `file://${path.join(sourceDir, 'linky')}` });
      expect([r.statusCode, r.json().error]).toEqual([422, 'plugin file "passwd" is a symlink; plugins hold files and folders only']);
      expect(existsSync(pluginsOf(ws.id))).toBe(false);
    });

    it('installs a plugin sent as an archive; refuses archives with absolute, .. or link entries, too large, or without a manifest', async () => {
      const ws = await running('plug-archive');
      const ok = await installArchive(ws.id, await tarball([{ name: 'up/plugin.yaml', content: MANIFEST('up') }, { name: 'up/skills/a.md', content: '# a' }]));
      expect(ok.json()).toMatchObject({ status: 'installed', plugin: 'up', source: 'upload' });
      expect(await readFile(path.join(pluginsOf(ws.id), 'up', 'skills', 'a.md'), 'utf8')).toBe('# a');

      const bad: [Buffer, number, RegExp][] = [
        [await tarball([{ name: '/etc/plugin.yaml', content: MANIFEST('abs') }]), 400, /must be relative, not absolute/],
        [await tarball([{ name: 'x/../../plugin.yaml', content: MANIFEST('dots') }]), 400, /"\." or "\.\." segments/],
        [await tarball([{ name: 'plugin.yaml', content: MANIFEST('ln') }, { name: 'out', type: 'symlink', linkname: '/etc/passwd' }]), 400, /is a symlink/],
        [await tarball([{ name: 'README.md', content: 'no manifest' }]), 422, /no plugin.yaml at its top/],
        [await tarball([{ name: 'plugin.yaml', content: 'name: [' }]), 422, /does not parse as YAML/],
        [await tarball([{ name: 'plugin.yaml', content: MANIFEST('big') }, { name: 'big.bin', content: 'x'.repeat(4 * 1024 * 1024 + 1) }]), 413, /a plugin may hold at most/],
        [Buffer.from('not an archive at all'), 400, /not a readable tar file/],
      ];
      for (const [archive, status, message] of bad) {
        const r = await installArchive(ws.id, archive);
        expect([r.statusCode, r.json().error]).toEqual([status, expect.stringMatching(message)]);
      }
      expect((await installArchive(ws.id, Buffer.alloc(0))).statusCode).toBe(400);
      expect((await send('GET', `/workspaces/${ws.id}/plugins`)).json().map((p: { name: string }) => p.name)).toEqual(['up']);
    });

    it('lists a hand-made plugin folder with a broken manifest with its error; compatibility splits installed plugins by runtime (400 without one)', async () => {
      const ws = await running('plug-compat');
      expect((await install(ws.id, { source: 'clock' })).statusCode).toBe(200);
      await mkdir(path.join(pluginsOf(ws.id), 'handmade'), { recursive: true });
      await writeFile(path.join(pluginsOf(ws.id), 'handmade', 'plugin.yaml'), 'name: 12\n');
      await mkdir(path.join(pluginsOf(ws.id), 'empty'), { recursive: true });
      const listed = (await send('GET', `/workspaces/${ws.id}/plugins`)).json() as { name: string; error?: string }[];
      expect(listed.map((p) => [p.name, p.error])).toEqual([
        ['clock', undefined],
        ['empty', 'no plugin.yaml'],
        ['handmade', 'plugin.yaml is not a valid plugin manifest'],
      ]);
      const c = (await send('GET', `/workspaces/${ws.id}/plugins/compatibility?runtime=hermes`)).json();
      expect(c.target_runtime).toBe('hermes');
      expect(c.compatible.map((p: { name: string }) => p.name)).toEqual(['clock']);
      expect(c.incompatible.map((p: { name: string }) => p.name)).toEqual(['empty', 'handmade']);
      expect(c.all_compatible).toBe(false);
      expect((await send('GET', `/workspaces/${ws.id}/plugins/compatibility`)).json().error).toBe('runtime query parameter is required');
      expect(((await send('GET', `/workspaces/${ws.id}/plugins/available`)).json() as { name: string }[]).map((p) => p.name)).toEqual(['clock', 'team-ask']);
    });

    it('C186 downloads a plugin as a tar.gz without any container, for an external workspace too; refuses a source holding another plugin', async () => {
      const ext = await createExternal(t, { name: 'plug-dl' });
      const r = await t.app.inject({ method: 'GET', url: `/workspaces/${ext.id}/plugins/clock/download`, headers: bearer(ext.token) });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.headers).toMatchObject({ 'content-type': 'application/gzip', 'content-disposition': 'attachment; filename="clock.tar.gz"', 'x-plugin-name': 'clock', 'x-plugin-source': 'local://clock' });
      expect(Number(r.headers['content-length'])).toBe(r.rawPayload.length);
      const files = await untar(r.rawPayload);
      expect(Object.keys(files)).toEqual(['clock/plugin.yaml']);
      expect(files['clock/plugin.yaml']).toBe(await readFile(path.join(registry, 'clock', 'plugin.yaml'), 'utf8'));

      const mismatch = await send('GET', `/workspaces/${ext.id}/plugins/clock/download?source=local://team-ask`);
      expect([mismatch.statusCode, mismatch.json()]).toEqual([400, expect.objectContaining({ resolved_name: 'team-ask', requested_name: 'clock' })]);
      expect((await send('GET', `/workspaces/${ext.id}/plugins/..%2Fetc/download`)).statusCode).toBe(400);
      expect((await send('GET', `/workspaces/${ext.id}/plugins/nope/download`)).statusCode).toBe(404);
      const other = await createExternal(t, { name: 'plug-dl-2' });
      expect((await t.app.inject({ method: 'GET', url: `/workspaces/${ext.id}/plugins/clock/download`, headers: bearer(other.token) })).statusCode).toBe(403);
    });

    it('workspace routes answer 400 for a bad id, 404 for an unknown workspace and 410 for a removed one', async () => {
      expect((await send('GET', '/workspaces/not-a-uuid/plugins')).statusCode).toBe(400);
      expect((await install('00000000-0000-4000-8000-000000000000', { source: 'clock' })).statusCode).toBe(404);
      const ws = await running('plug-gone');
      expect((await send('DELETE', `/workspaces/${ws.id}?confirm=true`)).statusCode).toBeLessThan(300);
      for (const r of [await send('GET', `/workspaces/${ws.id}/plugins`), await install(ws.id, { source: 'clock' }), await send('GET', `/workspaces/${ws.id}/plugins/clock/download`)]) {
        expect(r.statusCode).toBe(410);
      }
    });

    it('C188 installs from a git repository pinned to a tag; a git host at a private address is refused under the production rules; a failed fetch says so without git\'s own text', async () => {
      const repoRoot = await mkdtemp(path.join(tmpdir(), 'plugin-git-'));
      const work = path.join(repoRoot, 'work');
      await mkdir(work);
      await writeFile(path.join(work, 'plugin.yaml'), MANIFEST('from-git'));
      await writeFile(path.join(work, 'README.md'), 'v1\n');
      const git = (...args: string[]) => execFileSync('git', args, { cwd: work, env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
      git('init', '-q', '-b', 'main');
      git('add', '.');
      git('commit', '-q', '-m', 'v1');
      git('tag', 'v1.0.0');
      await writeFile(path.join(work, 'README.md'), 'v2\n');
      git('commit', '-q', '-am', 'v2');
      execFileSync('git', ['clone', '-q', '--bare', work, path.join(repoRoot, 'repo.git')]);
      execFileSync('git', ['update-server-info'], { cwd: path.join(repoRoot, 'repo.git') });
      // Git's "dumb" HTTP protocol: the bare repository served as static files.
      const server = createServer((req, res) => {
        const file = path.join(repoRoot, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
        if (!file.startsWith(repoRoot)) return void res.writeHead(403).end();
        void stat(file)
          .then((s) => (s.isFile() ? createReadStream(file).pipe(res.writeHead(200)) : res.writeHead(404).end()))
          .catch(() => res.writeHead(404).end());
      });
      const port = await freePort();
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
      try {
        const ws = await running('plug-git');
        const source = `git+http://127.0.0.1:${port}/repo.git#v1.0.0`;
        const r = await install(ws.id, { source });
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json()).toMatchObject({ plugin: 'from-git', source });
        expect(await readFile(path.join(pluginsOf(ws.id), 'from-git', 'README.md'), 'utf8')).toBe('v1\n');
        expect(existsSync(path.join(pluginsOf(ws.id), 'from-git', '.git'))).toBe(false);

        const missingRef = await install(ws.id, { source: `git+http://127.0.0.1:${port}/repo.git#v9` });
        expect([missingRef.statusCode, missingRef.json().error]).toEqual([404, 'failed to fetch plugin from git: repository or ref not found']);
        const closed = await install(ws.id, { source: `git+http://127.0.0.1:${await freePort()}/repo.git#v1.0.0` });
        expect([closed.statusCode, closed.json().error]).toEqual([502, 'failed to fetch plugin from git']);
        expect(closed.body).not.toMatch(/fatal|ECONNREFUSED|unable to access|stderr/i);

        const strictWs = await onlineWorkspace(strict, 'plug-git-strict', { template: 'echo' });
        for (const src of [source, 'git+https://10.0.0.1/x.git#v1', 'git+https://169.254.169.254/x.git#v1']) {
          const refused = await sender(() => strict)('POST', `/workspaces/${strictWs.id}/plugins`, { source: src });
          expect([refused.statusCode, refused.json().error]).toEqual([400, 'the git URL points at an address the platform may not fetch from']);
        }
        expect(existsSync(pluginsOf(strictWs.id))).toBe(false);
      } finally {
        await new Promise((r) => server.close(r));
        await rm(repoRoot, { recursive: true, force: true });
      }
    });
  });
}
