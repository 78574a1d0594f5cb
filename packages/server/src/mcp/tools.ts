import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { NotifyAttachment } from '@molecule/contracts';
import { notify, parseRfc3339, queryActivity, type ActivityRouteDeps } from '../activity/service.js';
import { delegate, getDelegation, type DelegationDeps, type DelegationRow } from '../a2a/delegation.js';
import { DomainError } from '../errors.js';
import { peers } from '../registry/service.js';
import { getWorkspace, liveChildren } from '../workspaces/read.js';
import type { MemoryDeps } from '../memory/service.js';
import { registerMemoryTools } from '../memory/tools.js';

type ToolResult = { content: { type: 'text'; text: string }[]; isError?: boolean; structuredContent?: Record<string, unknown> };

const ok = (value: unknown): ToolResult => ({ content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value) }] });
const fail = (message: string): ToolResult => ({ content: [{ type: 'text', text: message }], isError: true });

/**
 * Runs a tool body; a refusal the platform would answer over HTTP (4xx) becomes a tool error with
 * the same safe message, so the model can read why. Anything else is logged and answered with a
 * canned message, never internals.
 */
async function guarded(deps: Pick<ToolDeps, 'log'>, tool: string, workspaceId: string, fn: () => Promise<ToolResult>): Promise<ToolResult> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DomainError && err.callerFault) return fail(err.message);
    deps.log.error({ err, tool, workspace_id: workspaceId }, 'platform tool failed');
    return fail(`${tool} failed on the platform side; try again later`);
  }
}

function delegationResult(d: DelegationRow): Record<string, unknown> {
  return {
    task_id: d.id,
    status: d.status,
    target_id: d.target_id,
    ...(d.response_text !== null ? { result: d.response_text } : {}),
    ...(d.error !== null ? { error: d.error } : {}),
  };
}

/** What the tools touch: delegations (and the proxy under them), activity and the workspace rows. */
export type ToolDeps = DelegationDeps & ActivityRouteDeps & Pick<MemoryDeps, 'memory' | 'embedder' | 'metrics'>;

const uuid = (what: string) => z.uuid({ error: `${what} must be a workspace UUID` });

/**
 * An MCP server exposing the platform to one workspace's agent. Every tool acts as that workspace:
 * delegations pass the hierarchy rule, history and messages are its own.
 */
export function platformMcpServer(deps: ToolDeps, workspaceId: string): McpServer {
  const server = new McpServer({ name: 'molecule-platform', version: '0.1.0' });

  server.registerTool(
    'list_peers',
    {
      description: 'Workspaces this agent may talk to (parent, children, siblings), optionally filtered by a substring of name or role.',
      inputSchema: { q: z.string().max(200).optional() },
    },
    async ({ q }) => guarded(deps, 'list_peers', workspaceId, async () => ok(await peers(deps, workspaceId, q))),
  );

  server.registerTool(
    'get_workspace_info',
    { description: "This agent's own workspace: id, name, role, status, parent and children.", inputSchema: {} },
    async () =>
      guarded(deps, 'get_workspace_info', workspaceId, async () => {
        const ws = await getWorkspace(deps.db, workspaceId);
        if (!ws) return fail('workspace not found');
        const children = await liveChildren(deps.db, workspaceId);
        return ok({ id: ws.id, name: ws.name, role: ws.role, status: ws.status, tier: ws.tier, runtime: ws.runtime, parent_id: ws.parent_id, children });
      }),
  );

  server.registerTool(
    'delegate_task',
    {
      description: 'Give a task to another workspace and wait for its answer. If the target is busy the task is queued: check it later with check_task_status.',
      inputSchema: { workspace_id: uuid('workspace_id'), task: z.string().min(1).max(100_000) },
    },
    async ({ workspace_id, task }) =>
      guarded(deps, 'delegate_task', workspaceId, async () => {
        const { row } = await delegate(deps, workspaceId, { target_id: workspace_id, task }, { wait: true });
        if (row.status === 'failed') return fail(`delegation failed: ${row.error ?? 'unknown error'}`);
        if (row.status === 'canceled') return fail('delegation canceled: the target canceled the task');
        // The text is what a model reads (the answer itself); the structured result tells a program
        // unambiguously whether that is the answer or a delegation still under way.
        const result = row.status === 'completed' ? ok(row.response_text ?? '') : ok(delegationResult(row));
        return { ...result, structuredContent: delegationResult(row) };
      }),
  );

  server.registerTool(
    'delegate_task_async',
    {
      description: 'Give a task to another workspace without waiting. Returns a task_id for check_task_status.',
      inputSchema: { workspace_id: uuid('workspace_id'), task: z.string().min(1).max(100_000) },
    },
    async ({ workspace_id, task }) =>
      guarded(deps, 'delegate_task_async', workspaceId, async () => {
        const { row } = await delegate(deps, workspaceId, { target_id: workspace_id, task }, { wait: false });
        return ok({ task_id: row.id, status: 'dispatched', target_id: row.target_id });
      }),
  );

  server.registerTool(
    'check_task_status',
    { description: 'The state of a task this agent delegated: pending, dispatched, queued, completed (with result), failed (with error) or canceled.', inputSchema: { task_id: z.uuid({ error: 'task_id must be a UUID' }) } },
    async ({ task_id }) =>
      guarded(deps, 'check_task_status', workspaceId, async () => {
        const d = await getDelegation(deps, task_id);
        // Another workspace's delegation reads as unknown: ids cannot be probed.
        if (!d || d.source_id !== workspaceId) return ok({ task_id, status: 'not_found' });
        return ok(delegationResult(d));
      }),
  );

  server.registerTool(
    'send_message_to_user',
    {
      description: 'Show a message (and optional file attachments already uploaded to the workspace) to the user in the canvas chat.',
      inputSchema: { message: z.string().min(1).max(100_000), attachments: z.array(NotifyAttachment).max(20).optional() },
    },
    async ({ message, attachments }) =>
      guarded(deps, 'send_message_to_user', workspaceId, async () => {
        await notify(deps, workspaceId, { message, ...(attachments ? { attachments } : {}) });
        return ok('Message sent.');
      }),
  );

  server.registerTool(
    'chat_history',
    {
      description: 'Recent messages this agent exchanged, newest first; with peer_id only those with that workspace; before_ts (RFC 3339) pages back.',
      inputSchema: { peer_id: uuid('peer_id').optional(), limit: z.number().int().min(1).max(100).optional(), before_ts: z.string().max(64).optional() },
    },
    async ({ peer_id, limit, before_ts }) =>
      guarded(deps, 'chat_history', workspaceId, async () => {
        let beforeTs: string | undefined;
        if (before_ts !== undefined) {
          const parsed = parseRfc3339(before_ts);
          if (parsed === null) return fail('before_ts must be an RFC 3339 timestamp');
          beforeTs = parsed;
        }
        const rows = await queryActivity(deps, { workspaceId, limit: limit ?? 20, ...(peer_id ? { peerId: peer_id } : {}), ...(beforeTs ? { beforeTs } : {}) });
        const messages = rows
          .filter((r) => r.activity_type === 'a2a_send' || r.activity_type === 'a2a_receive')
          .map((r) => ({ id: r.id, direction: r.activity_type === 'a2a_send' ? 'sent' : 'received', peer_id: r.activity_type === 'a2a_send' ? r.target_id : r.source_id, method: r.method, summary: r.summary, status: r.status, created_at: r.created_at }));
        return ok(messages);
      }),
  );

  registerMemoryTools(server, deps, workspaceId);
  return server;
}
