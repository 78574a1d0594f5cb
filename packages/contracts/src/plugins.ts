import { z } from 'zod';
import { parseScript, SkillSchema, zodIssues, type FieldIssue, type ScriptRule } from './script.js';

/**
 * Plugins: a folder with a `plugin.yaml` manifest (what it is, which runtimes it suits, the skills it
 * adds to the agent card, the commands `molecule-agent` answers with it) and any other files. The
 * platform installs one into `/configs/plugins/<name>/` of a workspace; the agent loads every
 * installed plugin at start and again when the platform asks it to.
 */

/** The manifest's file name, at the top of a plugin folder. */
export const PLUGIN_MANIFEST = 'plugin.yaml';
/** Where installed plugins live, relative to the agent's configs dir (`/configs/plugins/<name>/`). */
export const PLUGINS_CONFIG_DIR = 'plugins';
/** A plugin may hold at most this many bytes, in at most `MAX_PLUGIN_FILES` files. */
export const MAX_PLUGIN_BYTES = 4 * 1024 * 1024;
export const MAX_PLUGIN_FILES = 500;

/** A plugin name: a plain folder name (letters, digits, `.`, `_`, `-`; not starting with `.`, `_` or `-`), at most 64 characters. */
export const PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const PluginName = z
  .string()
  .regex(PLUGIN_NAME, { error: 'invalid plugin name: a folder name of letters, digits, . _ - (at most 64, not starting with . _ or -)' })
  .refine((n) => !n.includes('..'), { error: 'invalid plugin name: ".." is not allowed' });

/**
 * `plugin.yaml`. Unknown keys are ignored (manifests written for other platforms carry their own).
 * `commands` are script rules (the script adapter's language) that each need a `match`: a message
 * one of them matches is answered by the plugin instead of the agent's adapter.
 */
export const PluginManifestSchema = z.object({
  name: PluginName,
  version: z.union([z.string().min(1).max(64), z.number()]).transform(String).default('0.0.0'),
  description: z.string().max(2000).default(''),
  author: z.string().max(200).default(''),
  tags: z.array(z.string().max(64)).max(50).default([]),
  /** The runtimes the plugin works with; empty means every runtime `molecule-agent` runs. */
  runtimes: z.array(z.string().min(1).max(64)).max(50).default([]),
  skills: z.array(SkillSchema).max(100).default([]),
  commands: z.unknown().optional(),
});
export type PluginManifestFile = z.infer<typeof PluginManifestSchema>;

/** A checked manifest: its commands parsed into script rules. */
export type PluginManifest = Omit<PluginManifestFile, 'commands'> & { commands: ScriptRule[] };

/**
 * Parses a `plugin.yaml` document (already YAML-decoded): the manifest, or every problem found.
 * Each command must be a rule with a `match`, else every message would go to the plugin.
 */
