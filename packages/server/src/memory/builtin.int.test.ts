import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2E_ADMIN_TOKEN, startE2eServer } from '../test-support/e2e.js';
import { freshDb, type TestDb } from '../test-support/harness.js';

describe('the built-in memory store on the platform\'s PostgreSQL (C237)', () => {
  let pg: TestDb;
  beforeAll(async () => {
    pg = await freshDb('postgres');
  });
  afterAll(async () => pg.drop());

  it('C237 with DATABASE_URL and no MEMORY_PLUGIN_URL, memories go to tables of their own in the same database and outlive a restart', async () => {
    const admin = { authorization: `Bearer ${E2E_ADMIN_TOKEN}`, 'content-type': 'application/json' };
    let { server } = await startE2eServer({ DATABASE_URL: pg.url, MOLECULE_PROVISIONER: 'none' }, 'molecule-memory-pg-');
    try {
      const created = await fetch(`${server.url}/workspaces`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'remembers', runtime: 'external' }) });
      const { id } = (await created.json()) as { id: string };
      const stored = await fetch(`${server.url}/workspaces/${id}/memories`, { method: 'POST', headers: admin, body: JSON.stringify({ content: 'staging runs on the blue cluster' }) });
      expect(stored.status).toBe(201);
      const rows = await pg.db.query<{ namespace: string; content: string }>('SELECT namespace, content FROM memory_records');
      expect(rows.rows).toEqual([{ namespace: `workspace:${id}`, content: 'staging runs on the blue cluster' }]);
      await server.close();

      ({ server } = await startE2eServer({ DATABASE_URL: pg.url, MOLECULE_PROVISIONER: 'none' }, 'molecule-memory-pg-'));
      const found = await fetch(`${server.url}/workspaces/${id}/memories?q=cluster`, { headers: admin });
      expect(((await found.json()) as { content: string }[]).map((m) => m.content)).toEqual(['staging runs on the blue cluster']);
    } finally {
      await server.close();
    }
  }, 120_000);
});
