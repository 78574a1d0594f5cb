import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StartupError } from '../auth/admin-token.js';
import { migratedDb } from '../test-support/harness.js';
import { parseSecretsKey, resolveSecretsKey, SecretBox, SecretDecryptError, SECRETS_KEY_FILE, verifySecretsKey } from './crypto.js';

describe('secret sealing', () => {
  it('seals with AES-256-GCM in a versioned envelope: a fresh IV each time, opened only with the same key and place', () => {
    const box = SecretBox.random();
    const a = box.seal('sk-live-123', 'global:OPENAI_API_KEY');
    const b = box.seal('sk-live-123', 'global:OPENAI_API_KEY');
    expect(a).toMatch(/^v1\.[\w-]{16}\.[\w-]{22}\.[\w-]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('sk-live');
    expect(box.open(a, 'global:OPENAI_API_KEY')).toBe('sk-live-123');
    // Another key, another place (a sealed value copied to another key or workspace), a damaged envelope: refused, never garbage.
    expect(() => SecretBox.random().open(a, 'global:OPENAI_API_KEY')).toThrow(SecretDecryptError);
    expect(() => box.open(a, 'global:OTHER_KEY')).toThrow(SecretDecryptError);
    expect(() => box.open(a.slice(0, -2) + (a.endsWith('A') ? 'B' : 'A') + a.at(-1), 'global:OPENAI_API_KEY')).toThrow(SecretDecryptError);
    expect(() => box.open('plaintext', 'global:OPENAI_API_KEY')).toThrow(/envelope version/);
    expect(() => box.open(`v2${a.slice(2)}`, 'global:OPENAI_API_KEY')).toThrow(SecretDecryptError);
  });

  it('reads SECRETS_ENCRYPTION_KEY as base64, base64url or hex of 32 bytes, or 32 characters; anything else is a startup error saying what is expected', () => {
    const key = Buffer.alloc(32, 7);
    expect(parseSecretsKey(key.toString('base64'))).toEqual(key);
    expect(parseSecretsKey(key.toString('base64url'))).toEqual(key);
    expect(parseSecretsKey(key.toString('hex'))).toEqual(key);
    expect(parseSecretsKey('x'.repeat(32))).toEqual(Buffer.from('x'.repeat(32)));
    for (const bad of ['', 'short', Buffer.alloc(16).toString('base64'), 'x'.repeat(33)]) {
      expect(() => parseSecretsKey(bad)).toThrow(StartupError);
      expect(() => parseSecretsKey(bad)).toThrow(/32 bytes/);
    }
  });
});

describe('the secrets key', () => {
  it('is required in production; in development one is generated into the data dir (0600) and reused', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-secrets-key-'));
    await expect(resolveSecretsKey({ secretsEncryptionKey: undefined, env: 'production', dataDir })).rejects.toThrow(/required when MOLECULE_ENV=production/);
    const first = await resolveSecretsKey({ secretsEncryptionKey: undefined, env: 'development', dataDir });
    expect(first.source).toBe('generated');
    expect((await stat(path.join(dataDir, SECRETS_KEY_FILE))).mode & 0o777).toBe(0o600);
    const again = await resolveSecretsKey({ secretsEncryptionKey: undefined, env: 'development', dataDir });
    expect(again.source).toBe('file');
    expect(again.box.open(first.box.seal('v', 'c'), 'c')).toBe('v');
    // The environment wins over the file.
    const env = await resolveSecretsKey({ secretsEncryptionKey: Buffer.alloc(32, 1).toString('base64'), env: 'production', dataDir });
    expect(env.source).toBe('env');
    // A damaged key file is a startup error naming the file, not a new key (which would orphan every secret).
    await writeFile(path.join(dataDir, SECRETS_KEY_FILE), 'not a key\n');
    await expect(resolveSecretsKey({ secretsEncryptionKey: undefined, env: 'development', dataDir })).rejects.toThrow(/secrets\.key does not hold a valid secrets key/);
    expect(await readFile(path.join(dataDir, SECRETS_KEY_FILE), 'utf8')).toBe('not a key\n');
  });

  it('processes sharing a data dir that start together all end up with the one generated key (never a half-written file)', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-secrets-race-'));
    const keys = await Promise.all(Array.from({ length: 20 }, () => resolveSecretsKey({ secretsEncryptionKey: undefined, env: 'development', dataDir })));
    expect(keys.filter((k) => k.source === 'generated')).toHaveLength(1);
    const sealed = keys[0]!.box.seal('v', 'c');
    expect(keys.every((k) => k.box.open(sealed, 'c') === 'v')).toBe(true);
    expect(await readdir(dataDir)).toEqual([SECRETS_KEY_FILE]);
  });

  it('a different key than the one stored secrets were sealed with is a clear startup error; the same key passes; with none stored any key is taken', async () => {
    const t = await migratedDb('pglite');
    const db = t.db;
    try {
      // With no secret stored yet, a new key simply becomes the key (nothing could fail to open).
      await verifySecretsKey(db, SecretBox.random());
      const box = SecretBox.random();
      await verifySecretsKey(db, box);
      await db.query(`INSERT INTO global_secrets (key, value) VALUES ('K', $1)`, [box.seal('v', 'global:K')]);
      await verifySecretsKey(db, box);
      await expect(verifySecretsKey(db, SecretBox.random())).rejects.toThrow(/not the key the stored secrets were sealed with/);
      // The refused key changed nothing: the right one still passes.
      await verifySecretsKey(db, box);
    } finally {
      await t.drop();
    }
  });
});
