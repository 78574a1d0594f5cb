import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSecretFile, writeSecretFileAtomic } from './secret-file.js';

const tmpdir = () => mkdtemp(path.join(os.tmpdir(), 'molecule-secret-'));

describe('writeSecretFileAtomic (C034)', () => {
  it('C034: writes with mode 0600 and leaves no temp file', async () => {
    const dir = await tmpdir();
    const file = path.join(dir, '.platform_inbound_secret');
    await writeSecretFileAtomic(file, 'top-secret');
    expect(await readFile(file, 'utf8')).toBe('top-secret');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['.platform_inbound_secret']);
  });

  it('C034: replaces an existing file by rename (new inode, 0600 even if it was 0644)', async () => {
    const dir = await tmpdir();
    const file = path.join(dir, 'secret');
    await writeFile(file, 'old', { mode: 0o644 });
    const before = await stat(file);
    await writeSecretFileAtomic(file, 'new');
    const after = await stat(file);
    expect(after.ino).not.toBe(before.ino);
    expect(after.mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toBe('new');
  });

  it('throws on failure and cleans up its temp file, leaving the target untouched', async () => {
    const dir = await tmpdir();
    const target = path.join(dir, 'secret');
    await mkdir(target);
    await expect(writeSecretFileAtomic(target, 'x')).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['secret']);
    expect((await stat(target)).isDirectory()).toBe(true);
  });

  it('readSecretFile trims, and treats missing or blank as undefined', async () => {
    const dir = await tmpdir();
    expect(await readSecretFile(path.join(dir, 'none'))).toBeUndefined();
    await writeFile(path.join(dir, 'blank'), '  \n');
    expect(await readSecretFile(path.join(dir, 'blank'))).toBeUndefined();
    await writeFile(path.join(dir, 'tok'), 'abc\n');
    expect(await readSecretFile(path.join(dir, 'tok'))).toBe('abc');
  });
});
