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

/** Rows per batched upsert, and batches in flight at once (see MemoryStore.commit). */
const COMMIT_BATCH_ROWS = 100;
const COMMIT_BATCHES = 4;

interface PendingWrite {
  namespace: string;
  w: Write;
  resolve: (r: CommitResult) => void;
  reject: (err: unknown) => void;
}

/** The outcome of a memory write (C233). */
export type CommitResult = { status: 'created' | 'updated'; memory: Memory } | { status: 'no_namespace' } | { status: 'other_namespace' };

/**
 * The plugin's SQL. Every method is one statement (no read-then-write races): the namespace FK
 * answers "unknown namespace", `ON CONFLICT ... WHERE` answers "that id lives elsewhere".
 */
export class MemoryStore {
  /** Dimensions whose HNSW index this process has made sure of (pgvector). */
  readonly #indexedDims = new Set<number>();

  constructor(
    private readonly db: MemoryDb,
    readonly embeddings: EmbeddingStore,
  ) {}

  /**
   * pgvector: an HNSW index (cosine) per embedding dimension, made the first time this process
   * stores a vector of that size. The column holds vectors of any size (an embedder's model can
   * change), so each index is an expression index on the vector cast to its size, partial to the
   * rows of that size; searches use the same expression. Past pgvector's 2,000-dimension limit
   * for HNSW there is no index and searches scan. Writes do not wait for it: on a new store it is
   * made at once; on a store that already holds many vectors of that size (an upgrade) PostgreSQL
   * builds it CONCURRENTLY, without blocking writes, and PGlite (one connection) builds it before
   * its next statement. A failure (e.g. another replica racing on the same name) is forgotten, so
   * a later write tries again.
   */
  #ensureVectorIndex(dims: number): void {
    if (this.embeddings !== 'pgvector' || dims > HNSW_MAX_DIMS || this.#indexedDims.has(dims)) return;
    this.#indexedDims.add(dims);
    // `dims` is an embedding's length (an integer, 1..MAX_EMBEDDING_DIMS), never text from a request.
    const concurrently = this.db.kind === 'postgres' ? 'CONCURRENTLY ' : '';
    this.db
      .query(`CREATE INDEX ${concurrently}IF NOT EXISTS memory_records_hnsw_${dims} ON memory_records USING hnsw ((embedding::vector(${dims})) vector_cosine_ops) WHERE vector_dims(embedding) = ${dims}`)
      .catch(() => this.#indexedDims.delete(dims));
  }

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
   *
   * Writes that arrive together are stored together: each waits for the current statement (at most
   * {@link COMMIT_BATCHES} in flight), then goes in one multi-row upsert with the others waiting
   * (up to {@link COMMIT_BATCH_ROWS}), which answers each row as its own statement would. On a
   * loaded machine a statement's round trip costs far more than its rows, so under concurrency this
   * multiplies throughput; a lone write waits for nothing. When a batch statement fails (an unknown
   * namespace, one id twice, anything) nothing of it was stored, and each write runs alone.
   */
  commit(namespace: string, w: Write): Promise<CommitResult> {
    return new Promise<CommitResult>((resolve, reject) => {
      this.#pending.push({ namespace, w: { ...w, id: w.id ?? randomUUID() }, resolve, reject });
      this.#flush();
    });
  }

  readonly #pending: PendingWrite[] = [];
  #batchesInFlight = 0;

  #flush(): void {
    while (this.#pending.length > 0 && this.#batchesInFlight < COMMIT_BATCHES) {
      const batch = this.#pending.splice(0, COMMIT_BATCH_ROWS);
      this.#batchesInFlight++;
      void this.#store(batch).finally(() => {
        this.#batchesInFlight--;
        this.#flush();
      });
    }
  }

  async #store(batch: PendingWrite[]): Promise<void> {
    for (const b of batch) if (b.w.embedding) this.#ensureVectorIndex(b.w.embedding.length);
    if (batch.length > 1) {
      try {
        const rows = await this.#upsert(batch);
        const byId = new Map(rows.map((r) => [r.id, r]));
        for (const b of batch) {
          const row = byId.get(b.w.id!);
          b.resolve(row ? { status: row.inserted ? 'created' : 'updated', memory: toMemory(row) } : { status: 'other_namespace' });
        }
        return;
      } catch {
        // Nothing of the batch was stored: each write goes alone, and answers for itself.
      }
    }
    await Promise.all(
      batch.map(async (b) => {
        try {
          const row = (await this.#upsert([b]))[0];
          b.resolve(row ? { status: row.inserted ? 'created' : 'updated', memory: toMemory(row) } : { status: 'other_namespace' });
        } catch (err) {
          if ((err as { code?: string }).code === '23503') b.resolve({ status: 'no_namespace' });
          else b.reject(err);
        }
      }),
    );
  }

  /** One upsert statement for the writes (ids already given); returns the rows it inserted or updated. */
  async #upsert(batch: PendingWrite[]): Promise<(RecordRow & { inserted: boolean })[]> {
    const params: unknown[] = [];
    const p = (v: unknown) => `$${params.push(v)}`;
    const vectorType = this.embeddings === 'pgvector' ? 'vector' : 'real[]';
    const values = batch.map(({ namespace, w }) => {
      const cols = [
        `${p(w.id)}::uuid`,
        p(namespace),
        p(w.content),
        p(w.kind),
        p(w.source),
        `${p(JSON.stringify(w.metadata ?? {}))}::jsonb`,
        `${p(w.expires_at ?? null)}::timestamptz`,
        `${p(this.embeddingParam(w.embedding))}::${vectorType}`,
        `COALESCE(${p(w.created_at ?? null)}::timestamptz, now())`,
      ];
      return `(${cols.join(', ')})`;
    });
    const r = await this.db.query<RecordRow & { inserted: boolean }>(
      `INSERT INTO memory_records AS r (id, namespace, content, kind, source, metadata, expires_at, embedding, created_at)
       VALUES ${values.join(',\n')}
       ON CONFLICT (id) DO UPDATE SET content = EXCLUDED.content, kind = EXCLUDED.kind, source = EXCLUDED.source,
         metadata = EXCLUDED.metadata, expires_at = EXCLUDED.expires_at, embedding = EXCLUDED.embedding, updated_at = now()
         WHERE r.namespace = EXCLUDED.namespace
       RETURNING ${RECORD_COLUMNS}, (xmax = 0) AS inserted`,
      params,
    );
    return r.rows;
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
        // The expression and predicate of the dimension's HNSW index (#ensureVectorIndex), so the
        // planner can walk it; `d` is the query embedding's length, an integer.
        const d = embedding.length;
        const v = `${p(JSON.stringify(embedding))}::vector(${d})`;
        where.push(`vector_dims(r.embedding) = ${d}`);
        score = `1 - (r.embedding::vector(${d}) <=> ${v})`;
        order = `r.embedding::vector(${d}) <=> ${v}`;
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
    return this.embeddings === 'pgvector' ? `[${u.map(digits).join(',')}]` : pgArray(u);
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

const pgArray = (v: readonly number[]) => `{${v.map(digits).join(',')}}`;
/**
 * 8 significant digits (exponent form for tiny values, which both `real` and pgvector read): more
 * than a stored `real` (float4) keeps, and about three times faster to print than a double's
 * shortest round-trip form, which was a tenth of a write's CPU time.
 */
const digits = (x: number) => x.toPrecision(8);

/** pgvector's largest `vector` HNSW can index. */
const HNSW_MAX_DIMS = 2000;
