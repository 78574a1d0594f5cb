import { z } from 'zod';

/** Longest secret value accepted (64 KiB of UTF-8). */
export const MAX_SECRET_VALUE_BYTES = 64 * 1024;

/**
 * Names the platform sets itself in an agent's environment: a secret may not take them (it would
 * re-point the agent at another platform or workspace).
 */
export const RESERVED_SECRET_KEYS: readonly string[] = ['WORKSPACE_ID', 'PLATFORM_URL', 'PARENT_ID', 'MODEL', 'MOLECULE_MAX_CONCURRENT_TASKS'];

/** A secret's name: an environment variable name (it becomes one in the agent's environment). */
export const SecretKey = z
  .string({ error: 'key is required' })
  .min(1, 'key is required')
  .max(128, 'key must be at most 128 characters')
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'key must be an environment variable name: letters, digits and _, not starting with a digit')
  .refine((k) => !RESERVED_SECRET_KEYS.includes(k) && !k.startsWith('MOLECULE_'), 'key is set by the platform itself (WORKSPACE_ID, PLATFORM_URL, PARENT_ID, MODEL, MOLECULE_*)');

export const SecretValue = z
  .string({ error: 'value is required' })
  .min(1, 'value must not be empty')
  .refine((v) => new TextEncoder().encode(v).length <= MAX_SECRET_VALUE_BYTES, `value must be at most ${MAX_SECRET_VALUE_BYTES} bytes`);

/** `PUT/POST /settings/secrets` and `/workspaces/:id/secrets`. */
export const SetSecretBody = z.strictObject({ key: SecretKey, value: SecretValue });
export type SetSecretBody = z.infer<typeof SetSecretBody>;

/** Where a workspace's effective secret comes from: the org (global), an ancestor, or the workspace itself. */
export const SECRET_SCOPES = ['global', 'ancestor', 'workspace'] as const;
export type SecretScope = (typeof SECRET_SCOPES)[number];

/** A secret as lists show it: never its value. */
export const SecretView = z.object({
  key: z.string(),
  has_value: z.literal(true),
  scope: z.enum(SECRET_SCOPES),
  /** For `ancestor` and `workspace`: the workspace that holds it. */
  workspace_id: z.uuid().optional(),
  workspace_name: z.string().optional(),
  /** For a workspace's list: the layers this one overrides, nearest first (`global`, or ancestors' names). */
  overrides: z.array(z.string()).optional(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type SecretView = z.infer<typeof SecretView>;

/** A change to a secret: the workspaces whose agents run with an old value until they restart. */
export const SecretChange = z.object({
  status: z.enum(['saved', 'deleted']),
  key: z.string(),
  scope: z.enum(['global', 'workspace']),
  /** Workspaces that get this key from the changed layer and run with the old value until restarted. */
  restart_required: z.array(z.uuid()),
  /** Those restarted because the request asked (`?restart=true`). */
  restarted: z.array(z.uuid()),
});
export type SecretChange = z.infer<typeof SecretChange>;

/** The workspace secret a workspace's chosen model is kept in (upstream's name), so restarts keep it (C126). */
export const MODEL_SECRET = 'MODEL_PROVIDER';
/** The workspace secret its provider is kept in (C207). */
export const PROVIDER_SECRET = 'LLM_PROVIDER';
/**
 * Secrets that describe one workspace's own choice: they come from the workspace itself (or the
 * org-wide default), never from an ancestor; a lead's model is not its members' model.
 */
export const NOT_INHERITED_SECRETS: readonly string[] = [MODEL_SECRET, PROVIDER_SECRET];

/**
 * Model-slug prefixes (`<prefix>/<model>`) and the provider each means (C127). `openai/` and
 * `nousresearch/` mean OpenRouter at provision time (it reaches both without more configuration;
 * a runtime may still pick a direct provider when it finds that provider's key).
 */
export const PROVIDER_OF_PREFIX: Readonly<Record<string, string>> = {
  anthropic: 'anthropic',
  gemini: 'gemini',
  'google-gemini-cli': 'google-gemini-cli',
  deepseek: 'deepseek',
  minimax: 'minimax',
  'minimax-cn': 'minimax-cn',
  'minimax-oauth': 'minimax-oauth',
  zai: 'zai',
  'kimi-coding': 'kimi-coding',
  'kimi-coding-cn': 'kimi-coding-cn',
  alibaba: 'alibaba',
  dashscope: 'alibaba',
  qwen: 'alibaba',
  'alibaba-coding-plan': 'alibaba-coding-plan',
  'qwen-oauth': 'qwen-oauth',
  xiaomi: 'xiaomi',
  mimo: 'xiaomi',
  arcee: 'arcee',
  'arcee-ai': 'arcee',
  nvidia: 'nvidia',
  nim: 'nvidia',
  'ollama-cloud': 'ollama-cloud',
  huggingface: 'huggingface',
  hf: 'huggingface',
  'ai-gateway': 'ai-gateway',
  aigateway: 'ai-gateway',
  kilocode: 'kilocode',
  'opencode-zen': 'opencode-zen',
  'opencode-go': 'opencode-go',
  xai: 'xai',
  grok: 'xai',
  bedrock: 'bedrock',
  aws: 'bedrock',
  tencent: 'tencent-tokenhub',
  'tencent-tokenhub': 'tencent-tokenhub',
  gmi: 'gmi',
  lmstudio: 'lmstudio',
  'lm-studio': 'lmstudio',
  'openai-codex': 'openai-codex',
  'copilot-acp': 'copilot-acp',
  copilot: 'copilot',
  openrouter: 'openrouter',
  custom: 'custom',
  openai: 'openrouter',
  nousresearch: 'openrouter',
};

/** The provider a model slug's prefix names (C127); "" for no prefix or an unknown one (nothing is guessed). */
export function providerFromModel(model: string): string {
  const slash = model.indexOf('/');
  if (slash <= 0) return '';
  return Object.hasOwn(PROVIDER_OF_PREFIX, model.slice(0, slash)) ? PROVIDER_OF_PREFIX[model.slice(0, slash)]! : '';
}

/** `PUT /workspaces/:id/model`: a model slug; "" clears the choice. */
export const SetModelBody = z.strictObject({
  model: z.string({ error: 'model is required ("" clears it)' }).max(100, 'model must be at most 100 characters').refine((s) => !/[\r\n]/.test(s), 'model must not contain line breaks'),
});
/** `PUT /workspaces/:id/provider`: a provider slug; "" clears it. */
export const SetProviderBody = z.strictObject({
  provider: z
    .string({ error: 'provider is required ("" clears it)' })
    .max(64, 'provider must be at most 64 characters')
    .regex(/^$|^[a-z0-9][a-z0-9._-]*$/, 'provider must be a slug: lowercase letters, digits, ".", "_" and "-"'),
});
