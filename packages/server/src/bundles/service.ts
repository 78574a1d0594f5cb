import { createHash } from 'node:crypto';
import {
  BUNDLE_SCHEMA,
  DEFAULT_BUDGET_PERIOD,
  MAX_BUNDLE_TEMPLATE_BYTES,
  MODEL_SECRET,
  PROVIDER_SECRET,
  Status,
  type Bundle,
  type BundleImportResult,
  type OrgTemplate,
  type OrgWorkspaceInput,
} from '@molecule/contracts';
import { budgetView } from '../budgets/service.js';
import { DomainError, notFound } from '../errors.js';
import { importOrg, type OrgDeps } from '../org/service.js';
import { checkTemplateFiles, installTemplate, type TemplateFileSet } from '../provisioning/template-install.js';
import { readTemplateFolder, templateExists } from '../provisioning/templates.js';
import { listSchedules } from '../schedules/service.js';
import { listWorkspaceSecrets } from '../secrets/service.js';
import { removedError } from '../workspaces/errors.js';
import { getWorkspace, loadSubtree, type WorkspaceRow } from '../workspaces/read.js';

/** The model choice is carried by `model`; these are the platform's records of it, not the user's secrets. */
const PLATFORM_KEPT = new Set<string>([MODEL_SECRET, PROVIDER_SECRET]);

/**
 * A live workspace and everything live under it as one bundle: each workspace's config (role,
 * runtime, template, model, tier, task slots, budget), its schedules, the names of its own secrets
 * (as `recommended_env`; values never leave), and the files of every template used. 404 unknown,
 * 410 removed.
 */
export async function exportBundle(deps: OrgDeps, id: string): Promise<Bundle> {
  const root = await getWorkspace(deps.db, id);
  if (!root) throw notFound('workspace not found');
  if (root.status === Status.Removed) throw removedError(root);
  const rows = (await loadSubtree(deps.db, id)).filter((w) => w.status !== Status.Removed);
  const kids = new Map<string, WorkspaceRow[]>();
  for (const w of rows) if (w.parent_id) kids.set(w.parent_id, [...(kids.get(w.parent_id) ?? []), w]);
  // Names must be unique in an org template: a repeated name gets a " (2)" suffix.
  const used = new Map<string, number>();
  const uniqueName = (name: string) => {
    const n = (used.get(name) ?? 0) + 1;
    used.set(name, n);
    return n === 1 ? name : `${name} (${n})`;
  };
  const node = async (w: WorkspaceRow): Promise<OrgWorkspaceInput> => {
    const secrets = (await listWorkspaceSecrets(deps.db, w.id)).filter((s) => s.scope === 'workspace' && !PLATFORM_KEPT.has(s.key)).map((s) => s.key);
    const schedules = (await listSchedules(deps, w.id)).map((s) => ({ name: s.name, cron_expr: s.cron_expr, timezone: s.timezone, prompt: s.prompt, enabled: s.enabled }));
    const children = await Promise.all((kids.get(w.id) ?? []).map(node));
    const budget = await budgetView(deps.db, w.id);
    return {
      name: uniqueName(w.name),
      ...(w.role ? { role: w.role } : {}),
      runtime: w.runtime as OrgWorkspaceInput['runtime'],
      ...(w.template ? { template: w.template } : {}),
      ...(w.model ? { model: w.model } : {}),
      tier: w.tier,
      max_concurrent_tasks: w.max_concurrent_tasks,
      ...(w.budget_limit !== null ? { budget_limit: w.budget_limit } : {}),
      ...(budget.team_budget_limit !== null ? { team_budget_limit: budget.team_budget_limit } : {}),
      ...(budget.budget_period !== DEFAULT_BUDGET_PERIOD ? { budget_period: budget.budget_period } : {}),
      ...(secrets.length > 0 ? { recommended_env: secrets } : {}),
      ...(schedules.length > 0 ? { schedules } : {}),
      ...(children.length > 0 ? { children } : {}),
    };
  };
  const templates: Bundle['templates'] = {};
  for (const name of new Set(rows.map((w) => w.template).filter((t): t is string => !!t))) {
    if (await templateExists(deps.templatesDir, name)) templates[name] = await readTemplateFolder(deps.templatesDir, name);
  }
  return {
    schema: BUNDLE_SCHEMA,
    exported_at: new Date().toISOString(),
    source_workspace_id: id,
    org: { name: root.name, workspaces: [await node(root)] },
    templates,
  };
}

const digest = (files: TemplateFileSet) =>
  createHash('sha256')
    .update(JSON.stringify(Object.entries(files).sort(([a], [b]) => a.localeCompare(b))))
    .digest('hex');

/**
 * Recreates a bundle's subtree as a new top-level org: every check of an org import first (the
 * bundle's templates count as present), then the templates it carries are written (one that exists
 * with the same files is reused; a different one of the same name is written as `<name>-<hash>`
 * and the workspaces point at that), then the workspaces are created and provisioned like an org
 * import. A bad template file or a bundle over the size cap is a 4xx before anything is written.
 */
export async function importBundle(deps: OrgDeps, bundle: Bundle): Promise<BundleImportResult> {
  const total = Object.values(bundle.templates).reduce((n, files) => n + Object.values(files).reduce((m, t) => m + Buffer.byteLength(t), 0), 0);
  if (total > MAX_BUNDLE_TEMPLATE_BYTES) throw new DomainError('payload_too_large', `a bundle may carry at most ${MAX_BUNDLE_TEMPLATE_BYTES} bytes of template files`);
  const plans: { name: string; as: string; files: TemplateFileSet; write: boolean }[] = [];
  for (const [name, raw] of Object.entries(bundle.templates)) {
    const files = checkTemplateFiles(raw);
    const hash = digest(files);
    const same = async (as: string) => (await templateExists(deps.templatesDir, as)) && digest(await readTemplateFolder(deps.templatesDir, as)) === hash;
    if (!(await templateExists(deps.templatesDir, name))) plans.push({ name, as: name, files, write: true });
    else if (await same(name)) plans.push({ name, as: name, files, write: false });
    else {
      const as = `${name}-${hash.slice(0, 8)}`;
      plans.push({ name, as, files, write: !(await same(as)) });
    }
  }
  const renamed = new Map(plans.map((p) => [p.name, p.as]));
  const rename = (w: OrgWorkspaceInput): OrgWorkspaceInput => ({
    ...w,
    ...(w.template ? { template: renamed.get(w.template) ?? w.template } : {}),
    ...(w.children ? { children: w.children.map(rename) } : {}),
  });
  const org: OrgTemplate = { ...bundle.org, workspaces: bundle.org.workspaces.map(rename) };
  const toWrite = plans.filter((p) => p.write);
  const result = await importOrg(deps, org, `bundle:${bundle.org.name}`, {
    pendingTemplates: new Set(toWrite.map((p) => p.as)),
    beforeCreate: async () => {
      for (const p of toWrite) await installTemplate(deps.templatesDir, p.as, p.files, { overwrite: true });
      if (toWrite.length > 0) deps.templateManifests.invalidate(deps.templatesDir);
    },
  });
  return { ...result, templates_installed: toWrite.map((p) => ({ name: p.name, installed_as: p.as })) };
}
