import { createHash } from 'node:crypto';
import { MAX_MEMORY_CHARS, MAX_SEARCH_LIMIT, MEMORY_KINDS, namespaceKind, Rfc3339, type Memory, type MemoryKind, type MemoryWrite, type SearchRequest } from '@molecule/contracts';
import { recordActivity, type ActivityDeps } from '../activity/service.js';
import type { AppDeps } from '../deps.js';
import { denied, DomainError, invalid, notFound } from '../errors.js';
import { MemoryPluginError, type MemoryPluginClient } from './client.js';
import { EmbeddingError } from './embeddings.js';
import { canWrite, intersectReadable, resolveNamespaces, teamNamespace, workspaceNamespace, type NamespaceAccess } from './namespaces.js';
import { redactSecrets } from './redact.js';

export type MemoryDeps = Pick<AppDeps, 'db' | 'log' | 'metrics' | 'embedder'> & ActivityDeps & { memory: MemoryPluginClient | undefined };

/** Default lifetime of a `commit_summary` (C240). */
export const SUMMARY_TTL_DAYS = 30;

/** A memory as an agent or the canvas sees it: org memories wrapped in the delimiter (C243). */
export type MemoryView = Memory & { scope: 'workspace' | 'team' | 'org' | 'custom' };

const notWired = () => new DomainError('not_supported', 'memory is turned off on this platform (MEMORY_PLUGIN_URL=off)');

/** A plugin failure as the caller sees it: its refusals as 4xx with its reason, trouble as 503, never internals (C245). */
function fromPlugin(err: unknown): never {
  if (!(err instanceof MemoryPluginError)) throw err;
  switch (err.kind) {
    case 'refused':
      throw invalid(err.message);
    case 'not_found':
      throw notFound('memory not found');
    case 'conflict':
      throw new DomainError('conflict', err.message);
    default:
      throw new DomainError('agent_unavailable', err.message);
  }
}

/** The memory client, or the 501 that memory is off. */
export function client(deps: MemoryDeps): MemoryPluginClient {
  if (!deps.memory) throw notWired();
  return deps.memory;
}

/** Stores `write` in `namespace`, making the namespace on first use; `created` is false for an upsert of an existing id. */
export async function storeMemory(plugin: MemoryPluginClient, namespace: string, write: MemoryWrite): Promise<{ memory: Memory; created: boolean }> {
  try {
    return await plugin.commit(namespace, write);
  } catch (err) {
    if (!(err instanceof MemoryPluginError && err.kind === 'not_found')) throw err;
    await plugin.upsertNamespace(namespace, namespaceKind(namespace));
    return plugin.commit(namespace, write);
  }
}

/** Text bound for `namespace`: in org namespaces a `[MEMORY ` inside it is defused so it cannot fake the delimiter (C243). */
export const defuse = (namespace: string, text: string): string => (namespaceKind(namespace) === 'org' ? text.replaceAll('[MEMORY ', '[_MEMORY ') : text);

/**
 * The embedding of `text` for a commit or a search, or undefined: when no embedder is configured,
 * when the store does not rank by embeddings (C238: semantic search needs the `embedding`
 * capability; a plugin not yet heard from is asked once), or when the embedder fails. Fail-open: an
 * embedding only ranks, so its failure is a warning and a metric, and the write or search goes on
 * without it.
 */
export async function embeddingFor(deps: MemoryDeps, plugin: MemoryPluginClient, op: 'commit' | 'search', text: string, workspaceId: string): Promise<number[] | undefined> {
  const embedder = deps.embedder;
  if (!embedder) return undefined;
  if (!(await plugin.can('embedding'))) return undefined;
  try {
    const v = await embedder.embed(text);
    deps.metrics.memoryEmbeddings.labels(op, 'embedded').inc();
    return v;
  } catch (err) {
    if (!(err instanceof EmbeddingError)) throw err;
    deps.metrics.memoryEmbeddings.labels(op, err.reason).inc();
    const level = err.reason === 'breaker_open' ? 'debug' : 'warn';
    deps.log[level]({ workspace_id: workspaceId, op, reason: err.reason, detail: err.detail, model: embedder.model }, `memory: no embedding (${err.message}); the ${op} goes on without one`);
    return undefined;
  }
}

/** The delimiter org memories are read with, so a model can tell shared, untrusted text from instructions (C243). */
export const orgDelimiter = (m: Pick<Memory, 'id' | 'namespace'>) => `[MEMORY id=${m.id} scope=ORG ns=${m.namespace}]: `;

