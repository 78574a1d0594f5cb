export { createPgliteMemoryDb, createPostgresMemoryDb, type MemoryDb } from './db.js';
export { migrate, type EmbeddingStore } from './migrate.js';
export { startMemoryPlugin, PLUGIN_VERSION, type MemoryPluginOptions, type RunningMemoryPlugin } from './plugin.js';
export { PGVECTOR_CAPABILITY } from './http.js';
