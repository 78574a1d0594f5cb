import { z } from 'zod';
import { BUDGET_PERIODS, type BudgetPeriod } from './budget.js';
import { SecretKey } from './secrets.js';
import { RUNTIMES, TierInput, WorkspaceName, WorkspaceRole } from './workspace.js';

/** A key the org needs among the global secrets: a name, or `{any_of: [...]}` when one of several will do. */
export const EnvRequirement = z.union([SecretKey, z.strictObject({ any_of: z.array(SecretKey).min(1).max(20) })]);
export type EnvRequirement = z.infer<typeof EnvRequirement>;

const EnvList = z.array(EnvRequirement).max(100);
const TemplateName = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'template must be a template folder name');
const Model = z.string().min(1).max(100).regex(/^[^\r\n]*$/, 'model must not contain line breaks');

/** A schedule an org template gives a workspace (created with source `template`). */
export const OrgSchedule = z.strictObject({
  name: z.string().trim().min(1).max(200),
  cron_expr: z.string().trim().min(1).max(200),
  timezone: z.string().trim().min(1).max(100).optional(),
  prompt: z.string().min(1).max(32 * 1024),
  enabled: z.boolean().optional(),
});
export type OrgSchedule = z.infer<typeof OrgSchedule>;

/** Values every workspace of the org starts from; a workspace's own values win. */
export const OrgDefaults = z.strictObject({
  runtime: z.enum(RUNTIMES).optional(),
  template: TemplateName.optional(),
  model: Model.optional(),
  tier: TierInput.optional(),
  max_concurrent_tasks: z.number().int().min(0).max(1000).optional(),
});

export interface OrgWorkspaceInput {
  name: string;
  role?: string | undefined;
  runtime?: (typeof RUNTIMES)[number] | undefined;
  template?: string | undefined;
  model?: string | undefined;
  tier?: number | undefined;
  max_concurrent_tasks?: number | undefined;
  budget_limit?: number | null | undefined;
  team_budget_limit?: number | null | undefined;
  budget_period?: BudgetPeriod | undefined;
  required_env?: EnvRequirement[] | undefined;
  recommended_env?: EnvRequirement[] | undefined;
  schedules?: OrgSchedule[] | undefined;
  reports_to?: string | undefined;
  children?: OrgWorkspaceInput[] | undefined;
}

/**
 * One workspace of an org template. `children` nest; `reports_to` (another workspace's name) places
 * a workspace listed at the top level under that one instead, so a long org can be written flat.
 */
export const OrgWorkspace: z.ZodType<OrgWorkspaceInput> = z.lazy(() =>
  z.strictObject({
    name: WorkspaceName,
    role: WorkspaceRole.optional(),
    runtime: z.enum(RUNTIMES).optional(),
    template: TemplateName.optional(),
    model: Model.optional(),
    tier: TierInput.optional(),
    /** 0 or omitted: the template's, else 1 (C203). */
    max_concurrent_tasks: z.number().int().min(0).max(1000).optional(),
    /** USD cents per month; null: no limit. */
    budget_limit: z.number().int().min(0).nullable().optional(),
    /** USD cents per period for this workspace and everything under it; null: no limit. */
    team_budget_limit: z.number().int().min(0).nullable().optional(),
    /** The period both limits count over (default monthly). */
    budget_period: z.enum(BUDGET_PERIODS).optional(),
    required_env: EnvList.optional(),
    recommended_env: EnvList.optional(),
    schedules: z.array(OrgSchedule).max(50).optional(),
    reports_to: WorkspaceName.optional(),
    children: z.array(OrgWorkspace).max(500).optional(),
  }),
);

/** An org template (`org-templates/<dir>/org.yaml`, or inline in `POST /org/import`). */
export const OrgTemplate = z.strictObject({
  name: z.string().trim().min(1).max(200),
  description: z.string().max(2000).optional(),
  defaults: OrgDefaults.optional(),
  required_env: EnvList.optional(),
  recommended_env: EnvList.optional(),
  workspaces: z.array(OrgWorkspace).min(1, 'an org template needs at least one workspace').max(500),
});
export type OrgTemplate = z.infer<typeof OrgTemplate>;

/** At most this many workspaces in one import. */
export const MAX_ORG_WORKSPACES = 500;

