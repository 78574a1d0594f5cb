import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { importSettled, tallyImport, type EnvRequirement, type ImportTally, type OrgImportResult, type WorkspaceView } from '@molecule/contracts';
import { CliError } from './errors.js';

/** Counts the import's workspaces by status; a workspace no longer listed counts as removed. */
export function tally(ids: readonly string[], workspaces: readonly WorkspaceView[]): ImportTally {
  const byId = new Map(workspaces.map((w) => [w.id, w.status]));
  return tallyImport(ids, (id) => byId.get(id), true);
}

/** `[#########...........]  9/20 online  1 failed  10 starting`, as wide as `width` cells of bar. */
export function progressLine(t: ImportTally, width = 30): string {
  const done = t.online + t.failed + t.awaiting + t.removed;
  const filled = t.total === 0 ? width : Math.round((done / t.total) * width);
  const starting = t.total - done;
  const parts = [`${t.online}/${t.total} online`];
  if (t.failed > 0) parts.push(`${t.failed} failed`);
  if (t.awaiting > 0) parts.push(`${t.awaiting} awaiting their agent`);
  if (t.removed > 0) parts.push(`${t.removed} removed`);
  if (starting > 0) parts.push(`${starting} starting`);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]  ${parts.join('  ')}`;
}

/**
 * What `molecule org import <arg>` sends: a local folder holding org.yaml (or the file itself) is
 * read and sent inline; anything else names an org template on the platform.
 */
export async function importSource(arg: string, cwd: string): Promise<{ dir: string } | { template: unknown; file: string }> {
  const full = path.resolve(cwd, arg);
  let st;
  try {
    st = await stat(full);
  } catch {
    if (arg.includes('/') || arg.includes(path.sep) || /\.ya?ml$/.test(arg)) throw new CliError(`no such file or folder: ${arg}`);
    return { dir: arg };
  }
  const candidates = st.isDirectory() ? [path.join(full, 'org.yaml'), path.join(full, 'org.yml')] : [full];
  for (const file of candidates) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    try {
      return { template: parseYaml(text, { maxAliasCount: 100 }) as unknown, file };
    } catch (err) {
      throw new CliError(`${file} does not parse as YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  throw new CliError(`${arg} has no org.yaml`);
}

/** A requirement in words: `KEY`, or `one of A, B`. */
export const envWords = (r: EnvRequirement) => (typeof r === 'string' ? r : `one of ${r.any_of.join(', ')}`);

export interface FollowOptions {
  /** Reads the workspaces (GET /workspaces). */
  list: () => Promise<WorkspaceView[]>;
  /** Progress output (stderr). */
  write: (s: string) => void;
  /** Redraw one line in place (a terminal) rather than print a line per change. */
  tty: boolean;
  timeoutMs: number;
  pollMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Follows an import until every workspace has settled or the deadline passes, drawing the progress
 * bar. Answers the last tally and the workspaces that failed, with their error.
 */
export async function followImport(result: OrgImportResult, opts: FollowOptions): Promise<{ tally: ImportTally; failed: WorkspaceView[]; timedOut: boolean }> {
  const ids = result.workspaces.map((w) => w.id);
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + opts.timeoutMs;
  let last = '';
  for (;;) {
    const workspaces = await opts.list();
    const t = tally(ids, workspaces);
    const line = progressLine(t);
    if (line !== last) {
      opts.write(opts.tty ? `\r\x1b[2K${line}` : `${line}\n`);
      last = line;
    }
    const done = importSettled(t);
    if (done || now() >= deadline) {
      if (opts.tty) opts.write('\n');
      const wanted = new Set(ids);
      return { tally: t, failed: workspaces.filter((w) => wanted.has(w.id) && w.status === 'failed'), timedOut: !done };
    }
    await sleep(opts.pollMs ?? 500);
  }
}
