import { z } from 'zod';
import { ErrorBody, MAX_MEMORY_CHARS, MEMORY_KINDS, type MemoryKind } from '@molecule/contracts';
import { requireAdmin, requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import { denied, invalid } from '../errors.js';
import type { App } from '../http/types.js';
import { requireLiveWorkspace } from '../workspaces/errors.js';
import { exportMemories, importMemories, LEGACY_SCOPES, SKIP_REASONS } from './admin.js';
import { orgNamespace, resolveNamespaces, teamNamespace, workspaceNamespace, type NamespaceAccess } from './namespaces.js';
import { commitMemory, forgetMemory, searchMemories, type MemoryDeps } from './service.js';

const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const LegacyScope = z.enum(['LOCAL', 'TEAM', 'GLOBAL'], { error: 'scope must be LOCAL, TEAM, or GLOBAL' });
const CommitBody = z.strictObject({
  content: z.string({ error: 'content is required' }).max(MAX_MEMORY_CHARS, { error: `content is longer than ${MAX_MEMORY_CHARS} characters` }),
  namespace: z.string().max(200).optional(),
  scope: LegacyScope.optional(),
  kind: z.enum(MEMORY_KINDS).optional(),
  expires_at: z.string().max(64).optional(),
  id: z.uuid().optional(),
});
const SearchQuery = z.object({
  q: z.string().max(1000).optional(),
  scope: LegacyScope.optional(),
  namespace: z.string().max(200).optional(),
  kinds: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
});
const MemoryItem = z.object({
  id: z.string(),
  namespace: z.string(),
  scope: z.string(),
  content: z.string(),
  kind: z.string(),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  similarity_score: z.number().optional(),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 410: ErrorBody, 501: ErrorBody, 503: ErrorBody };

/** The most entries one import takes, and its body cap. */
export const MAX_IMPORT_ENTRIES = 100_000;
const IMPORT_BODY_BYTES = 64 * 1024 * 1024;
const ExportEntry = z.object({
  id: z.string(),
  content: z.string(),
  scope: z.enum(LEGACY_SCOPES),
  namespace: z.string(),
  created_at: z.string(),
  workspace_name: z.string(),
  workspace_id: z.string(),
});
const ImportEntry = z.object({
  content: z.string({ error: 'each entry needs content' }).max(MAX_MEMORY_CHARS, { error: `content is longer than ${MAX_MEMORY_CHARS} characters` }),
  scope: z.string({ error: 'each entry needs a scope' }).max(32),
  namespace: z.string().max(200).optional(),
  created_at: z.string().max(64).optional(),
  workspace_name: z.string().max(256).optional(),
  workspace_id: z.string().max(64).optional(),
  // What an export adds (its id) is taken and ignored: the import derives its own.
  id: z.string().max(64).optional(),
});
const ImportResult = z.object({
  mode: z.enum(['apply', 'dry_run', 'verify']),
  total: z.number().int(),
  imported: z.number().int(),
  skipped: z.number().int(),
  errors: z.number().int(),
  skipped_by_reason: z.record(z.enum(SKIP_REASONS), z.number().int()),
  missing: z.array(z.number().int()).optional(),
});

/** The namespace a legacy scope names for this workspace (GLOBAL: the org's, root only). */
function scopeNamespace(access: NamespaceAccess, scope: 'LOCAL' | 'TEAM' | 'GLOBAL'): string {
  if (scope === 'LOCAL') return workspaceNamespace(access.workspaceId);
  if (scope === 'TEAM') return teamNamespace(access.rootId);
  if (!access.isRoot) throw denied('only root workspaces can write GLOBAL memories');
  return orgNamespace(access.rootId);
}

/** `GET/POST /workspaces/:id/memories`, `DELETE /workspaces/:id/memories/:memoryId` (#14): the workspace's memories through the plugin. */
export function registerMemoryRoutes(app: App, deps: MemoryDeps & AuthDeps): void {
  const wsAccess = requireWorkspaceAccess(deps);
  const admin = requireAdmin(deps);

  app.get(
    '/admin/memories/export',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: {
        summary: 'Export every memory',
        description:
          "Every live memory of every live workspace's namespaces (its own, its org's team and org), in upstream's export shape plus `workspace_id`, oldest first, secret-redacted. Team and org memories are attributed to the org's root. Namespaces the store could not read are left out and counted in the `x-molecule-export-incomplete` header; when the store answers nothing at all it is 503.",
        tags: ['memory'],
        response: { 200: z.array(ExportEntry), 401: ErrorBody, 403: ErrorBody, 501: ErrorBody, 503: ErrorBody },
      },
    },
    async (_req, reply) => {
      const r = await exportMemories(deps);
      if (r.incomplete > 0) void reply.header('x-molecule-export-incomplete', String(r.incomplete));
      return reply.header('content-disposition', 'attachment; filename="molecule-memories.json"').send(r.entries);
    },
  );

  app.post(
    '/admin/memories/import',
    {
      config: { access: 'admin' },
      onRequest: admin,
      bodyLimit: IMPORT_BODY_BYTES,
      schema: {
        summary: 'Import memories',
        description:
          "A JSON array in the export's shape (upstream's too): each entry goes to its workspace (`workspace_id`, else the first live workspace named `workspace_name`), LOCAL to its own namespace, TEAM to its team's, GLOBAL to its org's, redacted, keeping `created_at`. Re-importing an entry updates the same memory (skipped as `duplicate`), never a second copy. `mode=dry_run` counts what would be stored and writes nothing; `mode=verify` checks every entry is in the store (`missing` lists the positions of those that are not) and writes nothing.",
        tags: ['memory'],
        querystring: z.object({ mode: z.enum(['apply', 'dry_run', 'verify'], { error: 'mode must be apply, dry_run or verify' }).default('apply') }),
        body: z.array(ImportEntry, { error: 'the body must be a JSON array of memories' }).max(MAX_IMPORT_ENTRIES, { error: `at most ${MAX_IMPORT_ENTRIES} memories per import` }),
        response: { 200: ImportResult, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody, 501: ErrorBody, 503: ErrorBody },
      },
    },
    async (req) => importMemories(deps, req.body, req.query.mode),
  );

  app.post(
    '/workspaces/:id/memories',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Store a memory',
        description:
          'Into `namespace` (default `workspace:<id>`; `team:<root>`; `org:<root>` for the root only) or a legacy `scope` (LOCAL, TEAM, GLOBAL). The content is secret-redacted before it is stored; org writes are audited with the content hash. 201 `{id, namespace}`.',
        tags: ['memory'],
        params: IdParams,
        body: CommitBody,
        response: { 201: z.object({ id: z.string(), namespace: z.string(), scope: z.string().optional() }), ...errors, 413: ErrorBody },
      },
    },
    async (req, reply) => {
      await requireLiveWorkspace(deps.db, req.params.id);
      const b = req.body;
      if (b.scope && b.namespace) throw invalid('give namespace or scope, not both');
      const namespace = b.scope ? scopeNamespace(await resolveNamespaces(deps.db, req.params.id), b.scope) : b.namespace;
      const r = await commitMemory(deps, req.params.id, { content: b.content, namespace, kind: b.kind, expires_at: b.expires_at, id: b.id });
      return reply.code(201).send({ ...r, ...(b.scope ? { scope: b.scope } : {}) });
    },
  );

  app.get(
    '/workspaces/:id/memories',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Search memories',
        description:
          'What the workspace may read (its own, its team\'s, its org\'s), narrowed by `namespace` or a legacy `scope`; `q` searches text (full text for 2+ characters), `kinds` is comma-separated. With embeddings configured (MEMORY_EMBEDDINGS_URL) and a store that ranks by them, `q` is embedded and results come by meaning first, `similarity_score` being the cosine similarity; memories without a vector follow, found by text, unscored. Org memories come wrapped in the `[MEMORY id=... scope=ORG ns=...]:` delimiter.',
        tags: ['memory'],
        params: IdParams,
        querystring: SearchQuery,
        response: { 200: z.array(MemoryItem), ...errors },
      },
    },
    async (req) => {
      await requireLiveWorkspace(deps.db, req.params.id);
      const q = req.query;
      let namespaces: string[] | undefined;
      if (q.namespace) namespaces = [q.namespace];
      else if (q.scope) {
        const access = await resolveNamespaces(deps.db, req.params.id);
        namespaces = [q.scope === 'GLOBAL' ? orgNamespace(access.rootId) : q.scope === 'TEAM' ? teamNamespace(access.rootId) : workspaceNamespace(access.workspaceId)];
      }
      const kinds = q.kinds?.split(',').map((k) => k.trim()).filter(Boolean);
      const bad = kinds?.find((k) => !(MEMORY_KINDS as readonly string[]).includes(k));
      if (bad) throw invalid(`unknown kind "${bad.slice(0, 40)}": one of ${MEMORY_KINDS.join(', ')}`);
      const found = await searchMemories(deps, req.params.id, { query: q.q, namespaces, kinds: kinds as MemoryKind[] | undefined, limit: q.limit });
      return found.map((m) => ({ id: m.id, namespace: m.namespace, scope: m.scope, content: m.content, kind: m.kind, created_at: m.created_at, expires_at: m.expires_at, ...(m.score !== undefined ? { similarity_score: m.score } : {}) }));
    },
  );

  app.delete(
    '/workspaces/:id/memories/:memoryId',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Forget a memory',
        description: 'In `namespace` (default `workspace:<id>`), which the workspace must be allowed to write. 404 when it is not there.',
        tags: ['memory'],
        params: IdParams.extend({ memoryId: z.uuid({ error: 'invalid memory ID' }) }),
        querystring: z.object({ namespace: z.string().max(200).optional() }),
        response: { 200: z.object({ status: z.literal('deleted') }), ...errors },
      },
    },
    async (req) => {
      await requireLiveWorkspace(deps.db, req.params.id);
      await forgetMemory(deps, req.params.id, { id: req.params.memoryId, namespace: req.query.namespace });
      return { status: 'deleted' as const };
    },
  );
}