export function parsePluginManifest(raw: unknown): { manifest?: PluginManifest; issues: FieldIssue[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { issues: [{ field: PLUGIN_MANIFEST, message: 'must be a YAML mapping' }] };
  const parsed = PluginManifestSchema.safeParse(raw);
  if (!parsed.success) return { issues: zodIssues(parsed.error, PLUGIN_MANIFEST) };
  const { commands: rawCommands, ...rest } = parsed.data;
  if (rawCommands === undefined) return { manifest: { ...rest, commands: [] }, issues: [] };
  const field = `${PLUGIN_MANIFEST} commands`;
  const isRuleList = Array.isArray(rawCommands) && rawCommands.every((e) => typeof e === 'object' && e !== null && 'steps' in e);
  if (!isRuleList) return { issues: [{ field, message: 'must be a list of {match, steps} rules' }] };
  const r = parseScript(rawCommands, field);
  if (!r.rules) return { issues: r.issues };
  const unmatched = r.rules.findIndex((rule) => rule.match === undefined);
  if (unmatched >= 0) return { issues: [{ field: `${field}.${unmatched}.match`, message: 'is required: a command answers only the messages it matches' }] };
  return { manifest: { ...rest, commands: r.rules }, issues: [] };
}

/** Whether a plugin made for `runtimes` works on `runtime`: an empty list suits every runtime; `-` and `_` count as the same. */
export function pluginSupportsRuntime(runtimes: readonly string[] | null | undefined, runtime: string): boolean {
  if (!runtimes || runtimes.length === 0) return true;
  const norm = (s: string) => s.toLowerCase().replaceAll('_', '-');
  return runtimes.some((r) => norm(r) === norm(runtime));
}

/** A plugin as the API lists it (upstream's pluginInfo). */
export const PluginInfo = z.object({
  name: z.string(),
  version: z.string(),
  description: z.string(),
  author: z.string(),
  tags: z.array(z.string()).nullable(),
  /** The names of the skills it adds. */
  skills: z.array(z.string()).nullable(),
  runtimes: z.array(z.string()).nullable(),
  /** How many commands it answers. */
  commands: z.number().int().nonnegative(),
  /** Set where a workspace (or a `runtime` query) is known: whether the plugin works on its runtime. */
  supported_on_runtime: z.boolean().optional(),
  /** Set on installed plugins whose manifest is missing or broken: why (they are ignored by the agent). */
  error: z.string().optional(),
});
export type PluginInfo = z.infer<typeof PluginInfo>;

/** The API's view of a manifest. */
export function pluginInfo(m: PluginManifest, runtime?: string): PluginInfo {
  return {
    name: m.name,
    version: m.version,
    description: m.description,
    author: m.author,
    tags: m.tags,
    skills: m.skills.map((s) => (typeof s === 'string' ? s : s.name)),
    runtimes: m.runtimes,
    commands: m.commands.length,
    ...(runtime === undefined ? {} : { supported_on_runtime: pluginSupportsRuntime(m.runtimes, runtime) }),
  };
}

/** The source schemes `POST /workspaces/:id/plugins` takes (`GET /plugins/sources`). */
export const PLUGIN_SOURCE_SCHEMES = ['local', 'github', 'git+https', 'git+http', 'file'] as const;
export type PluginSourceScheme = (typeof PLUGIN_SOURCE_SCHEMES)[number];

export const PluginSources = z.object({
  schemes: z.array(z.string()),
  /** The registry folder's plugins can be named bare (`clock`) or as `local://clock`. */
  registry: z.string(),
  /** Whether git sources must name a tag or commit (`#v1.0`); PLUGIN_ALLOW_UNPINNED=true lifts it. */
  pinned_git_required: z.boolean(),
  /** An archive (tar, tar.gz or zip) may also be sent as the request body. */
  archive_upload: z.boolean(),
});
export type PluginSources = z.infer<typeof PluginSources>;

export const InstallPluginBody = z.strictObject({
  source: z.string({ error: "'source' is required (a registry name, local://<name>, github://owner/repo#ref, git+https://host/repo.git#ref or file:///path)" }).trim().min(1, { error: "'source' is required" }).max(2048),
  /** The sha256 (hex) of the plugin's plugin.yaml, checked before anything is installed. */
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, { error: 'sha256 must be 64 hex characters' })
    .optional(),
});
export type InstallPluginBody = z.infer<typeof InstallPluginBody>;

/**
 * How a change reached the agent: `hot_loaded` (the running agent reloaded its plugins: new skills on
 * its card, new commands answered), `restarting` (it could not be asked, so it restarts to apply).
 */
export const PluginApplied = z.enum(['hot_loaded', 'restarting']);

export const InstallPluginResult = z.object({
  status: z.literal('installed'),
  plugin: z.string(),
  source: z.string(),
  version: z.string(),
  applied: PluginApplied,
});
export type InstallPluginResult = z.infer<typeof InstallPluginResult>;

export const UninstallPluginResult = z.object({ status: z.literal('uninstalled'), plugin: z.string(), applied: PluginApplied });
export type UninstallPluginResult = z.infer<typeof UninstallPluginResult>;

export const PluginCompatibility = z.object({
  target_runtime: z.string(),
  compatible: z.array(PluginInfo),
  incompatible: z.array(PluginInfo),
  all_compatible: z.boolean(),
});
export type PluginCompatibility = z.infer<typeof PluginCompatibility>;
