import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  parseScript,
  RUNTIME_CAPABILITIES,
  SkillSchema,
  toSkill,
  zodIssues,
  type FieldIssue,
  type RuntimeCapability,
  type ScriptRule,
  type SkillConfig,
} from '@molecule/contracts';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';

/**
 * `config.yaml`: the workspace's own settings (adapter, model, prompt, skills, script, limits), its
 * schema and its loader. The environment is read in `config.ts`, which composes both.
 */

/** The adapters this runtime ships; `config.yaml`'s `adapter` names one of them, or `auto`. */
export const ADAPTER_NAMES = ['echo', 'script', 'openai', 'anthropic', 'claude-code', 'codex', 'openai-agents', 'langgraph', 'acp'] as const;
export type AdapterName = (typeof ADAPTER_NAMES)[number];
/** `auto` picks anthropic or openai from the model prefix or the keys present. */
export const ADAPTER_CHOICES = [...ADAPTER_NAMES, 'auto'] as const;

/** Used when neither MODEL nor config.yaml names a model. */
export const DEFAULT_MODELS = { openai: 'gpt-4o-mini', anthropic: 'claude-sonnet-4-5' } as const;

export const CONFIG_FILE = 'config.yaml';

/** What config.yaml's fields default to. */
export const FILE_DEFAULTS = {
  name: 'Workspace',
  version: '1.0.0',
  adapter: 'echo' as AdapterName,
  maxConcurrentTasks: 1,
  maxTokens: 4096,
  modelTimeoutSeconds: 300,
} as const;

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
  /** SDK adapters (openai-agents, langgraph, acp): seconds of silence from the model or agent before a turn fails. */
  model_timeout_seconds: number;
  openai_agents: OpenAIAgentsConfig | undefined;
  langgraph: LangGraphConfig | undefined;
  acp: AcpConfig | undefined;
}

/** `adapter: openai-agents`: which OpenAI API the agent speaks, and how many model turns one message may take. */
const OpenAIAgentsSchema = z.strictObject({
  api: z.enum(['chat_completions', 'responses']).default('chat_completions'),
  max_turns: z.number().int().min(1).max(100).default(10),
});
export type OpenAIAgentsConfig = z.infer<typeof OpenAIAgentsSchema>;

/** `adapter: langgraph`: the module (relative to the configs dir) whose default export builds the graph. */
const LangGraphSchema = z.strictObject({
  graph: z.string().min(1),
  recursion_limit: z.number().int().min(1).max(1000).default(25),
});
export type LangGraphConfig = z.infer<typeof LangGraphSchema>;

/** `adapter: acp`: the ACP agent's command line, and which permission requests it gets granted. */
const AcpSchema = z.strictObject({
  command: z.string().trim().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
  permissions: z.enum(['read_only', 'allow_all', 'deny_all']).default('read_only'),
  platform_tools: z.boolean().default(true),
});
export type AcpConfig = z.infer<typeof AcpSchema>;

/** config.yaml before `auto` is settled. */
export type FileConfig = Omit<WorkspaceConfig, 'adapter'> & { adapter: (typeof ADAPTER_CHOICES)[number] };

export type ConfigIssue = FieldIssue;
export { parseScript, type ScriptDelegate, type ScriptRule, type ScriptSendFiles, type ScriptStep, type ScriptTool, type SkillConfig } from '@molecule/contracts';

const FileSchema = z.object({
  name: z.string().trim().min(1).default(FILE_DEFAULTS.name),
  description: z.string().default(''),
  version: z.union([z.string().min(1), z.number()]).transform(String).default(FILE_DEFAULTS.version),
  adapter: z.enum(ADAPTER_CHOICES).default(FILE_DEFAULTS.adapter),
  model: z.string().min(1).optional(),
  system_prompt: z.string().optional(),
  skills: z.array(SkillSchema).default([]),
  max_concurrent_tasks: z.number().int().min(1).max(1000).default(FILE_DEFAULTS.maxConcurrentTasks),
  capabilities: z.unknown().optional(),
  idle_timeout_seconds: z.number().int().min(0).optional(),
  script: z.unknown().optional(),
  script_file: z.string().min(1).optional(),
  base_url: z.url({ protocol: /^https?$/ }).optional(),
  max_tokens: z.number().int().min(1).max(1_000_000).default(FILE_DEFAULTS.maxTokens),
  model_timeout_seconds: z.number().int().min(1).max(86_400).default(FILE_DEFAULTS.modelTimeoutSeconds),
  openai_agents: OpenAIAgentsSchema.optional(),
  langgraph: LangGraphSchema.optional(),
  acp: AcpSchema.optional(),
});

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

/** A file's text, or undefined when it does not exist. */
export async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Reads and validates `config.yaml` in the configs dir (a `script_file` too), collecting every problem
 * in `issues`; `modelOverride` (MODEL) wins over the file's model. No file means defaults.
 */
export async function loadWorkspaceFile(
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
  if (f.adapter === 'langgraph' && !f.langgraph) issues.push({ field: `${CONFIG_FILE} langgraph.graph`, message: 'is required when adapter is langgraph' });
  if (f.adapter === 'acp' && !f.acp) issues.push({ field: `${CONFIG_FILE} acp.command`, message: 'is required when adapter is acp' });

  const skills: SkillConfig[] = f.skills.map(toSkill);

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
      model_timeout_seconds: f.model_timeout_seconds,
      openai_agents: f.openai_agents,
      langgraph: f.langgraph,
      acp: f.acp,
    },
  };
}
