import { randomUUID } from 'node:crypto';
import { namespaceKind, type Memory, type Namespace, type NamespacePatch, type NamespaceUpsert, type SearchResponse } from '@molecule/contracts';
import type { z } from 'zod';
import type { MemoryWrite, SearchRequest } from '@molecule/contracts';
import type { MemoryDb } from './db.js';
import type { EmbeddingStore } from './migrate.js';

type Write = z.output<typeof MemoryWrite>;
type Search = z.output<typeof SearchRequest>;

interface NamespaceRow {
  name: string;
  kind: Namespace['kind'];
  expires_at: Date | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}
interface RecordRow {
  id: string;
  namespace: string;
  content: string;
  kind: Memory['kind'];
  source: Memory['source'];
  metadata: Record<string, unknown>;
  expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
  score?: number | string | null;
}

const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());
const toNamespace = (r: NamespaceRow): Namespace => ({
  name: r.name,
  kind: r.kind,
  expires_at: iso(r.expires_at),
  metadata: r.metadata,
  created_at: iso(r.created_at)!,
  updated_at: iso(r.updated_at)!,
});
const toMemory = (r: RecordRow): Memory => ({
  id: r.id,
  namespace: r.namespace,
  content: r.content,
  kind: r.kind,
  source: r.source,
  metadata: r.metadata,
  expires_at: iso(r.expires_at),
  created_at: iso(r.created_at)!,
  updated_at: iso(r.updated_at)!,
  ...(r.score === undefined || r.score === null ? {} : { score: Number(r.score) }),
});

const RECORD_COLUMNS = 'r.id, r.namespace, r.content, r.kind, r.source, r.metadata, r.expires_at, r.created_at, r.updated_at';
const NS_COLUMNS = 'name, kind, expires_at, metadata, created_at, updated_at';

/** The outcome of a memory write (C233). */
export type CommitResult = { status: 'created' | 'updated'; memory: Memory } | { status: 'no_namespace' } | { status: 'other_namespace' };

/**
 * The plugin's SQL. Every method is one statement (no read-then-write races): the namespace FK
 * answers "unknown namespace", `ON CONFLICT ... WHERE` answers "that id lives elsewhere".
 */
export class MemoryStore {
  constructor(
    private readonly db: MemoryDb,
    readonly embeddings: EmbeddingStore,
  ) {}

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  /** Creates or replaces a namespace (PUT: omitted fields are reset); its kind comes from its name. */
  async upsertNamespace(name: string, body: NamespaceUpsert): Promise<Namespace> {
    const r = await this.db.query<NamespaceRow>(
      `INSERT INTO memory_namespaces (name, kind, expires_at, metadata) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO UPDATE SET expires_at = EXCLUDED.expires_at, metadata = EXCLUDED.metadata, updated_at = now()
       RETURNING ${NS_COLUMNS}`,
      [name, namespaceKind(name), body.expires_at ?? null, JSON.stringify(body.metadata ?? {})],
    );
    return toNamespace(r.rows[0]!);
  }

  /** Changes the given fields; undefined when the namespace does not exist. */
  async patchNamespace(name: string, patch: NamespacePatch): Promise<Namespace | undefined> {
    const r = await this.db.query<NamespaceRow>(
      `UPDATE memory_namespaces SET
         expires_at = CASE WHEN $2 THEN $3::timestamptz ELSE expires_at END,
         metadata = COALESCE($4::jsonb, metadata),
         updated_at = now()
       WHERE name = $1 RETURNING ${NS_COLUMNS}`,
      [name, patch.expires_at !== undefined, patch.expires_at ?? null, patch.metadata === undefined ? null : JSON.stringify(patch.metadata)],
    );
    return r.rows[0] && toNamespace(r.rows[0]);
  }

  /** Deletes a namespace and (FK cascade) its memories; false when it did not exist. */
  async deleteNamespace(name: string): Promise<boolean> {
    const r = await this.db.query('DELETE FROM memory_namespaces WHERE name = $1 RETURNING name', [name]);
    return r.rows.length > 0;
  }

