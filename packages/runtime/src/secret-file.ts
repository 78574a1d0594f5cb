import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes `value` to `file` atomically with mode 0600: a sibling temp file created exclusively with
 * 0600, flushed, then renamed over the target, so a reader sees the old secret or the new one,
 * never a torn or world-readable file. Throws on failure (the temp file is removed first).
 */
export async function writeSecretFileAtomic(file: string, value: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(value, 'utf8');
      await fh.chmod(0o600); // the umask cannot widen it, but an odd one could narrow it oddly
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    // Best effort: the write's own error is the one worth reporting.
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** The file's trimmed content, or undefined when it does not exist. */
export async function readSecretFile(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
