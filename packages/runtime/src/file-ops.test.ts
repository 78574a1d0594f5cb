import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent } from './test-support/agent.js';

const SECRET = 'inbound-secret-0123456789';
const auth = { authorization: `Bearer ${SECRET}` };

let agents: TestAgent[] = [];
afterEach(async () => {
  await Promise.all(agents.map((a) => a.close({ graceMs: 0 })));
  agents = [];
});

async function agent() {
  const workspace = await mkdtemp(path.join(os.tmpdir(), 'molecule-fileops-'));
  const a = await startTestAgent({ env: { MOLECULE_WORKSPACE_DIR: workspace }, files: { '.platform_inbound_secret': SECRET } });
  agents.push(a);
  const call = async (method: 'GET' | 'POST', endpoint: string, body?: unknown, headers: Record<string, string> = auth) => {
    const r = await fetch(`${a.url}${endpoint}`, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> & { entries?: { path: string; type: string; size: number }[] } };
  };
  const write = (files: Record<string, string>) => call('POST', '/internal/files/write', { files: Object.entries(files).map(([p, c]) => ({ path: p, content_base64: Buffer.from(c).toString('base64') })) });
  return { a, workspace, call, write };
}

describe('file operations for the platform (control-plane Files API)', () => {
  it('C080 writes (parents created), lists by depth, and deletes a file or a dir in the platform\'s roots', async () => {
    const { a, workspace, call, write } = await agent();
    expect(await write({ '/workspace/notes/a.md': '# a', '/workspace/notes/deep/b.txt': 'b' })).toEqual({ status: 200, body: { written: 2 } });
    expect(await readFile(path.join(workspace, 'notes/deep/b.txt'), 'utf8')).toBe('b');
    const one = await call('GET', '/internal/files/list?path=/workspace/notes');
    expect(one.body.entries!.map((e) => [e.path, e.type, e.size])).toEqual([
      ['/workspace/notes/a.md', 'file', 3],
      ['/workspace/notes/deep', 'dir', 0],
    ]);
    expect((await call('GET', '/internal/files/list?path=/workspace&depth=3')).body.entries!.map((e) => e.path)).toEqual(['/workspace/notes', '/workspace/notes/a.md', '/workspace/notes/deep', '/workspace/notes/deep/b.txt']);
    expect((await call('GET', '/internal/files/list?path=/workspace&depth=3&limit=2')).body).toMatchObject({ truncated: true });
    expect((await call('POST', '/internal/files/delete?path=/workspace/notes/deep', {})).status).toBe(200);
    expect(existsSync(path.join(workspace, 'notes/deep'))).toBe(false);
    expect((await call('POST', '/internal/files/delete?path=/workspace/notes/deep', {})).status).toBe(404);
    // The configs root: the credential files are neither listed nor writable.
    const configs = (await call('GET', '/internal/files/list?path=/configs')).body.entries!.map((e) => e.path);
    expect(configs).toContain('/configs/config.yaml');
    expect(existsSync(path.join(a.dir, '.platform_inbound_secret'))).toBe(true);
    expect(configs).not.toContain('/configs/.platform_inbound_secret');
  });

  it('C080 refuses traversal, other roots, the roots themselves, credential files, symlinks and non-directories with 400 and writes nothing', async () => {
    const { a, workspace, call, write } = await agent();
    const outside = await mkdtemp(path.join(os.tmpdir(), 'molecule-outside-'));
    await symlink(outside, path.join(workspace, 'escape'));
    await writeFile(path.join(workspace, 'file.txt'), 'x');
    for (const p of ['/workspace/../etc/passwd', '/workspace//x', 'workspace/x', '/etc/passwd', '/plugins/x', '/workspace/escape/pwned', '/configs/.auth_token', '/configs/.platform_inbound_secret', '/workspace/x\u0000y', '/workspace']) {
      const r = await write({ [p]: 'pwned' });
      expect(r.status, p).toBe(400);
    }
    expect(existsSync(path.join(outside, 'pwned'))).toBe(false);
    expect((await call('GET', '/internal/files/list?path=/workspace/escape')).status).toBe(400);
    expect((await call('GET', '/internal/files/list?path=/workspace/file.txt')).status).toBe(400);
    expect((await call('GET', '/internal/files/list?path=/workspace/missing')).status).toBe(404);
    expect((await call('POST', '/internal/files/delete?path=/workspace', {})).status).toBe(400);
    expect((await call('POST', '/internal/files/delete?path=/configs/.platform_inbound_secret', {})).status).toBe(400);
    expect(existsSync(path.join(a.dir, '.platform_inbound_secret'))).toBe(true);
    // One bad path in a batch: nothing of the batch is written.
    expect((await write({ '/workspace/ok.txt': 'ok', '/etc/x': 'no' })).status).toBe(400);
    expect(existsSync(path.join(workspace, 'ok.txt'))).toBe(false);
    expect((await write({})).status).toBe(400);
    await mkdir(path.join(workspace, 'adir'));
    expect((await write({ '/workspace/adir': 'x' })).status).toBe(400);
  });

  it('C035 every file operation needs the inbound secret (401 otherwise)', async () => {
    const { call } = await agent();
    for (const headers of [{}, { authorization: 'Bearer wrong' }] as Record<string, string>[]) {
      expect((await call('GET', '/internal/files/list?path=/workspace', undefined, headers)).status).toBe(401);
      expect((await call('POST', '/internal/files/write', { files: [] }, headers)).status).toBe(401);
      expect((await call('POST', '/internal/files/delete?path=/workspace/x', {}, headers)).status).toBe(401);
    }
  });
});
