import { z } from 'zod';
import { RUNTIME_NAMES } from './runtimes.js';
import { WORKSPACE_STATUSES } from './status.js';

/** How the platform delivers inbound A2A messages to a workspace (C010). */
export const DELIVERY_MODES = ['push', 'poll'] as const;
export type DeliveryMode = (typeof DELIVERY_MODES)[number];

/**
 * Runtimes a workspace may declare: the names of the runtime registry (runtimes.ts), which says
 * what runs each one. `molecule` is this project's own agent (`molecule-agent`); `external` is an
 * agent an operator runs elsewhere.
 */
export const RUNTIMES = RUNTIME_NAMES;
export type Runtime = (typeof RUNTIMES)[number];
export const DEFAULT_RUNTIME: Runtime = 'molecule';
export const EXTERNAL_RUNTIME: Runtime = 'external';

/** Resource tiers: 1 (smallest) .. 4 (largest); the Docker backend's limits per tier are in docs/configuration.md. */
export const TIERS = [1, 2, 3, 4] as const;
export type Tier = (typeof TIERS)[number];
export const DEFAULT_TIER: Tier = 2;

/** 0 or omitted means this (C131). */
export const DEFAULT_MAX_CONCURRENT_TASKS = 1;

const forbiddenNameChars = /[{}[\]|>*&!]/;
const noLineBreaks = (s: string) => !/[\r\n]/.test(s);

export const WorkspaceName = z
  .string()
  .trim()
  .min(1, 'name is required')
  .max(255, 'name must be at most 255 characters')
  .refine(noLineBreaks, 'name must not contain line breaks')
  .refine((s) => !forbiddenNameChars.test(s), 'name must not contain any of {}[]|>*&!');

export const WorkspaceRole = z
  .string()
  .max(1000, 'role must be at most 1000 characters')
  .refine(noLineBreaks, 'role must not contain line breaks')
  .refine((s) => !forbiddenNameChars.test(s), 'role must not contain any of {}[]|>*&!');

/** Accepts the wire integer 1..4 (upstream) or the label "T1".."T4"; yields the integer. */
export const TierInput = z.union([
  z.number().int().min(1).max(4),
  z.enum(['T1', 'T2', 'T3', 'T4']).transform((t) => Number(t.slice(1))),
]) as z.ZodType<number>;

/** Minutes without A2A traffic after which the workspace is hibernated; null: never (the default). */
export const HibernationIdleMinutes = z.number().int().min(1).max(525_600).nullable();

export const CreateWorkspaceBody = z.strictObject({
  name: WorkspaceName,
  role: WorkspaceRole.optional(),
  parent_id: z.uuid().nullable().optional(),
  runtime: z.enum(RUNTIMES).optional(),
  template: z
    .string()
    .max(200)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'template must be a template folder name')
    .optional(),
  model: z.string().max(100).refine(noLineBreaks, 'model must not contain line breaks').optional(),
  tier: TierInput.optional(),
  budget_limit: z.number().int().min(0).nullable().optional(),
  max_concurrent_tasks: z.number().int().min(0).max(1000).optional(),
  delivery_mode: z.enum(DELIVERY_MODES).optional(),
  hibernation_idle_minutes: HibernationIdleMinutes.optional(),
});
export type CreateWorkspaceBody = z.infer<typeof CreateWorkspaceBody>;

/** A canvas coordinate: finite and within a range no screen needs more of. */
export const CanvasCoordinate = z.number().min(-1_000_000).max(1_000_000);

