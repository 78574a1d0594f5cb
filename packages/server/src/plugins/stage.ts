import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  MAX_PLUGIN_BYTES,
  MAX_PLUGIN_FILES,
  parsePluginManifest,
  PLUGIN_MANIFEST,
  PLUGIN_NAME,
  PLUGIN_SOURCE_SCHEMES,
  type PluginManifest,
} from '@molecule/contracts';
import tar from 'tar-stream';
import { parse as parseYaml } from 'yaml';
import type { AppDeps } from '../deps.js';
import { DomainError, invalid, notFound, unprocessable } from '../errors.js';
import { filesFromTar, filesFromZip, safeTemplatePath } from '../provisioning/template-install.js';
import { checkAgentUrl } from '../ssrf/agent-url.js';

/** A plugin read from its source and checked, held in memory (at most MAX_PLUGIN_BYTES) until it is installed or packed. */
export interface StagedPlugin {
  name: string;
  manifest: PluginManifest;
  /** Files by path relative to the plugin folder. */
  files: Map<string, Buffer>;
  /** The source as the caller gave it, normalised (`local://clock`). */
  source: string;
}

export type PluginSourceDeps = Pick<AppDeps, 'config' | 'pluginsDir' | 'agentUrlPolicy' | 'log'>;

/** How long fetching a git source may take. */
export const GIT_FETCH_TIMEOUT_MS = 120_000;
const GIT_REF = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;

const tooLarge = () => new DomainError('payload_too_large', `a plugin may hold at most ${MAX_PLUGIN_BYTES} bytes in ${MAX_PLUGIN_FILES} files`);
const invalidName = () => invalid('invalid plugin name: a folder name of letters, digits, . _ - (at most 64, not starting with . _ or -)');

/** The schemes this platform takes now (`file` only when MOLECULE_PLUGIN_SOURCE_DIRS names folders). */
export function availableSchemes(deps: Pick<AppDeps, 'config'>): string[] {
  return PLUGIN_SOURCE_SCHEMES.filter((s) => s !== 'file' || deps.config.pluginSourceDirs.length > 0);
}

/**
 * Checks a plugin's files: safe relative paths, within the caps, a `plugin.yaml` at the top (a single
 * top folder holding everything, as archives are often made, is taken off first) that is a valid
 * manifest, named `expectedName` when one is given. Refusals name the file and the rule (the
 * caller's own content), never platform internals.
 */
export function checkPluginFiles(input: ReadonlyMap<string, Buffer>, source: string, expectedName?: string): StagedPlugin {
  if (input.size === 0) throw unprocessable('the plugin has no files');
  if (input.size > MAX_PLUGIN_FILES) throw tooLarge();
  const files = new Map<string, Buffer>();
  let total = 0;
  for (const [raw, content] of input) {
    total += content.length;
    if (total > MAX_PLUGIN_BYTES) throw tooLarge();
    files.set(safeTemplatePath(raw), content);
  }
  const paths = [...files.keys()];
  const top = paths[0]!.split('/')[0]!;
  if (!files.has(PLUGIN_MANIFEST) && paths.every((p) => p.startsWith(`${top}/`))) {
    return checkPluginFiles(new Map(paths.map((p) => [p.slice(top.length + 1), files.get(p)!])), source, expectedName);
  }
  const yamlText = files.get(PLUGIN_MANIFEST);
  if (yamlText === undefined) throw unprocessable(`the plugin has no ${PLUGIN_MANIFEST} at its top`);
  let doc: unknown;
  try {
    doc = parseYaml(yamlText.toString('utf8'), { maxAliasCount: 100 });
  } catch {
    throw unprocessable(`${PLUGIN_MANIFEST} does not parse as YAML`);
  }
  const { manifest, issues } = parsePluginManifest(doc);
  if (!manifest) throw new DomainError('unprocessable', `${PLUGIN_MANIFEST} is not a valid plugin manifest`, { issues });
  if (expectedName !== undefined && manifest.name !== expectedName) {
    throw new DomainError('unprocessable', `source resolved to plugin "${manifest.name}" but "${expectedName}" was asked for`, {
      resolved_name: manifest.name,
      requested_name: expectedName,
    });
  }
  return { name: manifest.name, manifest, files, source };
}

/** Reads a plugin folder: files and folders only (a symlink or a special file is refused), within the caps. */
export async function readPluginFolder(dir: string, source: string, expectedName?: string): Promise<StagedPlugin> {
  const files = new Map<string, Buffer>();
  let total = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (rel === '' && entry.name === '.git') continue;
      const st = await lstat(path.join(dir, childRel));
      if (st.isSymbolicLink()) throw unprocessable(`plugin file "${childRel.slice(0, 200)}" is a symlink; plugins hold files and folders only`);
      if (st.isDirectory()) {
        await walk(childRel);
      } else if (st.isFile()) {
        total += st.size;
        if (total > MAX_PLUGIN_BYTES || files.size >= MAX_PLUGIN_FILES) throw tooLarge();
        files.set(childRel, await readFile(path.join(dir, childRel)));
      } else {
        throw unprocessable(`plugin file "${childRel.slice(0, 200)}" is not a regular file`);
      }
    }
  };
  await walk('');
  return checkPluginFiles(files, source, expectedName);
}

