import { MEMORY_KINDS, MEMORY_SOURCES, NAMESPACE_KINDS } from '@molecule/contracts';
import type { MemoryDb, Queryable } from './db.js';

/** How embeddings are stored and ranked: pgvector's `vector` with `<=>`, or `real[]` (unit length) with a dot product in SQL. */
export type EmbeddingStore = 'pgvector' | 'array';

const list = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(', ');

/** Version 1: both tables, their CHECKs from the contract's unions, the generated tsvector and its GIN index. */
const v1 = (embeddingType: string) => `
CREATE TABLE IF NOT EXISTS memory_namespaces (
  name text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN (${list(NAMESPACE_KINDS)})),
  expires_at timestamptz,
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS memory_records (
  id uuid PRIMARY KEY,
  namespace text NOT NULL REFERENCES memory_namespaces(name) ON DELETE CASCADE,
  content text NOT NULL,
  kind text NOT NULL CHECK (kind IN (${list(MEMORY_KINDS)})),
  source text NOT NULL CHECK (source IN (${list(MEMORY_SOURCES)})),
  metadata jsonb NOT NULL DEFAULT '{}',
  expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  content_tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
  embedding ${embeddingType}
);
CREATE INDEX IF NOT EXISTS memory_records_tsv ON memory_records USING gin (content_tsv);
CREATE INDEX IF NOT EXISTS memory_records_recent ON memory_records (namespace, created_at DESC);
`;

/**
 * Brings the schema up to date, idempotently, under the plugin's advisory lock (one replica at a
 * time), and says how embeddings are stored. The vector extension is tried first; when it is not
 * installed (Debian's PostgreSQL has no pgvector) embeddings fall back to `real[]`. The choice is
 * made when the table is created and read back from the column afterwards, so it never changes
 * under existing rows.
 */
export async function migrate(db: MemoryDb): Promise<EmbeddingStore> {
  return db.withMigrationLock(async (q) => {
    await q.query('CREATE TABLE IF NOT EXISTS memory_plugin_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    const done = await q.query<{ version: number }>('SELECT version FROM memory_plugin_migrations');
    if (!done.rows.some((r) => r.version === 1)) {
      const store: EmbeddingStore = (await tryVector(q)) ? 'pgvector' : 'array';
      for (const stmt of v1(store === 'pgvector' ? 'vector' : 'real[]').split(';').map((s) => s.trim()).filter(Boolean)) await q.query(stmt);
      await q.query('INSERT INTO memory_plugin_migrations (version) VALUES (1)');
    }
    const col = await q.query<{ udt_name: string }>(
      "SELECT udt_name FROM information_schema.columns WHERE table_name = 'memory_records' AND column_name = 'embedding' AND table_schema = current_schema()",
    );
    return col.rows[0]?.udt_name === 'vector' ? 'pgvector' : 'array';
  });
}

async function tryVector(q: Queryable): Promise<boolean> {
  try {
    await q.query('CREATE EXTENSION IF NOT EXISTS vector');
    return true;
  } catch {
    // Fail-open to real[]: the extension is optional; ranking still works, by an exact scan.
    return false;
  }
}
