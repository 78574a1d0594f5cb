import { RUNTIMES, WorkspaceName, WorkspaceRole, type Runtime, type TemplateSummary } from '@molecule/contracts';
import { z } from 'zod';
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { Logger } from '../log.js';
import type { WorkspaceRow } from '../workspaces/read.js';

/** The repository's `templates/` folder: one folder per workspace template (config.yaml + files). */
export const DEFAULT_TEMPLATES_DIR = fileURLToPath(new URL('../../../../templates/', import.meta.url));

/** A template folder larger than this is refused (when provisioning and when imported). */
export const MAX_TEMPLATE_BYTES = 4 * 1024 * 1024;

export async function templateExists(templatesDir: string, name: string): Promise<boolean> {
  try {
    return (await stat(path.join(templatesDir, name, 'config.yaml'))).isFile();
  } catch {
    return false;
  }
}

/**
 * The files a workspace starts with: its template's folder when it names one, otherwise a minimal
 * config.yaml (the echo adapter, so a fresh workspace answers without any LLM key). Symlinks and
 * anything but regular files are skipped; a template over 4 MiB is refused.
 */
export async function templateFiles(templatesDir: string, ws: WorkspaceRow): Promise<Record<string, string>> {
  if (!ws.template) {
    return { 'config.yaml': `name: ${JSON.stringify(ws.name)}\nadapter: echo\n${ws.model ? `model: ${JSON.stringify(ws.model)}\n` : ''}` };
  }
  return readTemplateFolder(templatesDir, ws.template);
}

/** A template folder's regular files by `/`-separated relative path (symlinks and the like skipped); over 4 MiB is an error. */
export async function readTemplateFolder(templatesDir: string, name: string): Promise<Record<string, string>> {
  const root = path.join(templatesDir, name);
  const out: Record<string, string> = {};
  let total = 0;
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) {
        const text = await readFile(full, 'utf8');
        total += Buffer.byteLength(text);
        if (total > MAX_TEMPLATE_BYTES) throw new Error(`template ${name} is larger than ${MAX_TEMPLATE_BYTES} bytes`);
        out[path.relative(root, full).split(path.sep).join('/')] = text;
      }
    }
  };
  await walk(root);
  return out;
}

/** One template folder's manifest, as far as the platform reads it. */
export interface TemplateManifest {
  /** The folder name: what a workspace's `template` names. */
  name: string;
  /** `runtime:`, when the manifest declares one. */
  runtime: string | undefined;
  /** `runtime_config.provision_timeout_seconds`, when a whole number of seconds in 1..7 days. */
  provisionTimeoutSeconds: number | undefined;
  /** `max_concurrent_tasks`, when a whole number in 1..1000: what a workspace made from it gets by default. */
  maxConcurrentTasks: number | undefined;
  /** What `GET /templates` shows of it (C189-C191). */
  summary: TemplateSummary;
  /** `sub_workspaces:`: the team `POST /workspaces/:id/expand` creates under a workspace of this template (C199). */
  team: TeamMember[];
}

/** One entry of a template's `sub_workspaces:` (`config` is upstream's name for `template`). */
export interface TeamMember {
  name: string;
  role?: string;
  template?: string;
  runtime?: Runtime;
  model?: string;
}

const TeamEntry = z.strictObject({
  name: WorkspaceName,
  role: WorkspaceRole.optional(),
  template: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/).max(200).optional(),
  config: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/).max(200).optional(),
  runtime: z.enum(RUNTIMES).optional(),
  model: z.string().min(1).max(100).optional(),
});
const TeamList = z.array(TeamEntry).max(100);


const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.trim() !== '').map((x) => x.trim()) : []);
const record = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** The summary fields of a parsed manifest (C189-C191): unknown shapes are left out, never guessed. */
export function templateSummary(id: string, doc: Record<string, unknown>, provisionTimeoutSeconds: number | undefined): TemplateSummary {
  const rc = record(doc.runtime_config) ?? {};
  const skills = Array.isArray(doc.skills) ? doc.skills.map((sk) => (typeof sk === 'string' ? sk : str(record(sk)?.name))).filter((x): x is string => x !== undefined) : [];
  const models = Array.isArray(rc.models)
    ? rc.models
        .map((m) => record(m))
        .filter((m): m is Record<string, unknown> => m !== undefined && str(m.id) !== undefined)
        .map((m) => ({ id: str(m.id)!, ...(str(m.name) ? { name: str(m.name)! } : {}), ...(strings(m.required_env).length > 0 ? { required_env: strings(m.required_env) } : {}) }))
    : [];
  const registry = record(doc.providers);
  const tier = typeof doc.tier === 'number' && Number.isInteger(doc.tier) && doc.tier >= 1 && doc.tier <= 4 ? doc.tier : undefined;
  return {
    id,
    name: str(doc.name) ?? id,
    description: str(doc.description) ?? '',
    ...(tier !== undefined ? { tier } : {}),
    runtime: str(doc.runtime) ?? '',
    model: str(doc.model) ?? str(rc.model) ?? '',
    ...(models.length > 0 ? { models } : {}),
    ...(strings(rc.required_env).length > 0 ? { required_env: strings(rc.required_env) } : {}),
    skills,
    skill_count: skills.length,
    ...(provisionTimeoutSeconds !== undefined ? { provision_timeout_seconds: provisionTimeoutSeconds } : {}),
    providers: strings(rc.providers),
    // The top-level `providers:` block, in file order; absent when the template has none (never null, C190).
    ...(registry
      ? {
          provider_registry: Object.entries(registry).map(([name, raw]) => {
            const e = record(raw) ?? {};
            // base_url is a plain string: null or absent is "" (C191).
            return { name, auth_env: strings(e.auth_env), model_prefixes: strings(e.model_prefixes), model_aliases: strings(e.model_aliases), base_url: str(e.base_url) ?? '' };
          }),
        }
      : {}),
  };
}

