import { z } from 'zod';

/**
 * Memory plugin contract v1 ("memory-plugin-v1", C231-C233, C238, C260): what the platform says to a
 * memory store over HTTP. The platform is its only client and the security perimeter (the plugin
 * has no auth and listens on a private address): every namespace a request names has already been
 * checked against the caller's place in the org chart. `memory-plugin-v1.openapi.json` next to the
 * package is generated from these schemas (`npm run docs:memory-contract`) and checked by a test.
 *
 * - `GET  /v1/health`                                  -> PluginHealth (200; `degraded` when its store is down)
 * - `PUT  /v1/namespaces/{name}`          NamespaceUpsert -> Namespace (200, created or updated)
 * - `PATCH /v1/namespaces/{name}`         NamespacePatch  -> Namespace (200; 404 unknown)
 * - `DELETE /v1/namespaces/{name}`                     -> 204 (its memories go with it; 404 unknown)
 * - `POST /v1/namespaces/{name}/memories` MemoryWrite     -> Memory (201; with `id`: upsert, 200 when it existed)
 * - `DELETE /v1/namespaces/{name}/memories/{id}`       -> 204 (404 when not in that namespace)
 * - `POST /v1/search`                     SearchRequest   -> SearchResponse (200)
 * Errors: `{error}` with 400 (invalid body or name), 404, 405 (a known path, another method), 5xx.
 */

export const MEMORY_PLUGIN_CONTRACT = 'memory-plugin-v1';

/**
 * What a plugin may say it can do (`GET /v1/health`); the platform gates features on them. `list`:
 * search takes `after_id` and pages through everything in id order (exports and verification).
 */
export const MEMORY_CAPABILITIES = ['fts', 'embedding', 'ttl', 'kinds', 'list'] as const;
export type MemoryCapability = (typeof MEMORY_CAPABILITIES)[number];

export const NAMESPACE_KINDS = ['workspace', 'team', 'org', 'custom'] as const;
export type NamespaceKind = (typeof NAMESPACE_KINDS)[number];

export const MEMORY_KINDS = ['fact', 'summary', 'decision', 'note'] as const;
export type MemoryKind = (typeof MEMORY_KINDS)[number];
export const MEMORY_SOURCES = ['agent', 'user', 'import', 'system'] as const;

/** Largest memory content, in characters. */
export const MAX_MEMORY_CHARS = 100_000;
/** The largest embedding a plugin must take. */
export const MAX_EMBEDDING_DIMS = 4096;
export const MAX_SEARCH_LIMIT = 100;

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
/**
 * A namespace name (C234): `workspace:<id>`, `team:<root id>`, `org:<root id>` (lower-case UUIDs),
 * or `custom:<name>` with 1-64 of `a-z 0-9 . _ -` starting with a letter or digit.
 */
export const NAMESPACE_NAME = new RegExp(`^(?:(?:workspace|team|org):${UUID}|custom:[a-z0-9][a-z0-9._-]{0,63})$`);
export const NamespaceName = z.string().regex(NAMESPACE_NAME, {
  error: 'invalid namespace: workspace:<id>, team:<id>, org:<id> or custom:<name> (a-z 0-9 . _ -, at most 64)',
});

/** The kind a namespace name says it is. */
export const namespaceKind = (name: string): NamespaceKind => name.slice(0, name.indexOf(':')) as NamespaceKind;

/** RFC 3339 with a time zone (C241's message when it is not). */
export const Rfc3339 = z.iso.datetime({ offset: true, error: 'invalid expires_at: must be RFC3339' });
const Metadata = z.record(z.string(), z.unknown());
const Embedding = z.array(z.number().finite()).min(1).max(MAX_EMBEDDING_DIMS);

export const NamespaceUpsert = z.strictObject({
  kind: z.enum(NAMESPACE_KINDS),
  expires_at: Rfc3339.nullable().optional(),
  metadata: Metadata.optional(),
});
export type NamespaceUpsert = z.infer<typeof NamespaceUpsert>;