/** A plugin sent as the request body: a tar (optionally gzipped) or a zip archive (links, `..` and absolute entries refused). */
export async function stageArchive(archive: Buffer): Promise<StagedPlugin> {
  const isZip = archive[0] === 0x50 && archive[1] === 0x4b;
  const files = isZip ? await filesFromZip(archive, 'plugin') : await filesFromTar(archive, 'plugin');
  return checkPluginFiles(new Map(Object.entries(files)), 'upload');
}

/**
 * Resolves a plugin source and reads the plugin (`POST /workspaces/:id/plugins`, downloads):
 * - a bare name or `local://<name>`: the registry folder's plugin;
 * - `file:///<path>`: a folder under one of MOLECULE_PLUGIN_SOURCE_DIRS (off when none is set);
 * - `github://owner/repo#ref`, `git+https://host/repo.git#ref`, `git+http://...`: cloned with the
 *   platform's `git`, after the host passed the SSRF check (and pinned to the address checked); a
 *   ref (tag, branch or commit) is required unless PLUGIN_ALLOW_UNPINNED=true.
 * Errors carry canned text only (C188): 400 bad source, 404 not found, 413 too large, 422 not a
 * valid plugin or unpinned, 502/504 the fetch failed or timed out.
 */
export async function stagePlugin(deps: PluginSourceDeps, raw: string, expectedName?: string, signal?: AbortSignal): Promise<StagedPlugin> {
  const source = raw.trim();
  const sep = source.indexOf('://');
  if (sep < 0) {
    if (!PLUGIN_NAME.test(source) || source.includes('..')) throw invalid('invalid plugin source: a registry name, or <scheme>://<spec>', { available_schemes: availableSchemes(deps) });
    return stageLocal(deps, source, expectedName);
  }
  const scheme = source.slice(0, sep).toLowerCase();
  const spec = source.slice(sep + 3);
  if (!(availableSchemes(deps) as string[]).includes(scheme)) {
    throw invalid('failed to resolve plugin source: unknown or disabled scheme', { available_schemes: availableSchemes(deps) });
  }
  switch (scheme) {
    case 'local':
      if (!PLUGIN_NAME.test(spec) || spec.includes('..')) throw invalidName();
      return stageLocal(deps, spec, expectedName);
    case 'file':
      return stageFile(deps, spec, source, expectedName);
    case 'github': {
      const [repo, ref] = splitRef(spec);
      if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(repo) || repo.includes('..')) throw invalid('invalid plugin source: github://<owner>/<repo>#<ref>');
      return stageGit(deps, `https://github.com/${repo.replace(/\.git$/, '')}.git`, ref, source, expectedName, signal);
    }
    default: {
      const [url, ref] = splitRef(spec);
      return stageGit(deps, `${scheme.slice('git+'.length)}://${url}`, ref, source, expectedName, signal);
    }
  }
}

function splitRef(spec: string): [string, string | undefined] {
  const hash = spec.indexOf('#');
  return hash < 0 ? [spec, undefined] : [spec.slice(0, hash), spec.slice(hash + 1)];
}

async function stageLocal(deps: PluginSourceDeps, name: string, expectedName?: string): Promise<StagedPlugin> {
  const dir = path.join(deps.pluginsDir, name);
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw notFound(`plugin "${name}" is not in the registry`);
  return readPluginFolder(dir, `local://${name}`, expectedName ?? name);
}

async function stageFile(deps: PluginSourceDeps, spec: string, source: string, expectedName?: string): Promise<StagedPlugin> {
  if (!spec.startsWith('/')) throw invalid('invalid plugin source: file:///<absolute path>');
  let real: string;
  try {
    real = await realpath(decodeURIComponent(spec));
  } catch {
    throw notFound('no plugin folder at that path');
  }
  const allowed = await Promise.all(deps.config.pluginSourceDirs.map((d) => realpath(d).catch(() => undefined)));
  if (!allowed.some((d) => d !== undefined && (real === d || real.startsWith(d + path.sep)))) {
    throw invalid('file plugin sources must be under one of MOLECULE_PLUGIN_SOURCE_DIRS');
  }
  if (!(await lstat(real)).isDirectory()) throw notFound('no plugin folder at that path');
  return readPluginFolder(real, source, expectedName);
}

