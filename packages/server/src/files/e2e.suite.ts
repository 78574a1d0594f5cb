import { expect } from 'vitest';
import { request as httpRequest } from 'node:http';

/** The Files API over HTTP against a running platform, as the admin. */
export function filesClient(baseUrl: () => string, admin: Record<string, string>) {
  const url = (id: string, p = '') => `${baseUrl()}/workspaces/${id}/files${p}`;
  const auth = { authorization: admin.authorization! };
  return {
    tree: async (id: string, query: string) => {
      const r = await fetch(`${url(id)}?${query}`, { headers: auth });
      return { status: r.status, body: (await r.json()) as { entries: { path: string; type: string; size: number }[]; source: string; error?: string } };
    },
    read: async (id: string, p: string) => {
      const r = await fetch(url(id, p), { headers: auth });
      return { status: r.status, text: await r.text(), headers: r.headers };
    },
    write: async (id: string, p: string, body: string | Uint8Array) => {
      const r = await fetch(url(id, p), { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    },
    writeMany: async (id: string, files: Record<string, string>) => {
      const r = await fetch(url(id), { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ files }) });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    },
    remove: async (id: string, p: string) => {
      const r = await fetch(url(id, p), { method: 'DELETE', headers: auth });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    },
    /** A request whose path goes out as written (fetch would resolve `..` and `%2e%2e`). */
    raw: (method: string, id: string, p: string, body?: string) =>
      new Promise<number>((resolve, reject) => {
        const r = httpRequest(new URL(baseUrl()), { method, path: `/workspaces/${id}/files${p}`, headers: { ...auth, ...(body !== undefined ? { 'content-type': 'text/plain' } : {}) } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        r.on('error', reject);
        r.end(body);
      }),
  };
}

export type FilesClient = ReturnType<typeof filesClient>;

/**
 * What every backend with files must do for a running echo agent: list /configs and read its
 * config.yaml, write a file (parents created) and read it back, write several at once, and refuse
 * traversal with 400. Deleting is checked by each backend's own test.
 */
export async function filesRoundTrip(f: FilesClient, id: string, opts: { pluginsRoot?: boolean } = {}): Promise<void> {
  const configs = await f.tree(id, 'root=/configs');
  expect(configs.status).toBe(200);
  expect(configs.body.source).toBe('workspace');
  expect(configs.body.entries).toContainEqual(expect.objectContaining({ path: '/configs/config.yaml', type: 'file' }));
  const cfg = await f.read(id, '/configs/config.yaml');
  expect(cfg.status).toBe(200);
  expect(cfg.text).toContain('adapter: echo');

  expect((await f.write(id, '/workspace/notes/hello.txt', 'hello from the files API')).status).toBe(200);
  expect((await f.read(id, '/workspace/notes/hello.txt')).text).toBe('hello from the files API');
  const tree = await f.tree(id, 'root=/workspace&depth=2');
  expect(tree.body.entries).toContainEqual(expect.objectContaining({ path: '/workspace/notes', type: 'dir' }));
  expect(tree.body.entries).toContainEqual(expect.objectContaining({ path: '/workspace/notes/hello.txt', type: 'file', size: 24 }));
  expect((await f.tree(id, 'root=/workspace&path=notes')).body.entries.map((e) => e.path)).toEqual(['/workspace/notes/hello.txt']);

  expect((await f.writeMany(id, { '/configs/skills/a.md': '# A', '/configs/skills/b.md': '# B' })).status).toBe(200);
  expect((await f.read(id, '/configs/skills/b.md')).text).toBe('# B');
  // The agent's own config is untouched by writes beside it.
  expect((await f.read(id, '/configs/config.yaml')).text).toBe(cfg.text);
  if (opts.pluginsRoot === false) {
    // A backend whose agent serves /configs, /workspace and /home only: a clear 501 for /plugins.
    expect((await f.write(id, '/plugins/p/manifest.yaml', 'name: p\n')).status).toBe(501);
  } else {
    expect((await f.write(id, '/plugins/p/manifest.yaml', 'name: p\n')).status).toBe(200);
    expect((await f.read(id, '/plugins/p/manifest.yaml')).text).toBe('name: p\n');
  }

  for (const p of ['/configs/../../etc/passwd', '/configs/%2e%2e/%2e%2e/etc/passwd', '/configs//x', '/etc/passwd']) {
    expect(await f.raw('GET', id, p), p).toBe(400);
    expect(await f.raw('PUT', id, p, 'pwned'), p).toBe(400);
  }
  expect((await f.read(id, '/workspace/missing.txt')).status).toBe(404);
}
