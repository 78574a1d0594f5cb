import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { RUNTIME_CAPABILITIES, type RuntimeCapability } from '@molecule/contracts';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';

/** The adapters this runtime ships; `config.yaml`'s `adapter` names one of them, or `auto`. */
export const ADAPTER_NAMES = ['echo', 'script', 'openai', 'anthropic'] as const;
export type AdapterName = (typeof ADAPTER_NAMES)[number];
/** `auto` picks anthropic or openai from the model prefix or the keys present. */
export const ADAPTER_CHOICES = [...ADAPTER_NAMES, 'auto'] as const;

/** Used when neither MODEL nor config.yaml names a model. */
export const DEFAULT_MODELS = { openai: 'gpt-4o-mini', anthropic: 'claude-sonnet-4-5' } as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const CONFIG_FILE = 'config.yaml';
export const AUTH_TOKEN_FILE = '.auth_token';
export const INBOUND_SECRET_FILE = '.platform_inbound_secret';

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  configsDir: '/configs',
  workspaceDir: '/workspace',
  /** C014: the in-container runtime beats well inside the platform's liveness window. */
  heartbeatIntervalSeconds: 20,
  logLevel: 'info' as LogLevel,
  name: 'Workspace',
  version: '1.0.0',
  adapter: 'echo' as AdapterName,
  maxConcurrentTasks: 1,
  maxTokens: 4096,
} as const;

/** A tool use a `script` step plays (reported as an agent_log activity row, C037). */
export interface ScriptTool {
  name: string;
  input?: string;
  output?: string;
  error?: string;
}
/** A `script` step that hands the message to a peer through the platform tools. */
export interface ScriptDelegate {
  /** The peer's workspace id, name or role. */
  to: string;
  /** What to send; `{{input}}` is the message text. */
  task: string;
}
/** One step of a `script` adapter run. */
export type ScriptStep = { reply: string } | { delay_ms: number } | { fail: string } | { tool: ScriptTool } | { delegate: ScriptDelegate };
/** A script rule: the first rule whose `match` (a regular expression) finds the input text runs. */
export interface ScriptRule {
  match: string | undefined;
  steps: ScriptStep[];
}

export interface SkillConfig {
  id: string;
  name: string;
  description: string;
  tags: string[];
  examples: string[];
}

/** `config.yaml`, validated, with MODEL applied. Unknown keys (runtime, tier...) are the platform's. */
export interface WorkspaceConfig {
  name: string;
  description: string;
  version: string;
  adapter: AdapterName;
  model: string | undefined;
  system_prompt: string | undefined;
  skills: SkillConfig[];
  max_concurrent_tasks: number;
  /** Only the capabilities the file names; the heartbeat fills the rest from the adapter. */
  capabilities: Partial<Record<RuntimeCapability, boolean>>;
  /** Absent or 0 means "no override" (C032). */
  idle_timeout_seconds: number | undefined;
  /** The script adapter's rules, from `script` or `script_file`. */
  script: ScriptRule[] | undefined;
  /** LLM adapters: the API base URL (OPENAI_BASE_URL / ANTHROPIC_BASE_URL override it). */
  base_url: string | undefined;
  /** LLM adapters: the reply length cap. */
  max_tokens: number;
}

/** config.yaml before `auto` is settled. */
type FileConfig = Omit<WorkspaceConfig, 'adapter'> & { adapter: (typeof ADAPTER_CHOICES)[number] };

/** Credentials and endpoints of the LLM adapters, from the environment. */
export interface LlmEnv {
  openaiApiKey: string | undefined;
  openaiBaseUrl: string | undefined;
  anthropicApiKey: string | undefined;
  anthropicBaseUrl: string | undefined;
}