function view(m: Memory): MemoryView {
  const scope = namespaceKind(m.namespace);
  return { ...m, scope, content: scope === 'org' ? `${orgDelimiter(m)}${m.content}` : m.content };
}

export interface CommitInput {
  content: string;
  /** Default `workspace:<self>`. */
  namespace?: string | undefined;
  kind?: MemoryKind | undefined;
  expires_at?: string | undefined;
  /** Idempotency key (C233). */
  id?: string | undefined;
}

/**
 * Stores a memory for workspace `id` (C241, C242): the namespace must be one it may write (re-resolved
 * now); blank content and a malformed `expires_at` are refused before the plugin is called; the
 * content is secret-redacted first, and in org namespaces a `[MEMORY ` inside it is defused so it
 * cannot fake the delimiter. Org writes are audited with the content's SHA-256, never the text; a
 * failed audit is logged and the write stands.
 */
export async function commitMemory(deps: MemoryDeps, id: string, input: CommitInput): Promise<{ id: string; namespace: string }> {
  // Bad input is the caller's to fix whether or not a store is configured: checked first.
  if (input.content.trim() === '') throw invalid('content is empty');
  if (input.content.length > MAX_MEMORY_CHARS) throw new DomainError('payload_too_large', `content is longer than ${MAX_MEMORY_CHARS} characters`);
  if (input.expires_at !== undefined && !Rfc3339.safeParse(input.expires_at).success) throw invalid('invalid expires_at: must be RFC3339');
  const plugin = client(deps);
  const access = await resolveNamespaces(deps.db, id);
  const namespace = input.namespace ?? workspaceNamespace(id);
  if (!canWrite(access, namespace)) throw denied(`this workspace may not write ${namespace.slice(0, 80)} (it may write: ${access.writable.join(', ')})`);
  const text = defuse(namespace, redactSecrets(input.content).text);
  const plain = { content: text, kind: input.kind ?? 'fact', source: 'agent' as const, ...(input.expires_at ? { expires_at: input.expires_at } : {}), ...(input.id ? { id: input.id } : {}) };
  // Embedded from the text as stored: redacted, so no secret reaches the embedder either.
  const embedding = await embeddingFor(deps, plugin, 'commit', text, id);
  let stored: Memory;
  try {
    stored = (
      await storeMemory(plugin, namespace, embedding ? { ...plain, embedding } : plain).catch((err: unknown) => {
        // A store that refuses the embedding (its own dimension limit) still gets the memory.
        if (!(embedding && err instanceof MemoryPluginError && err.kind === 'refused')) throw err;
        deps.log.warn({ workspace_id: id, reason: err.message, dimensions: embedding.length }, 'memory: the store refused the embedding; stored without it');
        return storeMemory(plugin, namespace, plain);
      })
    ).memory;
  } catch (err) {
    fromPlugin(err);
  }
  // The activity feed shows every write. Org writes are the audit row (the content's hash, never its
  // text, C242); the others carry a short preview of the already-redacted text.
  const org = namespaceKind(namespace) === 'org';
  await recordActivity(deps, {
    workspace_id: id,
    activity_type: org ? 'memory_write_global' : 'memory_write',
    source_id: id,
    target_id: id,
    summary: org ? `org memory written to ${namespace}` : `remembered in ${namespace}: ${preview(text)}`,
    request_body: { memory_id: stored.id, namespace, ...(org ? { content_sha256: createHash('sha256').update(text).digest('hex') } : {}) },
  }).catch((err: unknown) => deps.log.error({ err, workspace_id: id }, 'memory: could not record a memory write in the activity log; the write stands'));
  return { id: stored.id, namespace };
}

export interface SearchInput {
  query?: string | undefined;
  namespaces?: string[] | undefined;
  kinds?: MemoryKind[] | undefined;
  limit?: number | undefined;
}

/**
 * Searches what workspace `id` may read (C244): requested namespaces it may not read are dropped;
 * when none is left the answer is empty and the plugin is not asked. Org memories come back wrapped.
 *
 * With embeddings on (and the store ranking by them, C238) a query is embedded and the search goes
 * vector-first (C259's semantic step; `score` is the cosine similarity). Memories the semantic step
 * cannot see (stored without an embedding, or with another model's dimension) are added after its
 * results, by the text ladder, when it leaves room under the limit; they carry no score, so scores
 * of two scales never mix. No embedding (the embedder failed), or a store refusing it: the text
 * ladder alone, as without embeddings.
 */
