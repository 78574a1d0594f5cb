import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * A small private file in the data dir (mode 0600) that is generated once and then reused: the
 * admin token, the development secrets key. Processes sharing the data dir may start together, so
 * the value is written to a temporary file and linked into place, which either creates the whole
 * file or fails because another process already did (then its value is used): nobody ever reads a
 * half-written file or keeps a value the others do not have.
 */
export async function readOrCreatePrivateFile(
  dataDir: string,
  name: string,
  generate: () => string,
): Promise<{ value: string; created: boolean; file: string }> {
  const file = path.join(dataDir, name);
  const existing = await readPrivate(file);
  if (existing !== undefined) return { value: existing, created: false, file };
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dataDir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}`);
  await writeFile(tmp, `${generate()}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, file);
    return { value: (await readPrivate(file))!, created: true, file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { value: (await readPrivate(file))!, created: false, file };
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function readPrivate(file: string): Promise<string | undefined> {
  try {
    const value = (await readFile(file, 'utf8')).trim();
    await chmod(file, 0o600);
    return value;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
