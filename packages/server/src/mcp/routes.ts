import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ErrorBody } from '@molecule/contracts';
import { requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import type { Config } from '../config.js';
import { asHttpError } from '../http/errors.js';
import type { App } from '../http/types.js';
import { IdParams } from '../workspaces/routes.js';
import { platformMcpServer, type ToolDeps } from './tools.js';

/** Tool calls allowed per credential per minute (one agent loop gone wrong must not flood the platform). */
export const MCP_CALLS_PER_MINUTE = 120;

/** A JSON-RPC error answered before the MCP server sees the request (an unsupported pinned protocol revision). */
const RpcErrorBody = z.object({
  jsonrpc: z.literal('2.0'),
  id: z.null(),
  error: z.object({ code: z.number().int(), message: z.string(), data: z.object({ supported: z.array(z.string()), requested: z.string() }) }),
});

/** Where the protected-resource metadata (RFC 9728) of a workspace's MCP endpoint lives, under the platform's base URL. */
export const RESOURCE_METADATA_PREFIX = '/.well-known/oauth-protected-resource';

/** The platform's public base URL: EXTERNAL_PLATFORM_URL, else the one the request came in on. */
function baseUrl(config: Pick<Config, 'externalPlatformUrl'>, req: FastifyRequest): string {
  return (config.externalPlatformUrl ?? `${req.protocol}://${req.host}`).replace(/\/+$/, '');
}

/**
 * The MCP protocol revision a client pinned (its `MCP-Protocol-Version` header), when this server
 * does not speak it; undefined when it sent none or one we speak. Without a pin, `initialize`
 * negotiates as the MCP lifecycle says (the answer names the newest revision we speak).
 */
export function unsupportedPin(header: string | string[] | undefined): string | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  return v !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(v) ? v : undefined;
}

/**
 * `POST /workspaces/:id/mcp`: the platform tools for that workspace's agent over MCP Streamable
 * HTTP, stateless (a fresh server and transport per request, JSON answers, no session id), so any
 * replica answers any call. The workspace's own token (or an admin credential) is required.
 */
export function registerMcpRoutes(app: App, deps: ToolDeps & AuthDeps & { config: Pick<Config, 'externalPlatformUrl'> }): void {
  const workspaceAccess = requireWorkspaceAccess(deps);
  // A refused bearer says where the resource's metadata is (MCP authorization, RFC 9728 section 5.1),
  // so MCP hosts report an authentication failure rather than guess at an OAuth flow.
  const access = async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      await workspaceAccess(req, reply);
    } catch (err) {
      if (asHttpError(err)?.statusCode === 401) {
        const id = (req.params as { id: string }).id;
        reply.header('www-authenticate', `Bearer resource_metadata="${baseUrl(deps.config, req)}${RESOURCE_METADATA_PREFIX}/workspaces/${id}/mcp"`);
      }
      throw err;
    }
  };
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
        response: { 400: z.union([ErrorBody, RpcErrorBody]), 401: ErrorBody, 403: ErrorBody, 429: ErrorBody },
      },
    },
    async (req, reply) => {
      const pinned = unsupportedPin(req.headers['mcp-protocol-version']);
      if (pinned !== undefined) {
        const message = `unsupported MCP protocol version ${pinned}: this server speaks ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`;
        return reply.code(400).send({ jsonrpc: '2.0', id: null, error: { code: -32602, message, data: { supported: SUPPORTED_PROTOCOL_VERSIONS, requested: pinned } } });
      }
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
  app.get(
    `${RESOURCE_METADATA_PREFIX}/workspaces/:id/mcp`,
    {
      config: { access: 'open' },
      schema: {
        summary: "Protected-resource metadata of a workspace's MCP endpoint (RFC 9728)",
        description:
          "What a 401 from `POST /workspaces/:id/mcp` points at (`WWW-Authenticate: Bearer resource_metadata=...`): the resource and how to present its credential (a bearer header). No authorization server is listed: workspace tokens are minted by the platform (`POST /workspaces/:id/tokens`), not through OAuth.",
        tags: ['mcp'],
        params: IdParams,
        response: { 200: z.object({ resource: z.string(), resource_name: z.string(), bearer_methods_supported: z.array(z.string()), resource_documentation: z.string() }), 400: ErrorBody },
      },
    },
    async (req) => {
      const base = baseUrl(deps.config, req);
      return {
        resource: `${base}/workspaces/${req.params.id}/mcp`,
        resource_name: 'Molecule platform tools',
        bearer_methods_supported: ['header'],
        resource_documentation: `${base}/openapi.json`,
      };
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
