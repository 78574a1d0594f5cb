import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { createExternal, createWs } from '../test-support/api.js';
import { startWithFakeBackend, type FakeBackend } from '../test-support/fake-provisioner.js';
import type { TestApp } from '../test-support/harness.js';
import { getWorkspace } from '../workspaces/repo.js';
import { hashToken } from './tokens.js';
import { InboundSecrets } from './inbound.js';

describe('the platform inbound secret', () => {
  let t: TestApp;
  let fake: FakeBackend;
  beforeAll(async () => {
    ({ t, fake } = await startWithFakeBackend());
  });
  afterAll(async () => t.close());
  const stored = async (id: string) => (await t.db.query<{ s: string | null }>('SELECT platform_inbound_secret AS s FROM workspaces WHERE id = $1', [id])).rows[0]!.s;

  it('C204 is a plaintext column apart from the hashed tokens, minted at create and again at every re-provision, and handed to the agent', async () => {
    const w = await createWs(t, { name: 'inbound-rotates' });
    await expect.poll(() => stored(w.id)).toMatch(/^mol_in_/);
    const first = (await stored(w.id))!;
    const spec = fake.specs.find((s) => s.workspace.id === w.id)!;
    expect(spec.secretFiles['.platform_inbound_secret']).toBe(first);
    // Not a token: no token row holds its hash.
    expect((await t.db.query('SELECT 1 FROM workspace_auth_tokens WHERE token_hash = $1', [hashToken(first)])).rowCount).toBe(0);
    expect(await t.deps.inboundSecrets.read(w.id)).toBe(first);
    await t.app.inject({ method: 'POST', url: `/workspaces/${w.id}/restart`, headers: t.admin });
    await expect.poll(() => fake.specs.filter((s) => s.workspace.id === w.id).length).toBe(2);
    const second = (await stored(w.id))!;
    expect(second).not.toBe(first);
    // The start wrote it through: the cache answers the new one, not the five-minute-old read.
    expect(await t.deps.inboundSecrets.read(w.id)).toBe(second);
  });

  it('C205 read-or-heal: present -> (secret, not healed); missing -> minted and stored (healed); no such workspace or a failed read -> an error', async () => {
    const ext = await createExternal(t, { name: 'inbound-heal' });
    const box = new InboundSecrets(t.db);
    await t.db.query('UPDATE workspaces SET platform_inbound_secret = NULL WHERE id = $1', [ext.id]);
    const healed = await box.readOrHeal(ext.id);
    expect(healed.healed).toBe(true);
    expect(await stored(ext.id)).toBe(healed.secret);
    expect(await box.readOrHeal(ext.id)).toEqual({ secret: healed.secret, healed: false });
    await expect(box.readOrHeal('00000000-0000-4000-8000-0000000000ff')).rejects.toThrow(/not found/);
    const broken = new InboundSecrets({ ...t.db, query: async () => Promise.reject(new Error('connection refused')) } as typeof t.db);
    await expect(broken.readOrHeal(ext.id)).rejects.toThrow('connection refused');
    expect((await getWorkspace(t.db, ext.id))!.status).toBe(Status.AwaitingAgent);
  });

  it('C206 reads are cached for 5 minutes per workspace, "none" is never cached, issue writes through, reset forgets', async () => {
    const w = await createExternal(t, { name: 'inbound-cache' });
    let now = 1_000_000;
    const box = new InboundSecrets(t.db, { now: () => now });
    // An external workspace gets its secret when its agent registers; give it one here.
    expect(await box.read(w.id)).toBeNull();
    await t.db.query("UPDATE workspaces SET platform_inbound_secret = 'first' WHERE id = $1", [w.id]);
    const first = (await box.read(w.id))!;
    expect(first).toBe('first');
    await t.db.query("UPDATE workspaces SET platform_inbound_secret = 'changed-behind-its-back' WHERE id = $1", [w.id]);
    now += 4 * 60_000;
    expect(await box.read(w.id)).toBe(first); // still within 5 minutes
    now += 61_000;
    expect(await box.read(w.id)).toBe('changed-behind-its-back');
    box.issued(w.id, 'issued-now');
    expect(await box.read(w.id)).toBe('issued-now');
    box.reset();
    expect(await box.read(w.id)).toBe('changed-behind-its-back');
    await t.db.query('UPDATE workspaces SET platform_inbound_secret = NULL WHERE id = $1', [w.id]);
    box.reset();
    expect(await box.read(w.id)).toBeNull();
    await t.db.query("UPDATE workspaces SET platform_inbound_secret = 'set-later' WHERE id = $1", [w.id]);
    expect(await box.read(w.id)).toBe('set-later'); // the null was not cached
  });
});
