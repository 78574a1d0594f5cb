import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CliError } from './errors.js';

import { ADMIN_TOKEN_FILE, DEFAULT_DATA_DIR, DEFAULT_PLATFORM_URL as DEFAULT_URL } from '@molecule/contracts';

export { DEFAULT_URL };

export interface ConnectionFlags {
  url?: string;
  token?: string;
  dataDir?: string;
}

export interface Connection {
  baseUrl: string;
  token: string;
  /** Where the token came from, for error hints ("--token", "MOLECULE_ADMIN_TOKEN", a file path). */
  tokenSource: string;
}

type Env = Record<string, string | undefined>;

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v.trim());

/**
 * Which platform to talk to and with which credential. URL: `--url`, MOLECULE_URL, then
 * http://127.0.0.1:8080. Token: `--token`, MOLECULE_ADMIN_TOKEN, ADMIN_TOKEN (what the server itself
 * reads), then the file the server generates, `<--data-dir | MOLECULE_DATA_DIR | ./.molecule>/admin_token`.
 * Throws CliError when the URL is not http(s) or no token can be found.
 */
export async function resolveConnection(flags: ConnectionFlags, env: Env, cwd: string): Promise<Connection> {
  const rawUrl = nonEmpty(flags.url) ?? nonEmpty(env.MOLECULE_URL) ?? DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new CliError(`invalid platform URL "${rawUrl}": expected something like ${DEFAULT_URL}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`invalid platform URL "${rawUrl}": the scheme must be http or https`);
  }
  const baseUrl = url.toString().replace(/\/+$/, '');

  const fromFlag = nonEmpty(flags.token);
  if (fromFlag) return { baseUrl, token: fromFlag, tokenSource: '--token' };
  for (const name of ['MOLECULE_ADMIN_TOKEN', 'ADMIN_TOKEN'] as const) {
    const v = nonEmpty(env[name]);
    if (v) return { baseUrl, token: v, tokenSource: name };
  }
  const dataDir = path.resolve(cwd, nonEmpty(flags.dataDir) ?? nonEmpty(env.MOLECULE_DATA_DIR) ?? DEFAULT_DATA_DIR);
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new CliError(`no admin token: ${file} does not exist`, [
        'pass --token, set MOLECULE_ADMIN_TOKEN, or point --data-dir (MOLECULE_DATA_DIR) at the data dir of a platform started with `npm start`',
      ]);
    }
    throw new CliError(`cannot read the admin token file ${file} (${code ?? 'unknown error'})`);
  }
  if (token === '') throw new CliError(`the admin token file ${file} is empty`);
  return { baseUrl, token, tokenSource: file };
}