/** An org template as `GET /org/templates` lists it. */
export const OrgTemplateSummary = z.object({
  /** The folder name: what `POST /org/import {dir}` names. */
  dir: z.string(),
  name: z.string(),
  description: z.string(),
  /** How many workspaces the import creates. */
  workspaces: z.number().int(),
  /** The union over the whole tree. */
  required_env: z.array(EnvRequirement),
  recommended_env: z.array(EnvRequirement),
  /** Of required_env, what the global secrets do not satisfy yet. */
  missing_env: z.array(EnvRequirement),
});
export type OrgTemplateSummary = z.infer<typeof OrgTemplateSummary>;

export const OrgImportBody = z.strictObject({
  /** An org template folder under the org templates directory. */
  dir: z.string().min(1).max(200).optional(),
  /** An inline template. */
  template: z.unknown().optional(),
  /** Accepted for compatibility and ignored: nothing bypasses the required-env check (C202). */
  force: z.unknown().optional(),
});
export type OrgImportBody = z.infer<typeof OrgImportBody>;

export const OrgImportedWorkspace = z.object({
  id: z.uuid(),
  name: z.string(),
  parent_id: z.uuid().nullable(),
  runtime: z.string(),
  tier: z.number().int(),
  status: z.string(),
  schedules: z.number().int(),
});

export const OrgImportResult = z.object({
  org: z.string(),
  /** Follow it on the event stream (`ORG_IMPORT_STARTED`, then each workspace's status events). */
  import_id: z.uuid(),
  workspaces: z.array(OrgImportedWorkspace),
  count: z.number().int(),
});
export type OrgImportResult = z.infer<typeof OrgImportResult>;

/** The 412 answer when global secrets lack what the org requires (C201). */
export const OrgMissingEnv = z.object({
  error: z.string(),
  code: z.string().optional(),
  missing_env: z.array(EnvRequirement),
  required_env: z.array(EnvRequirement),
  template: z.string(),
  suggestion: z.string(),
});

/** The format tag of a bundle file; a later format gets a new tag. */
export const BUNDLE_SCHEMA = 'molecule.bundle/1';
/** All template files of one bundle together, at most this many bytes. */
export const MAX_BUNDLE_TEMPLATE_BYTES = 16 * 1024 * 1024;

/**
 * A live subtree as one file (`GET /bundles/export/:id`, `POST /bundles/import`): the workspaces as
 * an org template (config, schedules, and in `recommended_env` the names of each workspace's own
 * secrets, never values) and the files of every template they use.
 */
export const Bundle = z.strictObject({
  schema: z.literal(BUNDLE_SCHEMA, { error: `schema must be "${BUNDLE_SCHEMA}"` }),
  exported_at: z.string().max(100),
  source_workspace_id: z.uuid(),
  org: OrgTemplate,
  /** Template folder name -> its files (path -> text). */
  templates: z.record(TemplateName, z.record(z.string(), z.string())),
});
export type Bundle = z.infer<typeof Bundle>;

export const BundleImportResult = OrgImportResult.extend({
  /** Templates written for this import: `{bundle name, installed as}` (renamed when a different template of that name existed). */
  templates_installed: z.array(z.object({ name: z.string(), installed_as: z.string() })),
});
export type BundleImportResult = z.infer<typeof BundleImportResult>;

/** Where an import's workspaces stand (the CLI's progress bar and the canvas's). */
export interface ImportTally {
  total: number;
  online: number;
  failed: number;
  /** External workspaces: waiting for their agent, which only their operator can start. */
  awaiting: number;
  /** Removed while the import ran (or, for a list that leaves them out, no longer listed). */
  removed: number;
}

/** Counts the import's workspaces by status; an id missing from `statuses` counts as removed when `missingIsRemoved`, else as still starting. */
export function tallyImport(ids: readonly string[], statusOf: (id: string) => string | undefined, missingIsRemoved: boolean): ImportTally {
  const t: ImportTally = { total: ids.length, online: 0, failed: 0, awaiting: 0, removed: 0 };
  for (const id of ids) {
    const s = statusOf(id);
    if (s === 'removed' || (s === undefined && missingIsRemoved)) t.removed++;
    else if (s === 'online' || s === 'degraded') t.online++;
    else if (s === 'failed') t.failed++;
    else if (s === 'awaiting_agent') t.awaiting++;
  }
  return t;
}

/** Every workspace has settled: online, failed, waiting for its external agent, or removed. */
export const importSettled = (t: ImportTally) => t.online + t.failed + t.awaiting + t.removed === t.total;
