import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

export interface McpHttpRequest {
  path: string;
  headers: IncomingHttpHeaders;
  /** The JSON-RPC method (`initialize`, `tools/call`...), or the HTTP method for a bodiless request. */
  method: string;
  /** `params.name` of a `tools/call`. */
  tool?: string;
}

/**
 * A stand-in for the platform's tool endpoint speaking real MCP (the official SDK's McpServer over
 * stateless Streamable HTTP, JSON answers, as `POST /workspaces/:id/mcp` does). `setup` registers
 * the tools on each request's fresh server; `token` (when set) is the only bearer accepted.
 */
export async function startFakeMcp(opts: { setup: (server: McpServer) => void; token?: string; port?: number }) {
  const requests: McpHttpRequest[] = [];
  let token = opts.token;
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += String(c)));
    req.on('end', () => {
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = undefined;
      }
      const rpc = body as { method?: string; params?: { name?: string } } | undefined;
      requests.push({ path: req.url ?? '', headers: req.headers, method: rpc?.method ?? req.method ?? '', ...(rpc?.params?.name ? { tool: rpc.params.name } : {}) });
      if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid workspace token' }));
        return;
      }
      if (req.method !== 'POST') {
        res.writeHead(405, { allow: 'POST' }).end();
        return;
      }
      const mcp = new McpServer({ name: 'fake-platform', version: '0.0.0' });
      opts.setup(mcp);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void transport.close();
        void mcp.close();
      });
      void mcp.connect(transport).then(() => transport.handleRequest(req, res, body));
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    /** Tool calls received, by tool name. */
    calls: () => requests.filter((r) => r.method === 'tools/call').map((r) => r.tool),
    setToken(t: string | undefined) {
      token = t;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type FakeMcp = Awaited<ReturnType<typeof startFakeMcp>>;
