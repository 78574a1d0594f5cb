import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { zipSync, strToU8 } from 'fflate';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../test-support/api.js';
import { startTestApp, type TestApp } from '../test-support/harness.js';

const CONFIG = 'name: Imported\nruntime: molecule\nadapter: echo\n';

/** A tar archive of entries (files, or links/symlinks with a target). */
async function tarOf(entries: { name: string; content?: string; type?: 'file' | 'symlink' | 'link'; linkname?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type && e.type !== 'file') pack.entry({ name: e.name, type: e.type, linkname: e.linkname ?? 'config.yaml' });
    else pack.entry({ name: e.name }, e.content ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('POST /templates/import', () => {
  let t: TestApp;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-template-import-'));
    t = await startTestApp({ config: { templatesDir: dir } });
  });
  afterAll(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  const upload = (payload: Buffer | object, contentType: string, query = '') =>
    t.app.inject({ method: 'POST', url: `/templates/import${query}`, headers: { ...t.admin, 'content-type': contentType }, payload: payload as Buffer });
  const templates = async () => ((await t.app.inject({ method: 'GET', url: '/templates', headers: t.admin })).json() as { id: string }[]).map((x) => x.id);

  it('takes a folder sent as files, lists it at once, and a workspace can be made from it', async () => {
    const r = await upload({ name: 'from-files', files: { 'config.yaml': CONFIG, 'prompts/system.md': 'Be brief.' } }, 'application/json');
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toMatchObject({ name: 'from-files', files: 2, template: { id: 'from-files', name: 'Imported', runtime: 'molecule' } });
    expect(await readFile(path.join(dir, 'from-files', 'prompts', 'system.md'), 'utf8')).toBe('Be brief.');
    expect(await templates()).toContain('from-files');
    const ws = await t.app.inject({ method: 'POST', url: '/workspaces', headers: { ...t.admin, ...json }, payload: { name: 'from-import', template: 'from-files' } });
    expect(ws.statusCode, ws.body).toBe(201);
  });

  it('takes a zip (a single top folder is taken off) and a gzipped tar', async () => {
    const zip = Buffer.from(zipSync({ 'my-template/config.yaml': strToU8(CONFIG), 'my-template/skills/a.md': strToU8('skill') }));
    const z = await upload(zip, 'application/zip', '?name=zipped');
    expect(z.statusCode, z.body).toBe(201);
    expect(z.json()).toMatchObject({ name: 'zipped', files: 2 });
    expect((await readdir(path.join(dir, 'zipped'))).sort()).toEqual(['config.yaml', 'skills']);
    const tgz = gzipSync(await tarOf([{ name: './config.yaml', content: CONFIG }, { name: 'notes.txt', content: 'n' }]));
    const g = await upload(tgz, 'application/gzip', '?name=tarred');
    expect(g.statusCode, g.body).toBe(201);
    expect(g.json()).toMatchObject({ name: 'tarred', files: 2 });
  });

  it('refuses a taken name unless overwrite, then replaces the folder whole', async () => {
    const body = { name: 'twice', files: { 'config.yaml': CONFIG, 'old.txt': 'old' } };
    expect((await upload(body, 'application/json')).statusCode).toBe(201);
    const again = await upload({ ...body, files: { 'config.yaml': CONFIG } }, 'application/json');
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toBe('template "twice" exists; pass overwrite=true to replace it');
    expect(await readdir(path.join(dir, 'twice'))).toContain('old.txt');
    expect((await upload({ ...body, files: { 'config.yaml': CONFIG }, overwrite: true }, 'application/json')).statusCode).toBe(201);
    expect(await readdir(path.join(dir, 'twice'))).toEqual(['config.yaml']);
  });

  it('answers each unsafe or bad upload with a clear 4xx and writes nothing', async () => {
    const before = (await readdir(dir)).sort();
    const symlinkZip = Buffer.from(zipSync({ 'config.yaml': strToU8(CONFIG), 'link': [strToU8('/etc/passwd'), { os: 3, attrs: (0o120777 << 16) >>> 0 }] }));
    const cases: [Buffer | object, string, string, number, string | RegExp][] = [
      [{ name: 'x', files: { '../evil.txt': 'x', 'config.yaml': CONFIG } }, 'application/json', '', 400, 'file path "../evil.txt" must not contain "." or ".." segments'],
      [{ name: 'x', files: { '/etc/cron.d/x': 'x', 'config.yaml': CONFIG } }, 'application/json', '', 400, 'file path "/etc/cron.d/x" must be relative, not absolute'],
      [{ name: 'x', files: { 'a\\b': 'x', 'config.yaml': CONFIG } }, 'application/json', '', 400, /backslashes/],
      [Buffer.from(zipSync({ '../../evil': strToU8('x'), 'config.yaml': strToU8(CONFIG) })), 'application/zip', '?name=x', 400, /must not contain "\." or "\.\." segments/],
      [symlinkZip, 'application/zip', '?name=x', 400, 'archive entry "link" is a symlink; only files and folders are allowed'],
      [await tarOf([{ name: 'config.yaml', content: CONFIG }, { name: 'link', type: 'symlink', linkname: '/etc/passwd' }]), 'application/x-tar', '?name=x', 400, 'archive entry "link" is a symlink; only files and folders are allowed'],
      [await tarOf([{ name: 'config.yaml', content: CONFIG }, { name: 'hard', type: 'link' }]), 'application/x-tar', '?name=x', 400, /is a link/],
      [await tarOf([{ name: '/abs/config.yaml', content: CONFIG }]), 'application/x-tar', '?name=x', 400, /must be relative/],
      [{ name: 'x', files: { 'readme.md': 'no config' } }, 'application/json', '', 400, 'the template has no config.yaml at its top'],
      [{ name: 'x', files: { 'config.yaml': '- a list\n' } }, 'application/json', '', 400, 'config.yaml must be a YAML mapping'],
      [{ name: 'x', files: { 'config.yaml': 'name: [unclosed' } }, 'application/json', '', 400, 'config.yaml does not parse as YAML'],
      [{ name: 'x', files: { 'config.yaml': 'runtime: cobol\n' } }, 'application/json', '', 400, 'config.yaml names an unknown runtime: "cobol"'],
      [{ name: 'x', files: {} }, 'application/json', '', 400, 'the template has no files'],
      [{ name: '../up', files: { 'config.yaml': CONFIG } }, 'application/json', '', 400, /template name must be a folder name/],
      [{ name: '.hidden', files: { 'config.yaml': CONFIG } }, 'application/json', '', 400, /template name must be a folder name/],
      [{ files: { 'config.yaml': CONFIG } }, 'application/json', '', 400, /invalid template upload/],
      [Buffer.from(zipSync({ 'config.yaml': strToU8(CONFIG) })), 'application/zip', '', 400, 'name the template: ?name= for an archive, or "name" in the JSON body'],
      [Buffer.from('PK\x03\x04 this is not really a zip'), 'application/zip', '?name=x', 400, 'the archive is not a readable zip file'],
      [Buffer.from([0x1f, 0x8b, 1, 2, 3]), 'application/gzip', '?name=x', 400, /not a readable gzip file/],
      [Buffer.from(zipSync({ 'config.yaml': strToU8(CONFIG), 'bin.dat': new Uint8Array([0, 159, 146, 150]) })), 'application/zip', '?name=x', 400, 'file "bin.dat" is not UTF-8 text; templates hold text files only'],
      [{ name: 'x', files: { 'config.yaml': CONFIG, 'big.txt': 'x'.repeat(4 * 1024 * 1024) } }, 'application/json', '', 413, /at most 4194304 bytes/],
      [Buffer.alloc(0), 'application/zip', '?name=x', 400, /.+/],
    ];
    for (const [payload, type, query, status, message] of cases) {
      const r = await upload(payload, type, query);
      expect(r.statusCode, `${type} ${query} ${r.body}`).toBe(status);
      const err = (r.json() as { error: string }).error;
      if (typeof message === 'string') expect(err).toBe(message);
      else expect(err).toMatch(message);
    }
    const anon = await t.app.inject({ method: 'POST', url: '/templates/import', headers: json, payload: { name: 'x', files: { 'config.yaml': CONFIG } } });
    expect(anon.statusCode).toBe(401);
    expect((await readdir(dir)).sort()).toEqual(before);
  });
});
