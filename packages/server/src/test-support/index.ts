/**
 * `@molecule/server/testing`: what tests, benches and the docs scripts use to build and drive a
 * platform (source-level: they run through vitest or tsx, never from the built package).
 */
export { createPgliteDb } from '../db/pglite.js';
export { renderSecurityDoc } from '../http/access.js';
export { dockerClientOptions } from '../provisioning/docker/network.js';
export { freshDb, migratedDb, startTestApp, testConfig, type TestApp, type TestAppOptions } from './harness.js';
export { createExternal, eventually } from './api.js';
export { freePort } from './net.js';
export { e2eClient, startE2eServer, E2E_ADMIN_TOKEN } from './e2e.js';
export { startPrivatePostgres, type PrivatePostgres } from './private-services.js';
export { isAlive } from './proc.js';
export { startFakeMemoryPlugin, type FakeMemoryPlugin } from './fake-memory-plugin.js';
export { fakeEmbedding, startFakeEmbeddings, FAKE_EMBEDDING_DIMS, type EmbeddingsFault, type FakeEmbeddings } from './fake-embeddings.js';
