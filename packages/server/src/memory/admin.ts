import { createHash } from 'node:crypto';
import { MAX_SEARCH_LIMIT, namespaceKind, Rfc3339, type Memory } from '@molecule/contracts';
import { workspacesWithRoots } from '../hierarchy/access.js';
import { DomainError } from '../errors.js';
import { MemoryPluginError, type MemoryPluginClient } from './client.js';
import { orgNamespace, teamNamespace, workspaceNamespace } from './namespaces.js';
import { redactSecrets } from './redact.js';
import { client, defuse, embeddingFor, storeMemory, type MemoryDeps } from './service.js';

/** The legacy scopes an export names and an import takes (upstream's agent_memories). */
export const LEGACY_SCOPES = ['LOCAL', 'TEAM', 'GLOBAL'] as const;
export type LegacyScope = (typeof LEGACY_SCOPES)[number];

/** One memory in upstream's export shape, plus the owner's id (names are not unique). */
export interface ExportEntry {
  id: string;
  content: string;
  scope: LegacyScope;
  namespace: string;
  created_at: string;
  workspace_name: string;
  workspace_id: string;
}

/** Namespaces per plugin search (the contract's cap is 1000). */
const NAMESPACES_PER_SEARCH = 1000;
/** The first id of an `after_id` listing. */
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

const legacyScope = (namespace: string): LegacyScope | undefined =>
  ({ workspace: 'LOCAL', team: 'TEAM', org: 'GLOBAL' } as const)[namespaceKind(namespace) as 'workspace' | 'team' | 'org'];

/**
 * Every live memory of `namespaces`: paged in id order when the plugin lists (`list`), otherwise
 * the newest page it returns (a plugin without `list` cannot be read in full; `complete` says so).
 */
async function readAll(memory: MemoryPluginClient, namespaces: string[]): Promise<{ memories: Memory[]; complete: boolean }> {
  if (!(await memory.can('list'))) {
    const r = await memory.search({ namespaces, limit: MAX_SEARCH_LIMIT });
    return { memories: r.memories, complete: r.memories.length < MAX_SEARCH_LIMIT };
  }
  const out: Memory[] = [];
  let after = NIL_UUID;
  for (;;) {
    const page = (await memory.search({ namespaces, after_id: after, limit: MAX_SEARCH_LIMIT })).memories;
    out.push(...page);
    if (page.length < MAX_SEARCH_LIMIT) return { memories: out, complete: true };
    after = page[page.length - 1]!.id;
  }
}

export interface ExportResult {
  entries: ExportEntry[];
  /** Namespaces whose memories could not be read (the store failed for their batch, or it cannot list them all). */
  incomplete: number;
}

/**
 * `GET /admin/memories/export` (C250-C252): one SQL pass loads the live workspaces with their roots;
 * each org's namespaces come from its root once (`team:<root>`, `org:<root>`, and every member's
 * `workspace:<id>`); the plugin is searched over the union (in batches of 1000 namespaces, paged),
 * results deduplicated by id, redacted again, oldest first. Owners (C251): a workspace namespace is
 * its member's, team and org namespaces the org's first member's (its root). A batch the store fails
 * is logged and skipped (C252) and counted in `incomplete`; only a failed workspace query fails the
 * export, and when the store answers no batch at all it is 503 rather than an empty export.
 */
export async function exportMemories(deps: MemoryDeps): Promise<ExportResult> {
  const memory = client(deps);
  const rows = await workspacesWithRoots(deps.db);
  const owner = new Map<string, { id: string; name: string }>();
  for (const r of rows) {
    owner.set(workspaceNamespace(r.id), r);
    // Roots come first in each org: the first member seen owns its team and org namespaces.
    if (!owner.has(teamNamespace(r.root_id))) {
      owner.set(teamNamespace(r.root_id), r);
      owner.set(orgNamespace(r.root_id), r);
    }
  }
  const namespaces = [...owner.keys()];
  const seen = new Map<string, Memory>();
  let incomplete = 0;
  let answered = 0;
  let failure: MemoryPluginError | undefined;
  for (let i = 0; i < namespaces.length; i += NAMESPACES_PER_SEARCH) {
    const batch = namespaces.slice(i, i + NAMESPACES_PER_SEARCH);
    try {
      const r = await readAll(memory, batch);
      answered++;
      if (!r.complete) incomplete += batch.length;
      for (const m of r.memories) seen.set(m.id, m);
    } catch (err) {
      if (!(err instanceof MemoryPluginError)) throw err;
      incomplete += batch.length;
      failure = err;
      deps.log.warn({ reason: err.message, namespaces: batch.length }, 'memory export: a batch of namespaces could not be read; the export goes on without it');
    }
  }
  if (failure && answered === 0) throw new DomainError('agent_unavailable', failure.message);
  const entries: ExportEntry[] = [];
  for (const m of seen.values()) {
    const scope = legacyScope(m.namespace);
    const who = owner.get(m.namespace);
    if (!scope || !who) continue;
    entries.push({ id: m.id, content: redactSecrets(m.content).text, scope, namespace: m.namespace, created_at: m.created_at, workspace_name: who.name, workspace_id: who.id });
  }
  entries.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  return { entries, incomplete };
}

/** One entry of an import body: upstream's export shape (our `workspace_id` when present wins over the name). */
export interface ImportEntry {
  content: string;
  scope: string;
  namespace?: string | undefined;
  created_at?: string | undefined;
  workspace_name?: string | undefined;
  workspace_id?: string | undefined;
}