async function stageGit(deps: PluginSourceDeps, url: string, ref: string | undefined, source: string, expectedName: string | undefined, signal?: AbortSignal): Promise<StagedPlugin> {
  if (ref === undefined || ref === '') {
    if (!deps.config.pluginAllowUnpinned) throw unprocessable('unpinned git source: name a tag, branch or commit after # (e.g. #v1.0.0), or set PLUGIN_ALLOW_UNPINNED=true');
  } else if (!GIT_REF.test(ref) || ref.includes('..')) {
    throw invalid('invalid git ref: letters, digits, . _ / - (not starting with - or containing ..)');
  }
  const check = await checkAgentUrl(url, deps.agentUrlPolicy);
  if (!check.ok) {
    deps.log.warn({ source, reason: check.reason, detail: check.detail }, 'plugin git source refused');
    throw invalid(
      check.reason === 'private' || check.reason === 'blocked'
        ? 'the git URL points at an address the platform may not fetch from'
        : 'invalid plugin source: not a fetchable http(s) git URL without credentials',
    );
  }
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'molecule-plugin-'));
  try {
    const port = check.url.port || (check.url.protocol === 'https:' ? '443' : '80');
    const addr = check.addresses[0]!;
    const git = gitRunner(tmp, check.url.protocol.slice(0, -1), `${check.url.hostname.replace(/^\[|\]$/g, '')}:${port}:${isIP(addr) === 6 ? `[${addr}]` : addr}`);
    const deadline = AbortSignal.any([AbortSignal.timeout(GIT_FETCH_TIMEOUT_MS), ...(signal ? [signal] : [])]);
    const dir = path.join(tmp, 'src');
    try {
      await git(['clone', '--quiet', ...(ref ? ['--no-checkout'] : []), '--', check.url.href, dir], deadline);
      if (ref) {
        // A tag, a commit, or a branch (which a clone knows as origin/<branch>).
        let commit: string | undefined;
        for (const candidate of [ref, `origin/${ref}`]) {
          commit ??= await git(['-C', dir, 'rev-parse', '--verify', '--quiet', `${candidate}^{commit}`], deadline).catch(() => undefined);
        }
        if (!commit) throw new DomainError('not_found', 'failed to fetch plugin from git: repository or ref not found', { source });
        await git(['-C', dir, 'checkout', '--quiet', '--detach', commit.trim()], deadline);
      }
    } catch (err) {
      if (err instanceof DomainError) throw err;
      const stderr = (err as { stderr?: string }).stderr ?? '';
      deps.log.warn({ source, stderr: stderr.slice(0, 2000), err: (err as Error).message }, 'plugin git fetch failed');
      if (deadline.aborted) throw new DomainError('agent_timeout', 'fetching the plugin from git timed out', { source });
      if (/not found|did not match any|invalid reference|unknown revision|could not find|not a tree|returned error: 404/i.test(stderr)) {
        throw new DomainError('not_found', 'failed to fetch plugin from git: repository or ref not found', { source });
      }
      throw new DomainError('agent_error', 'failed to fetch plugin from git', { source });
    }
    return await readPluginFolder(dir, source, expectedName);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Runs git with nothing from the host's configuration, no prompts, no hooks, only the source's
 * protocol allowed (no `file`, `ext` or submodule transports), no redirects, and the host pinned to
 * the address the SSRF check passed (a DNS answer that changes in between is not followed).
 */
function gitRunner(home: string, protocol: string, resolve: string) {
  const config = ['protocol.allow=never', `protocol.${protocol}.allow=always`, 'http.followRedirects=false', `http.curloptResolve=${resolve}`, 'core.hooksPath=/dev/null', 'core.symlinks=true'];
  return (args: string[], signal: AbortSignal) =>
    new Promise<string>((resolveRun, reject) => {
      const child = spawn('git', [...config.flatMap((c) => ['-c', c]), ...args], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_ASKPASS: '/bin/false' },
        stdio: ['ignore', 'pipe', 'pipe'],
        signal,
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout = (stdout + String(d)).slice(-8000)));
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + String(d)).slice(-8000)));
      child.on('error', (err) => reject(Object.assign(err, { stderr })));
      child.on('close', (code) => (code === 0 ? resolveRun(stdout) : reject(Object.assign(new Error(`git exited with ${code}`), { stderr }))));
    });
}

/** The sha256 (hex) of a staged plugin's plugin.yaml. */
export const manifestSha256 = (p: StagedPlugin): string => createHash('sha256').update(p.files.get(PLUGIN_MANIFEST)!).digest('hex');

/** `sha256` given with an install: it must be that of the plugin's plugin.yaml (422 otherwise, nothing installed). */
export function checkSha256(p: StagedPlugin, expected: string | undefined): void {
  if (expected === undefined) return;
  const actual = manifestSha256(p);
  if (actual !== expected.toLowerCase()) throw new DomainError('unprocessable', `sha256 mismatch: expected ${expected.toLowerCase()}, got ${actual}`, { source: p.source });
}

/** A staged plugin as a gzipped tarball with its folder `<name>/` at the top (what `download` serves). */
export async function packPlugin(p: StagedPlugin): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  const mtime = new Date(0);
  for (const [rel, content] of [...p.files].sort(([a], [b]) => a.localeCompare(b))) {
    pack.entry({ name: `${p.name}/${rel}`, size: content.length, mode: 0o644, mtime }, content);
  }
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}