export async function searchMemories(deps: MemoryDeps, id: string, input: SearchInput): Promise<MemoryView[]> {
  const plugin = client(deps);
  const access = await resolveNamespaces(deps.db, id);
  const namespaces = intersectReadable(access, input.namespaces);
  if (namespaces.length === 0) return [];
  const kinds = input.kinds?.filter((k) => (MEMORY_KINDS as readonly string[]).includes(k));
  const query = input.query?.trim().slice(0, 1000);
  const limit = Math.min(Math.max(input.limit ?? 20, 1), MAX_SEARCH_LIMIT);
  const text: SearchRequest = { namespaces, ...(query ? { query } : {}), ...(kinds?.length ? { kinds } : {}), limit };
  try {
    // The embedder may be a third party: a secret pasted into a query does not go there either.
    const embedding = query ? await embeddingFor(deps, plugin, 'search', redactSecrets(query).text, id) : undefined;
    if (!embedding) return (await plugin.search(text)).memories.map(view);
    let semantic: Memory[];
    try {
      semantic = (await plugin.search({ ...text, embedding })).memories;
    } catch (err) {
      if (!(err instanceof MemoryPluginError && err.kind === 'refused')) throw err;
      deps.log.warn({ workspace_id: id, reason: err.message, dimensions: embedding.length }, 'memory: the store refused the query embedding; searching by text');
      return (await plugin.search(text)).memories.map(view);
    }
    if (semantic.length >= limit) return semantic.map(view);
    const seen = new Set(semantic.map((m) => m.id));
    const rest = (await plugin.search(text)).memories.filter((m) => !seen.has(m.id)).map(({ score: _textRank, ...m }) => m);
    return [...semantic, ...rest].slice(0, limit).map(view);
  } catch (err) {
    fromPlugin(err);
  }
}

/** Forgets a memory in a namespace workspace `id` may write (C244); 404 when it is not there. */
export async function forgetMemory(deps: MemoryDeps, id: string, input: { id: string; namespace?: string | undefined }): Promise<void> {
  const plugin = client(deps);
  const access = await resolveNamespaces(deps.db, id);
  const namespace = input.namespace ?? workspaceNamespace(id);
  if (!canWrite(access, namespace)) throw denied(`this workspace may not forget memories in ${namespace.slice(0, 80)}`);
  try {
    await plugin.forget(namespace, input.id);
  } catch (err) {
    fromPlugin(err);
  }
  await recordActivity(deps, {
    workspace_id: id,
    activity_type: 'memory_write',
    source_id: id,
    target_id: id,
    summary: `forgot memory ${input.id} in ${namespace}`,
    request_body: { memory_id: input.id, namespace, forgotten: true },
  }).catch((err: unknown) => deps.log.error({ err, workspace_id: id }, 'memory: could not record a forget in the activity log; it stands'));
}

/** The first line of a memory, short enough for a feed. */
const preview = (text: string): string => {
  const line = text.trim().split('\n', 1)[0]!;
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
};

/** The namespaces workspace `id` may read and write, described (list_*_namespaces, C240, C262). */
export async function namespacesOf(deps: Pick<MemoryDeps, 'db'>, id: string): Promise<{ access: NamespaceAccess; describe: (n: string) => { name: string; scope: string } }> {
  const access = await resolveNamespaces(deps.db, id);
  return { access, describe: (name) => ({ name, scope: namespaceKind(name) }) };
}

/** Legacy scopes (C246): LOCAL -> workspace:<self>, TEAM -> team:<root>; GLOBAL is refused. */
export function legacyNamespaces(access: NamespaceAccess, scope: string | undefined, op: 'commit' | 'recall'): string[] {
  const s = (scope ?? '').toUpperCase();
  if (s === 'GLOBAL') throw denied('GLOBAL memories go through commit_memory_v2 with the org namespace (root workspaces only)');
  if (op === 'commit') return s === 'TEAM' ? [teamNamespace(access.rootId)] : [workspaceNamespace(access.workspaceId)];
  if (s === 'LOCAL') return [workspaceNamespace(access.workspaceId)];
  if (s === 'TEAM') return [workspaceNamespace(access.workspaceId), teamNamespace(access.rootId)];
  if (s === '') return [...access.readable];
  throw invalid('scope must be LOCAL or TEAM');
}