export type ImportMode = 'apply' | 'dry_run' | 'verify';
export const SKIP_REASONS = ['unknown_workspace', 'unknown_scope', 'empty_content', 'bad_created_at', 'duplicate'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export interface ImportResult {
  mode: ImportMode;
  total: number;
  /** apply: stored now; dry_run: would be stored; verify: found in the store. */
  imported: number;
  skipped: number;
  errors: number;
  skipped_by_reason: Record<SkipReason, number>;
  /** verify: entries the store does not hold (their positions in the body, at most 100). */
  missing?: number[];
}

/**
 * The id an imported memory gets: derived from where it goes and what it says, so importing the
 * same entry twice updates one memory instead of making two (upstream skipped identical rows; here
 * a rerun is idempotent through the plugin's id-keyed upsert, C233).
 */
export function importId(namespace: string, content: string): string {
  const h = createHash('sha256').update(namespace).update('\0').update(content).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * `POST /admin/memories/import` (C253; C255-C257 for the modes): each entry's workspace is found by
 * `workspace_id`, else by name (the first live match); its legacy scope becomes a namespace the way
 * the tools' shim maps it (LOCAL -> `workspace:<id>`, TEAM -> `team:<root>`, GLOBAL -> `org:<root>`);
 * the content is redacted before the plugin sees it; the namespace is upserted and the memory
 * committed with an id derived from namespace and content (`importId`) and its original date. An
 * unknown workspace or scope, blank content or a bad date is skipped and counted by reason; a
 * plugin failure is counted as an error and the import goes on. `dry_run` resolves and counts and
 * never calls the plugin; `verify` checks every entry is in the store (the plugin may hold more) and
 * writes nothing.
 */
export async function importMemories(deps: MemoryDeps, body: readonly ImportEntry[], mode: ImportMode): Promise<ImportResult> {
  const memory = mode === 'dry_run' ? undefined : client(deps);
  const rows = await workspacesWithRoots(deps.db);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const byName = new Map<string, (typeof rows)[number]>();
  for (const r of rows) if (!byName.has(r.name)) byName.set(r.name, r);

  const result: ImportResult = { mode, total: body.length, imported: 0, skipped: 0, errors: 0, skipped_by_reason: Object.fromEntries(SKIP_REASONS.map((k) => [k, 0])) as Record<SkipReason, number> };
  const skip = (why: SkipReason) => {
    result.skipped++;
    result.skipped_by_reason[why]++;
  };
  const planned: { index: number; workspaceId: string; namespace: string; id: string; content: string; created_at: string | undefined }[] = [];
  body.forEach((e, index) => {
    const ws = (e.workspace_id && byId.get(e.workspace_id)) || (e.workspace_name !== undefined ? byName.get(e.workspace_name) : undefined);
    if (!ws) return skip('unknown_workspace');
    const scope = e.scope.toUpperCase();
    const namespace = scope === 'LOCAL' ? workspaceNamespace(ws.id) : scope === 'TEAM' ? teamNamespace(ws.root_id) : scope === 'GLOBAL' ? orgNamespace(ws.root_id) : undefined;
    if (!namespace) return skip('unknown_scope');
    if (e.content.trim() === '') return skip('empty_content');
    if (e.created_at !== undefined && !Rfc3339.safeParse(e.created_at).success) return skip('bad_created_at');
    const content = defuse(namespace, redactSecrets(e.content).text);
    const id = importId(namespace, content);
    if (planned.some((p) => p.id === id)) return skip('duplicate');
    planned.push({ index, workspaceId: ws.id, namespace, id, content, created_at: e.created_at });
  });

  if (mode === 'dry_run' || !memory) {
    result.imported = planned.length;
    return result;
  }
  if (mode === 'verify') {
    const held = new Set<string>();
    const namespaces = [...new Set(planned.map((p) => p.namespace))];
    if (namespaces.length > 0 && !(await memory.can('list'))) throw new DomainError('not_supported', 'the memory store cannot list its memories, so an import cannot be verified');
    for (let i = 0; i < namespaces.length; i += NAMESPACES_PER_SEARCH) {
      try {
        for (const m of (await readAll(memory, namespaces.slice(i, i + NAMESPACES_PER_SEARCH))).memories) held.add(m.id);
      } catch (err) {
        if (!(err instanceof MemoryPluginError)) throw err;
        throw new DomainError('agent_unavailable', err.message);
      }
    }
    const missing = planned.filter((p) => !held.has(p.id));
    result.imported = planned.length - missing.length;
    result.missing = missing.slice(0, 100).map((p) => p.index);
    result.errors = missing.length;
    return result;
  }

  for (const p of planned) {
    try {
      // Embedded like any other write (when embeddings are on), so imported memories rank by meaning too.
      const embedding = await embeddingFor(deps, memory, 'commit', p.content, p.workspaceId);
      const { created } = await storeMemory(memory, p.namespace, { id: p.id, content: p.content, source: 'import', ...(p.created_at ? { created_at: p.created_at } : {}), ...(embedding ? { embedding } : {}) });
      if (created) result.imported++;
      else skip('duplicate');
    } catch (err) {
      if (!(err instanceof MemoryPluginError)) throw err;
      result.errors++;
      deps.log.warn({ reason: err.message, entry: p.index }, 'memory import: an entry could not be stored');
    }
  }
  return result;
}