/** At least one field (C232: an empty patch is a pointless round trip). */
export const NamespacePatch = z
  .strictObject({ expires_at: Rfc3339.nullable().optional(), metadata: Metadata.optional() })
  .refine((p) => p.expires_at !== undefined || p.metadata !== undefined, { error: 'a namespace patch needs expires_at or metadata' });
export type NamespacePatch = z.infer<typeof NamespacePatch>;

export const Namespace = z.object({
  name: z.string(),
  kind: z.enum(NAMESPACE_KINDS),
  expires_at: z.string().nullable(),
  metadata: Metadata,
  created_at: z.string(),
  updated_at: z.string(),
});
export type Namespace = z.infer<typeof Namespace>;

/** A memory to store (C233: with `id`, an idempotent upsert; without, a new id). Content is never blank (C232). */
export const MemoryWrite = z.strictObject({
  id: z.uuid().optional(),
  content: z
    .string()
    .max(MAX_MEMORY_CHARS, { error: `content is longer than ${MAX_MEMORY_CHARS} characters` })
    .refine((c) => c.trim() !== '', { error: 'content is empty' }),
  kind: z.enum(MEMORY_KINDS).default('fact'),
  source: z.enum(MEMORY_SOURCES).default('agent'),
  expires_at: Rfc3339.nullable().optional(),
  metadata: Metadata.optional(),
  embedding: Embedding.optional(),
  /** When the memory was first made (an import keeps the original date); now when omitted. */
  created_at: Rfc3339.optional(),
});
export type MemoryWrite = z.input<typeof MemoryWrite>;

export const Memory = z.object({
  id: z.uuid(),
  namespace: z.string(),
  content: z.string(),
  kind: z.enum(MEMORY_KINDS),
  source: z.enum(MEMORY_SOURCES),
  metadata: Metadata,
  expires_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  /** Set by searches that rank: cosine similarity (embedding) or text rank (full text). */
  score: z.number().optional(),
});
export type Memory = z.infer<typeof Memory>;

/**
 * A search over namespaces the platform has already intersected with what the caller may read (never
 * empty, C232). With `after_id` (capability `list`) it is a listing instead: every live memory of
 * those namespaces with an id greater than `after_id`, in id order (the nil UUID starts), so a caller
 * can page through all of them; it takes no query or embedding.
 */
export const SearchRequest = z
  .strictObject({
    namespaces: z.array(NamespaceName).min(1, { error: 'namespaces must name at least one namespace' }).max(1000),
    query: z.string().max(1000).optional(),
    embedding: Embedding.optional(),
    kinds: z.array(z.enum(MEMORY_KINDS)).max(MEMORY_KINDS.length).optional(),
    limit: z.number().int().min(1).max(MAX_SEARCH_LIMIT).default(20),
    after_id: z.uuid({ error: 'after_id must be a UUID' }).optional(),
  })
  .refine((s) => s.after_id === undefined || (s.query === undefined && s.embedding === undefined), {
    error: 'after_id lists in id order: it takes no query or embedding',
  });
export type SearchRequest = z.input<typeof SearchRequest>;

/** How the plugin answered: the ladder step it took (C259), or `list` for an `after_id` listing. */
export const SEARCH_MODES = ['semantic', 'fulltext', 'substring', 'recent', 'list'] as const;
export const SearchResponse = z.object({ memories: z.array(Memory), mode: z.enum(SEARCH_MODES) });
export type SearchResponse = z.infer<typeof SearchResponse>;

export const PluginHealth = z.object({
  status: z.enum(['ok', 'degraded']),
  contract: z.literal(MEMORY_PLUGIN_CONTRACT),
  version: z.string(),
  /** Unknown capability names are allowed (newer plugins); the platform uses the ones it knows. */
  capabilities: z.array(z.string()),
  /** Why it is degraded, in words. */
  detail: z.string().optional(),
});
export type PluginHealth = z.infer<typeof PluginHealth>;

export const MemoryPluginError = z.object({ error: z.string() });
