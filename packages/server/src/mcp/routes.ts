import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { FastifyRequest } from 'fastify';
import { ErrorBody } from '@molecule/contracts';
import { requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import type { App } from '../http/types.js';
import { IdParams } from '../workspaces/routes.js';
import { platformMcpServer, type ToolDeps } from './tools.js';

/** Tool calls allowed per credential per minute (one agent loop gone wrong must not flood the platform). */
export const MCP_CALLS_PER_MINUTE = 120;

/**
 * `POST /workspaces/:id/mcp`: the platform tools for that workspace's agent over MCP Streamable
 * HTTP, stateless (a fresh server and transport per request, JSON answers, no session id), so any
 * replica answers any call. The workspace's own token (or an admin credential) is required.
 */
export function registerMcpRoutes(app: App, deps: ToolDeps & AuthDeps): void {
  const access = requireWorkspaceAccess(deps);
  app.post(
    '/workspaces/:id/mcp',
    {
      preHandler: access,
      config: {
        access: 'workspace',
        rateLimit: {
          max: MCP_CALLS_PER_MINUTE,
          timeWindow: 60_000,
          keyGenerator: (req: FastifyRequest) => `mcp:${req.principal?.label ?? req.ip}`,
        },
      },
      schema: {
        summary: 'Platform tools for the workspace agent (MCP, streamable HTTP, stateless)',
        description: `Tools: list_peers, get_workspace_info, delegate_task, delegate_task_async, check_task_status, send_message_to_user, chat_history. ${MCP_CALLS_PER_MINUTE} calls per minute per credential.`,
        tags: ['mcp'],
        params: IdParams,
        response: { 401: ErrorBody, 403: ErrorBody, 429: ErrorBody },
      },
    },
    async (req, reply) => {
      const server = platformMcpServer(deps, req.params.id);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      reply.hijack();
      reply.raw.on('close', () => {
        void transport.close();
        void server.close();
      });
      try {
        await server.connect(transport);
        await transport.handleRequest(req.raw, reply.raw, req.body);
      } catch (err) {
        deps.log.error({ err, workspace_id: req.params.id }, 'MCP request failed');
        if (!reply.raw.headersSent) {
          reply.raw.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'internal error' } }));
        }
      }
    },
  );
  for (const method of ['GET', 'DELETE'] as const) {
    app.route({
      method,
      url: '/workspaces/:id/mcp',
      config: { access: 'workspace' },
      preHandler: access,
      schema: { hide: true, params: IdParams },
      handler: async (_req, reply) =>
        reply.code(405).header('allow', 'POST').send({ error: 'this MCP endpoint is stateless: POST JSON-RPC requests only', code: 'invalid_request' }),
    });
  }
}
