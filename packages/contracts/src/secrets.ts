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
