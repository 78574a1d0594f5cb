import { randomUUID } from 'node:crypto';
import type { OrgImportResult, OrgTemplate, OrgTemplateSummary } from '@molecule/contracts';
import type { AppDeps } from '../deps.js';
import { invalid, preconditionFailed } from '../errors.js';
import { templateExists } from '../provisioning/templates.js';
import { setBudget, type BudgetDeps } from '../budgets/service.js';
import { createSchedule, validateCron, type ScheduleDeps } from '../schedules/service.js';
import { listGlobalSecretViews } from '../secrets/service.js';
import { createWorkspaceTree, type WorkspaceDeps } from '../workspaces/service.js';
import { missingEnv, planOrg, type OrgPlan } from './plan.js';
import { providerEnvOf } from '../provisioning/configs.js';
import { readOrgTemplates, type ProblemDetail } from './templates.js';

export type OrgDeps = WorkspaceDeps & ScheduleDeps & BudgetDeps & Pick<AppDeps, 'orgTemplatesDir'>;

/** What the 412 tells the caller to do (C201): set the keys; there is no way around the check (C202). */
export const MISSING_ENV_SUGGESTION =
  'Set each missing key as an org-wide secret (PUT /settings/secrets, `molecule secret set KEY`, or Settings on the canvas), then import again.';

/**
 * The keys every workspace of an imported org will have: the org-wide secrets, and the server's own
 * LLM provider settings when the backend hands them on (process, Docker), as the start check counts them.
 */
async function globalKeys(deps: Pick<AppDeps, 'db' | 'provisioner'>): Promise<Set<string>> {
  return new Set([...(await listGlobalSecretViews(deps.db)).map((s) => s.key), ...Object.keys(providerEnvOf(deps.provisioner))]);
}

/**
 * Validates a template completely before anything is written: the plan (names, reports_to, depth,
 * schedules) and that every template folder it names exists. The plan, or a 400 with every problem.
 */
export async function checkOrgTemplate(deps: Pick<AppDeps, 'templatesDir'>, t: OrgTemplate, pendingTemplates: ReadonlySet<string> = new Set()): Promise<OrgPlan> {
  const { plan, problems } = planOrg(t, { validateCron });
  const all: ProblemDetail[] = [...problems];
  if (plan) {
    for (const n of plan.nodes) {
      if (n.body.template && !pendingTemplates.has(n.body.template) && !(await templateExists(deps.templatesDir, n.body.template))) {
        all.push({ path: `${n.path}/template`, message: `unknown template "${n.body.template}"` });
      }
    }
  }
  if (all.length > 0 || !plan) throw invalid(`invalid org template: ${all[0]!.message} (at ${all[0]!.path})`, { details: all });
  return plan;
}

/** The org templates on disk, each with what its import needs that `globalKeys` lacks. */
export async function listOrgTemplates(deps: Pick<AppDeps, 'db' | 'log' | 'orgTemplatesDir' | 'templatesDir' | 'provisioner'>): Promise<OrgTemplateSummary[]> {
  const [found, have] = await Promise.all([readOrgTemplates(deps.orgTemplatesDir, deps.log), globalKeys(deps)]);
  const out: OrgTemplateSummary[] = [];
  for (const { dir, template } of found) {
    const { plan } = planOrg(template, { validateCron });
    if (!plan) {
      deps.log.warn({ dir }, 'org template skipped: it does not validate (POST /org/import names the problems)');
      continue;
    }
    out.push({
      dir,
      name: template.name,
      description: template.description ?? '',
      workspaces: plan.nodes.length,
      required_env: plan.required_env,
      recommended_env: plan.recommended_env,
      missing_env: missingEnv(plan.required_env, have),
    });
  }
  return out;
}

/**
 * Imports an org (C200-C203): the template is validated whole, then the keys it requires are checked
 * against `globalKeys` (412 naming the missing ones; `force` has no effect), then every
 * workspace is created in one transaction and provisioned through the one pipeline, at most
 * MOLECULE_PROVISION_CONCURRENCY at a time (C200), and its schedules are created. Answers at once
 * with the ids; `ORG_IMPORT_STARTED` and each workspace's own status events tell the rest.
 */
export async function importOrg(
  deps: OrgDeps,
  t: OrgTemplate,
  label: string,
  opts: {
    /** Template folders that count as present though not on disk yet (a bundle's, written by `beforeCreate`). */
    pendingTemplates?: ReadonlySet<string>;
    /** Runs once everything is checked, right before the first write. */
    beforeCreate?: () => Promise<void>;
  } = {},
): Promise<OrgImportResult> {
  const plan = await checkOrgTemplate(deps, t, opts.pendingTemplates);
  const missing = missingEnv(plan.required_env, await globalKeys(deps));
  if (missing.length > 0) {
    throw preconditionFailed('missing required environment variables', {
      missing_env: missing,
      required_env: plan.required_env,
      template: label,
      suggestion: MISSING_ENV_SUGGESTION,
    });
  }
  await opts.beforeCreate?.();
  const created = await createWorkspaceTree(
    deps,
    plan.nodes.map((n) => ({ body: n.body, parent: n.parent !== null ? { index: n.parent } : null })),
  );
  const importId = randomUUID();
  const workspaces: OrgImportResult['workspaces'] = [];
  for (const [i, { row }] of created.entries()) {
    const { schedules, budget } = plan.nodes[i]!;
    for (const s of schedules) await createSchedule(deps, row.id, { ...s, source: 'template' });
    if (budget) await setBudget(deps, row.id, budget);
    workspaces.push({ id: row.id, name: row.name, parent_id: row.parent_id, runtime: row.runtime, tier: row.tier, status: row.status, schedules: schedules.length });
  }
  await deps.broadcaster.recordAndBroadcast('ORG_IMPORT_STARTED', null, {
    import_id: importId,
    org: plan.name,
    template: label,
    total: workspaces.length,
    workspace_ids: workspaces.map((w) => w.id),
  });
  deps.log.info({ org: plan.name, template: label, import_id: importId, count: workspaces.length }, 'org imported; its workspaces are provisioning');
  return { org: plan.name, import_id: importId, workspaces, count: workspaces.length };
}