/** Everything `molecule-agent` reads at boot, resolved once. */
export interface AgentConfig {
  /** Required when a platform is configured; optional for a standalone agent. */
  workspaceId: string | undefined;
  /** Without it the agent runs standalone: it serves A2A but never registers. */
  platformUrl: string | undefined;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** MOLECULE_WORKSPACE_URL: the URL to advertise verbatim (a tunnel, a container name). */
  publicUrl: string | undefined;
  token: string | undefined;
  /** Where the token came from; a file-sourced token is re-read after a 401. */
  tokenSource: 'env' | 'file' | 'none';
  parentId: string | undefined;
  configsDir: string;
  workspaceDir: string;
  /** Roots the platform may read files from (`GET /internal/file/read`); default configs + workspace dirs. */
  fileReadRoots: string[];
  heartbeatIntervalMs: number;
  logLevel: LogLevel;
  llm: LlmEnv;
  workspace: WorkspaceConfig;
  /** False when config.yaml was missing and defaults were used. */
  configFileFound: boolean;
}

export interface ConfigIssue {
  /** The variable (`PORT`) or the file field (`config.yaml max_concurrent_tasks`) at fault. */
  field: string;
  message: string;
}

/** A startup error that names every bad field; `molecule-agent` prints it and exits 2. */
export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid molecule-agent configuration:\n${issues.map((i) => `  - ${i.field}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const SkillSchema = z.union([
  z.string().min(1),
  z
    .object({
      id: z.string().min(1).optional(),
      name: z.string().min(1),
      description: z.string().default(''),
      tags: z.array(z.string()).default([]),
      examples: z.array(z.string()).default([]),
    })
    .strict(),
]);

const FileSchema = z.object({
  name: z.string().trim().min(1).default(DEFAULTS.name),
  description: z.string().default(''),
  version: z.union([z.string().min(1), z.number()]).transform(String).default(DEFAULTS.version),
  adapter: z.enum(ADAPTER_CHOICES).default(DEFAULTS.adapter),
  model: z.string().min(1).optional(),
  system_prompt: z.string().optional(),
  skills: z.array(SkillSchema).default([]),
  max_concurrent_tasks: z.number().int().min(1).max(1000).default(DEFAULTS.maxConcurrentTasks),
  capabilities: z.unknown().optional(),
  idle_timeout_seconds: z.number().int().min(0).optional(),
  script: z.unknown().optional(),
  script_file: z.string().min(1).optional(),
  base_url: z.url({ protocol: /^https?$/ }).optional(),
  max_tokens: z.number().int().min(1).max(1_000_000).default(DEFAULTS.maxTokens),
});

const StepSchema = z
  .object({
    reply: z.string().optional(),
    delay_ms: z.number().int().min(0).max(3_600_000).optional(),
    fail: z.string().optional(),
    tool: z
      .object({ name: z.string().min(1).max(256), input: z.string().optional(), output: z.string().optional(), error: z.string().optional() })
      .strict()
      .optional(),
    delegate: z
      .object({ to: z.string().trim().min(1).max(256), task: z.string().min(1).max(100_000).default('{{input}}') })
      .strict()
      .optional(),
  })
  .strict()
  .refine((s) => Object.keys(s).length === 1, { message: 'a step has exactly one of reply, delay_ms, fail, tool, delegate' });

const RuleSchema = z
  .object({
    match: z
      .string()
      .refine(isValidRegex, { message: 'not a valid regular expression' })
      .optional(),
    steps: z.array(StepSchema).min(1),
  })
  .strict();

function isValidRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/**
 * A script is either a list of steps (run for every message) or a list of rules
 * (`{match?, steps}`, first match wins). Issues are reported under `field`.
 */
export function parseScript(raw: unknown, field: string): { rules?: ScriptRule[]; issues: ConfigIssue[] } {
  const isRuleList = Array.isArray(raw) && raw.some((e) => typeof e === 'object' && e !== null && 'steps' in e);
  const result = isRuleList ? z.array(RuleSchema).min(1).safeParse(raw) : z.array(StepSchema).min(1).safeParse(raw);
  if (!result.success) return { issues: zodIssues(result.error, field) };
  const rules: ScriptRule[] = isRuleList
    ? (result.data as z.infer<typeof RuleSchema>[]).map((r) => ({ match: r.match, steps: r.steps.map(toStep) }))
    : [{ match: undefined, steps: (result.data as z.infer<typeof StepSchema>[]).map(toStep) }];
  return { rules, issues: [] };
}

function toStep(s: z.infer<typeof StepSchema>): ScriptStep {
  if (s.reply !== undefined) return { reply: s.reply };
  if (s.delay_ms !== undefined) return { delay_ms: s.delay_ms };
  if (s.tool !== undefined) return { tool: s.tool };
  if (s.delegate !== undefined) return { delegate: s.delegate };
  return { fail: s.fail ?? '' };
}

function zodIssues(error: z.ZodError, prefix: string): ConfigIssue[] {
  return error.issues.map((i) => ({
    field: [prefix, ...i.path.map(String)].filter(Boolean).join('.').replace(/^(config\.yaml)\./, '$1 '),
    message: i.message,
  }));
}

const KNOWN_CAPABILITIES: readonly string[] = RUNTIME_CAPABILITIES;

/** `capabilities` is a list of names (each declared true) or a map of name -> boolean. */
function parseCapabilities(raw: unknown, issues: ConfigIssue[]): Partial<Record<RuntimeCapability, boolean>> {
  const field = `${CONFIG_FILE} capabilities`;
  const known = `known capabilities: ${RUNTIME_CAPABILITIES.join(', ')}`;
  const out: Partial<Record<RuntimeCapability, boolean>> = {};
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object') {
    issues.push({ field, message: 'must be a list of capability names or a map of name: true|false' });
    return out;
  }
  const entries: [string, unknown][] = Array.isArray(raw)
    ? raw.map((name, i) => (typeof name === 'string' ? [name, true] : [`[${i}]`, name]))
    : Object.entries(raw);
  for (const [name, value] of entries) {
    if (!KNOWN_CAPABILITIES.includes(name)) {
      issues.push({ field: `${field}.${name}`, message: `unknown capability (${known})` });
    } else if (typeof value !== 'boolean') {
      issues.push({ field: `${field}.${name}`, message: 'must be true or false' });
    } else {
      out[name as RuntimeCapability] = value;
    }
  }
  return out;
}

function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'skill'
  );
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Reads the workspace token: the env var wins, then `<configs dir>/.auth_token`. */
export async function readToken(
  env: Env,
  configsDir: string,
): Promise<{ token: string | undefined; source: AgentConfig['tokenSource'] }> {
  const fromEnv = env.MOLECULE_WORKSPACE_TOKEN?.trim();
  if (fromEnv) return { token: fromEnv, source: 'env' };
  const fromFile = (await readOptional(path.join(configsDir, AUTH_TOKEN_FILE)))?.trim();
  return fromFile ? { token: fromFile, source: 'file' } : { token: undefined, source: 'none' };
}

/**
 * Reads every setting `molecule-agent` uses, once: the environment plus `config.yaml` in the configs
 * dir. A missing config.yaml means defaults (the echo adapter). Every bad value is collected and
 * thrown as one {@link ConfigError} naming each field: the agent refuses to start half-configured.
 */
export async function loadConfig(env: Env = process.env): Promise<AgentConfig> {
  const issues: ConfigIssue[] = [];
  const bad = (field: string, message: string) => issues.push({ field, message });
  const str = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const uuid = (name: string): string | undefined => {
    const v = str(name);
    if (v !== undefined && !z.uuid().safeParse(v).success) bad(name, `must be a UUID (got ${JSON.stringify(v)})`);
    return v;
  };
  const httpUrl = (name: string): string | undefined => {
    const v = str(name);
    if (v === undefined) return undefined;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      bad(name, `must be an http(s) URL (got ${JSON.stringify(v)})`);
      return undefined;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      bad(name, `must be an http(s) URL (got ${JSON.stringify(v)})`);
      return undefined;
    }
    return v.replace(/\/+$/, '');
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = str(name);
    if (v === undefined) return def;
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      bad(name, `must be a whole number from ${min} to ${max} (got ${JSON.stringify(v)})`);
      return def;
    }
    return n;
  };

  const platformUrl = httpUrl('PLATFORM_URL');
  const workspaceId = uuid('WORKSPACE_ID');
  if (platformUrl && workspaceId === undefined) bad('WORKSPACE_ID', 'is required when PLATFORM_URL is set');
  const parentId = uuid('PARENT_ID');
  const port = int('PORT', DEFAULTS.port, 0, 65535);
  const host = str('HOST') ?? DEFAULTS.host;
  const publicUrl = httpUrl('MOLECULE_WORKSPACE_URL');
  const heartbeatIntervalMs = int('MOLECULE_HEARTBEAT_INTERVAL_SECONDS', DEFAULTS.heartbeatIntervalSeconds, 1, 3600) * 1000;
  const configsDir = path.resolve(str('MOLECULE_CONFIGS_DIR') ?? DEFAULTS.configsDir);
  const workspaceDir = path.resolve(str('MOLECULE_WORKSPACE_DIR') ?? DEFAULTS.workspaceDir);
  const fileReadRoots = (str('MOLECULE_FILE_READ_ROOTS')?.split(':').filter(Boolean) ?? [configsDir, workspaceDir]).map((r) => {
    if (!path.isAbsolute(r)) bad('MOLECULE_FILE_READ_ROOTS', `must be absolute paths separated by ':' (got ${JSON.stringify(r)})`);
    return path.resolve(r);
  });
  const rawLevel = str('LOG_LEVEL') ?? DEFAULTS.logLevel;
  const logLevel = (LOG_LEVELS as readonly string[]).includes(rawLevel) ? (rawLevel as LogLevel) : DEFAULTS.logLevel;
  if (logLevel !== rawLevel) bad('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(rawLevel)})`);

  let token: string | undefined;
  let tokenSource: AgentConfig['tokenSource'] = 'none';
  try {
    ({ token, source: tokenSource } = await readToken(env, configsDir));
    if (platformUrl && token === undefined) {
      bad('MOLECULE_WORKSPACE_TOKEN', `is required when PLATFORM_URL is set (or write the token to ${path.join(configsDir, AUTH_TOKEN_FILE)})`);
    }
  } catch (err) {
    bad(path.join(configsDir, AUTH_TOKEN_FILE), `cannot be read (${(err as Error).message})`);
  }

  const llm: LlmEnv = {
    openaiApiKey: str('OPENAI_API_KEY'),
    openaiBaseUrl: httpUrl('OPENAI_BASE_URL'),
    anthropicApiKey: str('ANTHROPIC_API_KEY'),
    anthropicBaseUrl: httpUrl('ANTHROPIC_BASE_URL'),
  };
  const { workspace: file, found } = await loadWorkspaceFile(configsDir, str('MODEL'), issues);
  const workspace: WorkspaceConfig | undefined = file && { ...file, adapter: resolveAdapter(file, llm, issues) };

  if (issues.length > 0 || !workspace) throw new ConfigError(issues);
  return {
    workspaceId,
    platformUrl,
    host,
    port,
    publicUrl,
    token,
    tokenSource,
    parentId,
    configsDir,
    workspaceDir,
    fileReadRoots,
    heartbeatIntervalMs,
    logLevel,
    llm,
    workspace,
    configFileFound: found,
  };
}

