import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryWrite, NamespaceUpsert, SearchRequest, type Memory } from '@molecule/contracts';

/**
 * A memory plugin speaking memory-plugin-v1 over real HTTP, in memory, for the platform's tests:
 * it records what it was sent (to prove what the platform sends, and when it does not call), and
 * can be told to fail (5xx, garbage, hang) to drive the client's breaker. Text search is a
 * substring match; the real store (packages/memory-postgres) has its own suite. `capabilities`
 * replaces what its health lists; `refuseEmbeddings` answers 400 to any write or search carrying an
 * embedding (a store with a dimension limit of its own).
 */
export async function startFakeMemoryPlugin(opts: { port?: number; capabilities?: string[]; refuseEmbeddings?: boolean } = {}) {
  const namespaces = new Map<string, { kind: string }>();
  const memories = new Map<string, Memory>();
  const requests: { method: string; path: string; body: unknown }[] = [];
  let fault: 'none' | '500' | 'garbage' | 'hang' = 'none';
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += String(c)));
    req.on('end', () => {
      const body = raw ? (JSON.parse(raw) as unknown) : undefined;
      const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
      requests.push({ method: req.method!, path, body });
      const send = (status: number, value?: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(value === undefined ? '' : JSON.stringify(value));
      if (fault === 'hang') return;
      if (fault === '500') return send(500, { error: 'store down' });
      if (fault === 'garbage') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy error</html>');
      const now = new Date().toISOString();
      if (path === '/v1/health' && req.method === 'GET') return send(200, { status: 'ok', contract: 'memory-plugin-v1', version: 'fake', capabilities: opts.capabilities ?? ['fts', 'ttl', 'kinds'] });
      if (opts.refuseEmbeddings && typeof body === 'object' && body !== null && 'embedding' in body) return send(400, { error: 'embedding: this store takes 8 numbers at most' });
      if (path === '/v1/search' && req.method === 'POST') {
        const s = SearchRequest.safeParse(body);
        if (!s.success) return send(400, { error: s.error.issues[0]!.message });
        const q = s.data.query?.toLowerCase();
        const found = [...memories.values()]
          .filter((m) => s.data.namespaces.includes(m.namespace) && (!q || m.content.toLowerCase().includes(q)) && (!s.data.kinds || s.data.kinds.includes(m.kind)))
          .filter((m) => m.expires_at === null || m.expires_at > now)
          .reverse()
          .slice(0, s.data.limit);
        return send(200, { memories: found, mode: q ? (q.length >= 2 ? 'fulltext' : 'substring') : 'recent' });
      }
      const m = /^\/v1\/namespaces\/([^/]+)(?:\/memories(?:\/([^/]+))?)?$/.exec(path);
      if (!m) return send(404, { error: 'not found' });
      const [, ns, sub] = m as unknown as [string, string, string | undefined];
      const memoriesPath = path.endsWith('/memories') || sub !== undefined;
      if (!memoriesPath && req.method === 'PUT') {
        const u = NamespaceUpsert.safeParse(body);
        if (!u.success) return send(400, { error: u.error.issues[0]!.message });
        namespaces.set(ns, { kind: u.data.kind });
        return send(200, { name: ns, kind: u.data.kind, expires_at: null, metadata: {}, created_at: now, updated_at: now });
      }
      if (!memoriesPath && req.method === 'DELETE') {
        if (!namespaces.delete(ns)) return send(404, { error: 'namespace not found' });
        for (const [id, mem] of memories) if (mem.namespace === ns) memories.delete(id);
        return send(204);
      }
      if (memoriesPath && sub === undefined && req.method === 'POST') {
        if (!namespaces.has(ns)) return send(404, { error: 'namespace not found' });
        const w = MemoryWrite.safeParse(body);
        if (!w.success) return send(400, { error: w.error.issues[0]!.message });
        const id = w.data.id ?? randomUUID();
        const existed = memories.has(id);
        const mem: Memory = { id, namespace: ns, content: w.data.content, kind: w.data.kind, source: w.data.source, metadata: w.data.metadata ?? {}, expires_at: w.data.expires_at ?? null, created_at: now, updated_at: now };
        memories.set(id, mem);
        return send(existed ? 200 : 201, mem);
      }
      if (sub !== undefined && req.method === 'DELETE') {
        const mem = memories.get(sub);
        if (!mem || mem.namespace !== ns) return send(404, { error: 'memory not found' });
        memories.delete(sub);
        return send(204);
      }
      return send(405, { error: 'method not allowed' });
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    namespaces,
    memories,
    requests,
    setFault(f: typeof fault) {
      fault = f;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type FakeMemoryPlugin = Awaited<ReturnType<typeof startFakeMemoryPlugin>>;
