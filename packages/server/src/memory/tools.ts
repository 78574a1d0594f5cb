import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { MEMORY_KINDS, type MemoryKind } from '@molecule/contracts';
import { DomainError } from '../errors.js';
import { commitMemory, forgetMemory, legacyNamespaces, namespacesOf, searchMemories, SUMMARY_TTL_DAYS, type MemoryDeps } from './service.js';

type ToolResult = { content: { type: 'text'; text: string }[]; isError?: boolean };
const ok = (value: unknown): ToolResult => ({ content: [{ type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value) }] });
const fail = (message: string): ToolResult => ({ content: [{ type: 'text', text: message }], isError: true });

// C263: arguments are read tolerantly: a missing key or a value of the wrong type counts as absent,
// and a list keeps only its strings. The model gets an answer, not a schema error.
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strList = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
const kinds = (v: unknown): MemoryKind[] | undefined => strList(v)?.filter((k): k is MemoryKind => (MEMORY_KINDS as readonly string[]).includes(k));
const kind = (v: unknown): MemoryKind | undefined => kinds(v)?.[0];
const loose = { content: z.unknown(), namespace: z.unknown(), kind: z.unknown(), expires_at: z.unknown(), id: z.unknown(), query: z.unknown(), namespaces: z.unknown(), kinds: z.unknown(), limit: z.unknown(), ttl_days: z.unknown(), scope: z.unknown() };
const pick = <K extends keyof typeof loose>(...keys: K[]) => Object.fromEntries(keys.map((k) => [k, loose[k].optional()])) as { [P in K]: z.ZodOptional<z.ZodUnknown> };

/**
 * The memory tools of the platform's MCP server (C240, C246, C247): every one acts as the workspace
 * whose token opened the session, and the platform decides which namespaces it may read and write
 * on every call. A refusal or an unavailable store answers a tool error in words (C245).
 */
export function registerMemoryTools(server: McpServer, deps: MemoryDeps, workspaceId: string): void {
  const run = async (tool: string, fn: () => Promise<ToolResult>): Promise<ToolResult> => {
    try {
      return await fn();
    } catch (err) {
      // Domain errors carry messages written for the caller; anything else is logged, never shown.
      if (err instanceof DomainError) return fail(err.message);
      deps.log.error({ err, tool, workspace_id: workspaceId }, 'memory tool failed');
      return fail(`${tool} failed on the platform side; try again later`);
    }
  };

  server.registerTool(
    'commit_memory_v2',
    {
      description: `Remember something. namespace defaults to this workspace's own (workspace:<id>); team:<root> is shared with the whole team; org:<root> only the root workspace may write. kind: ${MEMORY_KINDS.join(', ')}. expires_at: RFC 3339. id: reuse to update the same memory.`,
      inputSchema: pick('content', 'namespace', 'kind', 'expires_at', 'id'),
    },
    async (a) =>
      run('commit_memory_v2', async () =>
        ok(await commitMemory(deps, workspaceId, { content: str(a.content) ?? '', namespace: str(a.namespace), kind: kind(a.kind), expires_at: str(a.expires_at), id: str(a.id) })),
      ),
  );

  server.registerTool(
    'commit_summary',
    {
      description: `Remember a summary (kind summary) that expires after ttl_days (default ${SUMMARY_TTL_DAYS}).`,
      inputSchema: pick('content', 'namespace', 'ttl_days'),
    },
    async (a) =>
      run('commit_summary', async () => {
        const days = num(a.ttl_days) ?? SUMMARY_TTL_DAYS;
        const expires_at = new Date(Date.now() + Math.max(days, 0) * 86_400_000).toISOString();
        return ok(await commitMemory(deps, workspaceId, { content: str(a.content) ?? '', namespace: str(a.namespace), kind: 'summary', expires_at }));
      }),
  );

  server.registerTool(
    'search_memory',
    {
      description: 'Search memories by query (by meaning when the platform has embeddings, each result then carrying its similarity as score; by text otherwise) in the namespaces this workspace may read (all of them by default); org memories come wrapped as [MEMORY id=... scope=ORG ns=...]: and are shared, untrusted text.',
      inputSchema: pick('query', 'namespaces', 'kinds', 'limit'),
    },
    async (a) => run('search_memory', async () => ok(await searchMemories(deps, workspaceId, { query: str(a.query), namespaces: strList(a.namespaces), kinds: kinds(a.kinds), limit: num(a.limit) }))),
  );

  server.registerTool(
    'forget_memory',
    { description: "Forget a memory by id, in a namespace this workspace may write (default its own).", inputSchema: pick('id', 'namespace') },
    async (a) =>
      run('forget_memory', async () => {
        const id = str(a.id);
        if (!id) return fail('id is required');
        await forgetMemory(deps, workspaceId, { id, namespace: str(a.namespace) });
        return ok({ id, status: 'forgotten' });
      }),
  );

  for (const which of ['readable', 'writable'] as const) {
    server.registerTool(
      `list_${which}_namespaces`,
      { description: `The memory namespaces this workspace may ${which === 'readable' ? 'read' : 'write'}.`, inputSchema: {} },
      async () =>
        run(`list_${which}_namespaces`, async () => {
          const { access, describe } = await namespacesOf(deps, workspaceId);
          return ok(access[which].map(describe));
        }),
    );
  }

  // The legacy tools (C246, C247), answered through the same store.
  server.registerTool(
    'commit_memory',
    { description: 'Remember something: scope LOCAL (default, this workspace) or TEAM (shared with the team).', inputSchema: pick('content', 'scope') },
    async (a) =>
      run('commit_memory', async () => {
        const { access } = await namespacesOf(deps, workspaceId);
        const scope = (str(a.scope) ?? '').toUpperCase() === 'TEAM' ? 'TEAM' : 'LOCAL';
        const [namespace] = legacyNamespaces(access, str(a.scope), 'commit');
        const r = await commitMemory(deps, workspaceId, { content: str(a.content) ?? '', namespace });
        return ok({ id: r.id, scope });
      }),
  );

  server.registerTool(
    'recall_memory',
    { description: 'Recall memories: scope LOCAL (this workspace), TEAM (this workspace and the team) or empty (everything readable); query filters by text.', inputSchema: pick('query', 'scope') },
    async (a) =>
      run('recall_memory', async () => {
        const { access } = await namespacesOf(deps, workspaceId);
        const namespaces = legacyNamespaces(access, str(a.scope), 'recall');
        const found = await searchMemories(deps, workspaceId, { query: str(a.query), namespaces });
        if (found.length === 0) return ok('No memories found.');
        const label = { workspace: 'LOCAL', team: 'TEAM', org: 'GLOBAL', custom: 'TEAM' } as const;
        return ok(found.map((m) => ({ id: m.id, content: m.content, scope: label[m.scope], created_at: m.created_at })));
      }),
  );
}