async function loadWorkspaceFile(
  configsDir: string,
  modelOverride: string | undefined,
  issues: ConfigIssue[],
): Promise<{ workspace?: FileConfig; found: boolean }> {
  const file = path.join(configsDir, CONFIG_FILE);
  let text: string | undefined;
  try {
    text = await readOptional(file);
  } catch (err) {
    issues.push({ field: CONFIG_FILE, message: `cannot be read (${(err as Error).message})` });
    return { found: false };
  }
  let raw: unknown = {};
  if (text !== undefined) {
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
      issues.push({ field: CONFIG_FILE, message: `is not valid YAML${where}: ${(err as Error).message.split('\n')[0]}` });
      return { found: true };
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      issues.push({ field: CONFIG_FILE, message: 'must be a YAML mapping of settings' });
      return { found: true };
    }
  }
  const parsed = FileSchema.safeParse(raw);
  // Capabilities are checked even when other fields are bad, so one run reports every problem.
  const capabilities = parseCapabilities((raw as Record<string, unknown>).capabilities, issues);
  if (!parsed.success) {
    issues.push(...zodIssues(parsed.error, CONFIG_FILE));
    return { found: text !== undefined };
  }
  const f = parsed.data;

  let script: ScriptRule[] | undefined;
  if (f.script !== undefined && f.script_file !== undefined) {
    issues.push({ field: `${CONFIG_FILE} script_file`, message: 'give either script or script_file, not both' });
  } else if (f.script !== undefined) {
    const r = parseScript(f.script, `${CONFIG_FILE} script`);
    issues.push(...r.issues);
    script = r.rules;
  } else if (f.script_file !== undefined) {
    const scriptPath = path.resolve(configsDir, f.script_file);
    try {
      const r = parseScript(parseYaml(await readFile(scriptPath, 'utf8')), `${CONFIG_FILE} script_file (${f.script_file})`);
      issues.push(...r.issues);
      script = r.rules;
    } catch (err) {
      issues.push({ field: `${CONFIG_FILE} script_file`, message: `cannot be loaded from ${scriptPath} (${(err as Error).message.split('\n')[0]})` });
    }
  } else if (f.adapter === 'script') {
    issues.push({ field: `${CONFIG_FILE} script`, message: 'is required when adapter is script (or give script_file)' });
  }


  const skills: SkillConfig[] = f.skills.map((s) =>
    typeof s === 'string'
      ? { id: slug(s), name: s, description: '', tags: [], examples: [] }
      : { id: s.id ?? slug(s.name), name: s.name, description: s.description, tags: s.tags, examples: s.examples },
  );

  return {
    found: text !== undefined,
    workspace: {
      name: f.name,
      description: f.description,
      version: f.version,
      adapter: f.adapter,
      model: modelOverride ?? f.model,
      system_prompt: f.system_prompt,
      skills,
      max_concurrent_tasks: f.max_concurrent_tasks,
      capabilities,
      idle_timeout_seconds: f.idle_timeout_seconds || undefined,
      script,
      base_url: f.base_url,
      max_tokens: f.max_tokens,
    },
  };
}