/** Every template's manifest, with the per-runtime view the provision timeout needs. */
export interface TemplateCatalog {
  byName: ReadonlyMap<string, TemplateManifest>;
  /**
   * Per runtime, the largest provision timeout any template of that runtime declares: a slow
   * template's window is never cut short by a fast one's.
   */
  maxTimeoutByRuntime: ReadonlyMap<string, number>;
}

const MAX_MANIFEST_BYTES = 1024 * 1024;
const MAX_PROVISION_TIMEOUT_SECONDS = 7 * 24 * 3600;

/**
 * Template manifests (each folder's `config.yaml`), read from disk at most once per `ttlMs` (30 s)
 * per templates dir, concurrent readers sharing one read. Hot paths (`GET /workspaces`, each sweep
 * pass) cost a map lookup, and an operator's edit to a template is picked up within the TTL without
 * a restart. A manifest that cannot be read or parsed, or declares a bad value, is skipped and
 * logged once; a missing templates dir is an empty catalog. Never rejects.
 */
export class TemplateManifests {
  private readonly cache = new Map<string, { at: number; catalog: Promise<TemplateCatalog> }>();
  private readonly warned = new Set<string>();

  constructor(private readonly opts: { ttlMs?: number; now?: () => number; log?: Logger } = {}) {}

  /** Forgets what was read of a templates dir (a template was just installed there). */
  invalidate(templatesDir: string): void {
    this.cache.delete(templatesDir);
  }

  catalog(templatesDir: string): Promise<TemplateCatalog> {
    const now = (this.opts.now ?? Date.now)();
    const hit = this.cache.get(templatesDir);
    if (hit && now - hit.at < (this.opts.ttlMs ?? 30_000)) return hit.catalog;
    const catalog = this.read(templatesDir);
    this.cache.set(templatesDir, { at: now, catalog });
    return catalog;
  }

  private async read(dir: string): Promise<TemplateCatalog> {
    const byName = new Map<string, TemplateManifest>();
    const maxTimeoutByRuntime = new Map<string, number>();
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      this.warnOnce(dir, '', 'templates dir unreadable; no template declares a provision timeout', err);
      return { byName, maxTimeoutByRuntime };
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const manifest = await this.readManifest(dir, e.name);
      if (!manifest) continue;
      byName.set(manifest.name, manifest);
      const { runtime, provisionTimeoutSeconds: secs } = manifest;
      if (runtime !== undefined && secs !== undefined && secs > (maxTimeoutByRuntime.get(runtime) ?? 0)) maxTimeoutByRuntime.set(runtime, secs);
    }
    return { byName, maxTimeoutByRuntime };
  }

  private async readManifest(dir: string, name: string): Promise<TemplateManifest | undefined> {
    const file = path.join(dir, name, 'config.yaml');
    let doc: unknown;
    try {
      const st = await stat(file);
      if (!st.isFile()) return undefined;
      if (st.size > MAX_MANIFEST_BYTES) throw new Error(`larger than ${MAX_MANIFEST_BYTES} bytes`);
      doc = parseYaml(await readFile(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      this.warnOnce(dir, name, 'template manifest unreadable; skipped', err);
      return undefined;
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      this.warnOnce(dir, name, 'template manifest is not a YAML mapping; skipped');
      return undefined;
    }
    const m = doc as { runtime?: unknown; runtime_config?: { provision_timeout_seconds?: unknown } | null; max_concurrent_tasks?: unknown };
    const runtime = typeof m.runtime === 'string' && m.runtime.trim() !== '' ? m.runtime.trim() : undefined;
    const raw = typeof m.runtime_config === 'object' && m.runtime_config !== null ? m.runtime_config.provision_timeout_seconds : undefined;
    let provisionTimeoutSeconds: number | undefined;
    if (raw !== undefined && raw !== null) {
      if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 && raw <= MAX_PROVISION_TIMEOUT_SECONDS) provisionTimeoutSeconds = raw;
      else this.warnOnce(dir, name, `runtime_config.provision_timeout_seconds must be a whole number of seconds in 1..${MAX_PROVISION_TIMEOUT_SECONDS}; ignored`);
    }
    let maxConcurrentTasks: number | undefined;
    const slots = m.max_concurrent_tasks;
    if (slots !== undefined && slots !== null) {
      if (typeof slots === 'number' && Number.isInteger(slots) && slots >= 1 && slots <= 1000) maxConcurrentTasks = slots;
      else this.warnOnce(dir, name, 'max_concurrent_tasks must be a whole number in 1..1000; ignored');
    }
    let team: TeamMember[] = [];
    const sub = (doc as { sub_workspaces?: unknown }).sub_workspaces;
    if (sub !== undefined && sub !== null) {
      const parsed = TeamList.safeParse(sub);
      if (parsed.success && new Set(parsed.data.map((e) => e.name)).size === parsed.data.length) {
        team = parsed.data.map(({ config, template, ...e }) => ({ ...e, ...((template ?? config) ? { template: template ?? config } : {}) }));
      } else {
        this.warnOnce(dir, name, 'sub_workspaces must be a list of {name, role?, template?, runtime?, model?} with distinct names; ignored');
      }
    }
    return { name, runtime, provisionTimeoutSeconds, maxConcurrentTasks, summary: templateSummary(name, doc as Record<string, unknown>, provisionTimeoutSeconds), team };
  }

  private warnOnce(dir: string, template: string, message: string, err?: unknown): void {
    const key = `${dir}\0${template}\0${message}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.opts.log?.warn({ templates_dir: dir, template: template || undefined, err }, message);
  }
}