  /**
   * Stores a memory. With `id`: an upsert keyed by it (updated when it exists in this namespace,
   * `other_namespace` when it exists in another, never moved). Unknown namespace: `no_namespace`.
   */
  async commit(namespace: string, w: Write): Promise<CommitResult> {
    const id = w.id ?? randomUUID();
    try {
      const r = await this.db.query<RecordRow & { inserted: boolean }>(
        `INSERT INTO memory_records AS r (id, namespace, content, kind, source, metadata, expires_at, embedding, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, ${this.embeddings === 'pgvector' ? '$8::vector' : '$8::real[]'}, COALESCE($9::timestamptz, now()))
         ON CONFLICT (id) DO UPDATE SET content = EXCLUDED.content, kind = EXCLUDED.kind, source = EXCLUDED.source,
           metadata = EXCLUDED.metadata, expires_at = EXCLUDED.expires_at, embedding = EXCLUDED.embedding, updated_at = now()
           WHERE r.namespace = EXCLUDED.namespace
         RETURNING ${RECORD_COLUMNS}, (xmax = 0) AS inserted`,
        [id, namespace, w.content, w.kind, w.source, JSON.stringify(w.metadata ?? {}), w.expires_at ?? null, this.embeddingParam(w.embedding), w.created_at ?? null],
      );
      const row = r.rows[0];
      if (!row) return { status: 'other_namespace' };
      return { status: row.inserted ? 'created' : 'updated', memory: toMemory(row) };
    } catch (err) {
      if ((err as { code?: string }).code === '23503') return { status: 'no_namespace' };
      throw err;
    }
  }

  /** Deletes one memory of one namespace; false when it is not there. */
  async forget(namespace: string, id: string): Promise<boolean> {
    const r = await this.db.query('DELETE FROM memory_records WHERE id = $1 AND namespace = $2 RETURNING id', [id, namespace]);
    return r.rows.length > 0;
  }

  /**
   * The search ladder (C259): embedding -> semantic (cosine similarity); a query of 2+ characters ->
   * full text (english, websearch syntax, ts_rank); 1 character -> case-insensitive substring; none ->
   * most recent. Expired memories, and memories of expired namespaces, are never returned. With
   * `after_id`: a page of the listing in id order.
   */
  async search(s: Search): Promise<SearchResponse> {
    const params: unknown[] = [s.namespaces];
    const p = (v: unknown) => `$${params.push(v)}`;
    const where = [
      'r.namespace = ANY($1::text[])',
      '(r.expires_at IS NULL OR r.expires_at > now())',
      '(n.expires_at IS NULL OR n.expires_at > now())',
    ];
    if (s.kinds !== undefined) where.push(`r.kind = ANY(${p(s.kinds)}::text[])`);
    let mode: SearchResponse['mode'];
    let score = 'NULL::float8';
    let order = 'r.created_at DESC, r.id';
    const query = s.query?.trim() ?? '';
    const embedding = s.embedding && unit(s.embedding);
    if (s.after_id !== undefined) {
      mode = 'list';
      where.push(`r.id > ${p(s.after_id)}::uuid`);
      order = 'r.id';
    } else if (embedding) {
      mode = 'semantic';
      if (this.embeddings === 'pgvector') {
        const v = p(JSON.stringify(embedding));
        where.push(`vector_dims(r.embedding) = ${p(embedding.length)}`);
        score = `1 - (r.embedding <=> ${v}::vector)`;
        order = `r.embedding <=> ${v}::vector, r.id`;
      } else {
        const v = p(pgArray(embedding));
        where.push(`array_length(r.embedding, 1) = ${p(embedding.length)}`);
        score = `(SELECT sum(x * y) FROM unnest(r.embedding, ${v}::real[]) AS t(x, y))`;
        order = 'score DESC, r.id';
      }
    } else if ([...query].length >= 2) {
      mode = 'fulltext';
      const tsq = `websearch_to_tsquery('english', ${p(query)})`;
      where.push(`r.content_tsv @@ ${tsq}`);
      score = `ts_rank(r.content_tsv, ${tsq})`;
      order = 'score DESC, r.created_at DESC, r.id';
    } else if (query !== '') {
      mode = 'substring';
      where.push(`r.content ILIKE ${p(`%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)}`);
    } else {
      mode = 'recent';
    }
    const r = await this.db.query<RecordRow>(
      `SELECT ${RECORD_COLUMNS}, ${score} AS score
       FROM memory_records r JOIN memory_namespaces n ON n.name = r.namespace
       WHERE ${where.join(' AND ')}
       ORDER BY ${order} LIMIT ${p(s.limit)}`,
      params,
    );
    return { mode, memories: r.rows.map(toMemory) };
  }

  private embeddingParam(e: number[] | undefined): string | null {
    const u = e && unit(e);
    if (!u) return null;
    return this.embeddings === 'pgvector' ? JSON.stringify(u) : pgArray(u);
  }
}

/**
 * The vector scaled to length 1, so cosine similarity is a dot product; undefined for a zero
 * vector, which has no direction to rank by (stored as no embedding; a zero query is refused).
 */
export function unit(v: readonly number[]): number[] | undefined {
  let n = 0;
  for (const x of v) n += x * x;
  if (n === 0 || !Number.isFinite(n)) return undefined;
  const len = Math.sqrt(n);
  return v.map((x) => x / len);
}

const pgArray = (v: readonly number[]) => `{${v.join(',')}}`;