/**
 * Settles `auto` and checks an LLM adapter has what it needs: `auto` follows the model's provider
 * prefix, else the keys present (Anthropic first); openai needs a key or a base URL (keyless local
 * endpoints), anthropic a key.
 */
function resolveAdapter(ws: FileConfig, llm: LlmEnv, issues: ConfigIssue[]): AdapterName {
  let adapter = ws.adapter;
  const openaiReachable = Boolean(llm.openaiApiKey || llm.openaiBaseUrl || ws.base_url);
  if (adapter === 'auto') {
    if (ws.model?.startsWith('anthropic:')) adapter = 'anthropic';
    else if (ws.model?.startsWith('openai:')) adapter = 'openai';
    else if (llm.anthropicApiKey) adapter = 'anthropic';
    else if (openaiReachable) adapter = 'openai';
    else {
      issues.push({ field: `${CONFIG_FILE} adapter`, message: 'auto needs ANTHROPIC_API_KEY or OPENAI_API_KEY (or OPENAI_BASE_URL for a keyless endpoint)' });
      return 'echo';
    }
  }
  if (adapter === 'openai' && !openaiReachable) {
    issues.push({ field: 'OPENAI_API_KEY', message: 'is required for the openai adapter (or set OPENAI_BASE_URL / base_url for a keyless OpenAI-compatible endpoint)' });
  }
  if (adapter === 'anthropic' && !llm.anthropicApiKey) issues.push({ field: 'ANTHROPIC_API_KEY', message: 'is required for the anthropic adapter' });
  return adapter;
}