export const UpdateWorkspaceBody = z
  .strictObject({
    name: WorkspaceName.optional(),
    role: WorkspaceRole.nullable().optional(),
    parent_id: z.uuid().nullable().optional(),
    hibernation_idle_minutes: HibernationIdleMinutes.optional(),
    /** Where the canvas shows it, relative to its parent's box; null for both: laid out automatically. */
    x: CanvasCoordinate.nullable().optional(),
    y: CanvasCoordinate.nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'body must set at least one of name, role, parent_id, hibernation_idle_minutes, x and y')
  .refine((b) => (b.x === undefined) === (b.y === undefined) && (b.x === null) === (b.y === null), 'x and y must be set together (both numbers, or both null)');
export type UpdateWorkspaceBody = z.infer<typeof UpdateWorkspaceBody>;

/** The workspace as every API answer shows it. Secrets (inbound secret, token hashes) never appear. */
export const WorkspaceView = z.object({
  id: z.uuid(),
  name: z.string(),
  role: z.string().nullable(),
  parent_id: z.uuid().nullable(),
  runtime: z.string(),
  template: z.string().nullable(),
  model: z.string().nullable(),
  tier: z.number().int(),
  status: z.enum(WORKSPACE_STATUSES),
  url: z.string(),
  delivery_mode: z.enum(DELIVERY_MODES),
  agent_card: z.unknown().nullable(),
  current_task: z.string(),
  active_tasks: z.number().int(),
  max_concurrent_tasks: z.number().int(),
  last_error_rate: z.number(),
  last_sample_error: z.string(),
  last_heartbeat_at: z.string().nullable(),
  budget_limit: z.number().int().nullable(),
  hibernation_idle_minutes: z.number().int().nullable(),
  instance_id: z.string().nullable(),
  runtime_image_digest: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  removed_at: z.string().nullable(),
  /**
   * Where the canvas shows it, relative to its parent's box (to the canvas for a root); null until a
   * user places it (the canvas lays it out itself). Upstream answers 0 for "never placed".
   */
  x: z.number().nullable(),
  y: z.number().nullable(),
  /** Its secrets changed since its agent started: a restart applies them. */
  restart_pending: z.boolean(),
  /**
   * How long the workspace may stay provisioning before it is marked failed, when its template
   * declares it (`runtime_config.provision_timeout_seconds` x 1000) or the operator set
   * PROVISION_TIMEOUT_SECONDS; absent when the built-in per-runtime default applies (C162).
   */
  provision_timeout_ms: z.number().int().positive().optional(),
});
export type WorkspaceView = z.infer<typeof WorkspaceView>;

/** What an external agent needs to connect; the token is shown exactly once (C019). */
/**
 * The connect snippets of an external workspace (C268), in the canvas's tab order (C273): each a
 * paste-ready text stamped with its id, the platform URL and its token.
 */
export const CONNECT_SNIPPETS = [
  { field: 'universal_mcp_snippet', label: 'Universal MCP' },
  { field: 'python_snippet', label: 'Python' },
  { field: 'claude_code_channel_snippet', label: 'Claude Code' },
  { field: 'hermes_snippet', label: 'Hermes' },
  { field: 'codex_snippet', label: 'Codex' },
  { field: 'openclaw_snippet', label: 'OpenClaw' },
  { field: 'curl_register_template', label: 'curl' },
] as const;
export type ConnectSnippetField = (typeof CONNECT_SNIPPETS)[number]['field'];
export type ConnectSnippets = Record<ConnectSnippetField, string>;

export const ExternalConnection = z.object({
  workspace_id: z.uuid(),
  platform_url: z.string(),
  auth_token: z.string(),
  registry_endpoint: z.string(),
  heartbeat_endpoint: z.string(),
  ...(Object.fromEntries(CONNECT_SNIPPETS.map((s) => [s.field, z.string().optional()])) as Record<ConnectSnippetField, z.ZodOptional<z.ZodString>>),
});
export type ExternalConnection = z.infer<typeof ExternalConnection>;

/** The canvas's shared viewport (`GET/PUT /canvas/viewport`): pan offset and zoom. */
export const CanvasViewport = z.strictObject({
  x: CanvasCoordinate,
  y: CanvasCoordinate,
  zoom: z.number().min(0.01).max(10),
});
export type CanvasViewport = z.infer<typeof CanvasViewport>;

/** A live workspace token as `GET /workspaces/:id/tokens` lists it: never the token, only its prefix. */
export const TokenView = z.object({ id: z.uuid(), prefix: z.string(), created_at: z.string(), last_used_at: z.string().nullable() });
export type TokenView = z.infer<typeof TokenView>;

/** A template as `GET /templates` lists it (C189-C191). */
export const TemplateSummary = z.object({
  /** The folder name: what a workspace's `template` names. */
  id: z.string(),
  name: z.string(),
  description: z.string(),
  tier: z.number().int().optional(),
  runtime: z.string(),
  /** `model:`, else `runtime_config.model`; "" when neither. */
  model: z.string(),
  models: z.array(z.object({ id: z.string(), name: z.string().optional(), required_env: z.array(z.string()).optional() })).optional(),
  required_env: z.array(z.string()).optional(),
  skills: z.array(z.string()),
  skill_count: z.number().int(),
  provision_timeout_seconds: z.number().int().optional(),
  /** `runtime_config.providers`: the provider slugs the template works with. */
  providers: z.array(z.string()),
  /** The top-level `providers:` block, in order; absent when the template has none. */
  provider_registry: z
    .array(z.object({ name: z.string(), auth_env: z.array(z.string()), model_prefixes: z.array(z.string()), model_aliases: z.array(z.string()), base_url: z.string() }))
    .optional(),
});
export type TemplateSummary = z.infer<typeof TemplateSummary>;
