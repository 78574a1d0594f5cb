import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RunningServer } from '../main.js';
import { ProcessBackend } from '../provisioning/process/backend.js';
import { e2eClient, startE2eServer } from '../test-support/e2e.js';
import { filesClient, filesRoundTrip } from './e2e.suite.js';

// The Files API on the process backend with a real molecule-agent (packages/runtime/dist).
describe('files API on the process backend, end to end', () => {
  let server: RunningServer;
  const c = e2eClient(() => server);
  const f = filesClient(() => server.url, c.admin);

  beforeAll(async () => {
    ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'process' }));
  });
  afterAll(async () => server?.close());

  it('lists, reads, writes, deletes a running echo agent’s files, refuses a symlink out of the workspace, and keeps working with the agent stopped', async () => {
    const id = await c.create('files-process', 'echo');
    await c.waitOnline(id, 30_000);
    await filesRoundTrip(f, id);

    expect((await f.remove(id, '/workspace/notes/hello.txt')).status).toBe(200);
    expect((await f.read(id, '/workspace/notes/hello.txt')).status).toBe(404);

    const backend = server.deps.provisioner;
    expect(backend).toBeInstanceOf(ProcessBackend);
    const dir = (backend as ProcessBackend).dirOf(id);
    // A file the agent wrote itself shows up.
    await writeFile(path.join(dir, 'workspace/report.md'), 'agent output');
    expect((await f.read(id, '/workspace/report.md')).text).toBe('agent output');

    // The agent's credentials are in its configs dir but never listed, read, written or deleted here.
    const tree = await f.tree(id, 'root=/configs&depth=1');
    expect(tree.body.entries.map((e) => e.path)).not.toEqual(expect.arrayContaining(['/configs/.auth_token']));
    expect(tree.body.entries.some((e) => /\.auth_token|\.platform_inbound_secret/.test(e.path))).toBe(false);
    const token = await readFile(path.join(dir, 'configs/.auth_token'), 'utf8');
    for (const p of ['/configs/.auth_token', '/configs/.platform_inbound_secret']) {
      const r = await f.read(id, p);
      expect(r.status).toBe(400);
      expect(r.text).not.toContain(token);
      expect((await f.write(id, p, 'stolen')).status).toBe(400);
      expect((await f.remove(id, p)).status).toBe(400);
    }
    expect((await f.writeMany(id, { '/configs/ok.txt': 'x', '/configs/.auth_token': 'stolen' })).status).toBe(400);
    expect(await readFile(path.join(dir, 'configs/.auth_token'), 'utf8')).toBe(token);
    expect(existsSync(path.join(dir, 'configs/ok.txt'))).toBe(false);

    // C080: a symlink inside the workspace that points out of it is refused, nothing goes through it.
    const outside = await mkdtemp(path.join(tmpdir(), 'files-outside-'));
    await writeFile(path.join(outside, 'secret.txt'), 'not yours');
    await symlink(outside, path.join(dir, 'configs/escape'));
    expect((await f.read(id, '/configs/escape/secret.txt')).status).toBe(400);
    const w = await f.write(id, '/configs/escape/pwned.txt', 'pwned');
    expect(w.status).toBe(400);
    expect(w.body.error).toMatch(/leads outside \/configs/);
    expect(existsSync(path.join(outside, 'pwned.txt'))).toBe(false);
    expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('not yours');

    // Stopped (paused): the process backend still reaches the workspace's own dirs, edits included.
    const paused = await fetch(`${server.url}/workspaces/${id}/pause`, { method: 'POST', headers: c.admin });
    expect(paused.status).toBe(200);
    await expect.poll(async () => (await c.get(id)).status, { timeout: 30_000 }).toBe('paused');
    expect((await f.read(id, '/configs/skills/a.md')).text).toBe('# A');
    expect((await f.write(id, '/configs/skills/c.md', '# C')).status).toBe(200);
    expect(await readFile(path.join(dir, 'configs/skills/c.md'), 'utf8')).toBe('# C');
  }, 120_000);
});
