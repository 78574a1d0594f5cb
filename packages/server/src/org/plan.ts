import { MAX_ORG_WORKSPACES, type BudgetPeriod, type EnvRequirement, type OrgSchedule, type OrgTemplate, type OrgWorkspaceInput } from '@molecule/contracts';
import { MAX_HIERARCHY_DEPTH } from '../hierarchy/access.js';
import type { NewWorkspace } from '../workspaces/service.js';
import type { ProblemDetail } from './templates.js';

/** One workspace to create, parents first: `parent` is an earlier node's index, or null for a root. */
export interface PlannedWorkspace {
  name: string;
  parent: number | null;
  body: NewWorkspace['body'];
  schedules: OrgSchedule[];
  /** A team limit or a budget period to set once it exists. */
  budget: { team_budget_limit?: number | null; budget_period?: BudgetPeriod } | undefined;
  /** Where it is written in the template, for messages. */
  path: string;
}

export interface OrgPlan {
  name: string;
  nodes: PlannedWorkspace[];
  /** The union over the whole template (top level and every workspace), deduplicated, in order. */
  required_env: EnvRequirement[];
  recommended_env: EnvRequirement[];
}

export interface PlanOptions {
  /** An error message for a bad cron expression or time zone, or null. */
  validateCron: (cronExpr: string, timezone: string) => string | null;
  /** How deep the roots sit already (an import under an existing workspace). */
  baseDepth?: number;
}

interface Entry {
  ws: OrgWorkspaceInput;
  path: string;
  /** The workspace it is nested under, by entry index. */
  nestedUnder: number | null;
}

/**
 * Turns a template into the ordered list of workspaces to create, or every problem found: names
 * used twice, `reports_to` naming no workspace or making a cycle (or set on a nested workspace that
 * already reports to its parent), a tree deeper than the hierarchy allows, more than
 * MAX_ORG_WORKSPACES workspaces, schedules whose cron or time zone does not parse or whose names
 * repeat. Pure: template folders and secrets are the caller's to check.
 */
export function planOrg(t: OrgTemplate, opts: PlanOptions): { plan: OrgPlan; problems: [] } | { plan: undefined; problems: ProblemDetail[] } {
  const problems: ProblemDetail[] = [];
  const entries: Entry[] = [];
  const walk = (list: readonly OrgWorkspaceInput[], base: string, under: number | null) => {
    list.forEach((ws, i) => {
      const idx = entries.length;
      entries.push({ ws, path: `${base}/${i}`, nestedUnder: under });
      if (ws.children) walk(ws.children, `${base}/${i}/children`, idx);
    });
  };
  walk(t.workspaces, '/workspaces', null);
  if (entries.length > MAX_ORG_WORKSPACES) {
    return { plan: undefined, problems: [{ path: '/workspaces', message: `an org template may have at most ${MAX_ORG_WORKSPACES} workspaces (this one has ${entries.length})` }] };
  }

  const byName = new Map<string, number>();
  entries.forEach((e, i) => {
    const first = byName.get(e.ws.name);
    if (first !== undefined) problems.push({ path: `${e.path}/name`, message: `workspace name "${e.ws.name}" is used twice (also at ${entries[first]!.path})` });
    else byName.set(e.ws.name, i);
  });

  // Each entry's parent: the one it is nested under, else the one it reports to.
  const parentOf: (number | null)[] = entries.map((e) => {
    if (e.ws.reports_to === undefined) return e.nestedUnder;
    if (e.nestedUnder !== null) {
      problems.push({ path: `${e.path}/reports_to`, message: `"${e.ws.name}" is nested under "${entries[e.nestedUnder]!.ws.name}" and reports to it; remove reports_to` });
      return e.nestedUnder;
    }
    const target = byName.get(e.ws.reports_to);
    if (target === undefined) {
      problems.push({ path: `${e.path}/reports_to`, message: `reports_to names no workspace of this template: "${e.ws.reports_to}"` });
      return null;
    }
    return target;
  });

  // Cycles through reports_to: walk up from each entry; a walk that comes back to where it started is one.
  const inCycle = new Set<number>();
  entries.forEach((e, i) => {
    if (inCycle.has(i)) return;
    const seen: number[] = [];
    let cur: number | null = i;
    while (cur !== null && !seen.includes(cur)) {
      seen.push(cur);
      cur = parentOf[cur]!;
    }
    if (cur === i) {
      seen.forEach((n) => inCycle.add(n));
      problems.push({ path: `${e.path}/reports_to`, message: `reports_to makes a cycle: ${[...seen, i].map((n) => entries[n]!.ws.name).join(' -> ')}` });
    }
  });

  entries.forEach((e) => {
    const names = new Set<string>();
    (e.ws.schedules ?? []).forEach((s, j) => {
      const at = `${e.path}/schedules/${j}`;
      if (names.has(s.name)) problems.push({ path: `${at}/name`, message: `schedule name "${s.name}" is used twice in "${e.ws.name}"` });
      names.add(s.name);
      const err = opts.validateCron(s.cron_expr, s.timezone ?? 'UTC');
      if (err) problems.push({ path: at, message: err });
    });
  });
  if (problems.length > 0) return { plan: undefined, problems };

  // Parents first, in template order: roots, then each root's subtree depth-first.
  const childrenOf = new Map<number | null, number[]>();
  parentOf.forEach((p, i) => childrenOf.set(p, [...(childrenOf.get(p) ?? []), i]));
  const order: number[] = [];
  const depth = new Map<number, number>();
  const visit = (i: number, d: number) => {
    order.push(i);
    depth.set(i, d);
    for (const c of childrenOf.get(i) ?? []) visit(c, d + 1);
  };
  for (const r of childrenOf.get(null) ?? []) visit(r, (opts.baseDepth ?? 0) + 1);
  const deepest = Math.max(...depth.values());
  if (deepest > MAX_HIERARCHY_DEPTH) {
    return { plan: undefined, problems: [{ path: '/workspaces', message: `the org is ${deepest} levels deep; at most ${MAX_HIERARCHY_DEPTH} are allowed` }] };
  }

  const position = new Map(order.map((entry, pos) => [entry, pos]));
  const d = t.defaults ?? {};
  const nodes = order.map((i): PlannedWorkspace => {
    const { ws, path } = entries[i]!;
    const p = parentOf[i]!;
    const body: NewWorkspace['body'] = {
      name: ws.name,
      ...(ws.role !== undefined ? { role: ws.role } : {}),
      ...((ws.runtime ?? d.runtime) ? { runtime: ws.runtime ?? d.runtime } : {}),
      ...((ws.template ?? d.template) ? { template: ws.template ?? d.template } : {}),
      ...((ws.model ?? d.model) ? { model: ws.model ?? d.model } : {}),
      ...((ws.tier ?? d.tier) !== undefined ? { tier: ws.tier ?? d.tier } : {}),
      // 0 or omitted: the template's, else 1 (C203).
      ...((ws.max_concurrent_tasks ?? d.max_concurrent_tasks) ? { max_concurrent_tasks: ws.max_concurrent_tasks ?? d.max_concurrent_tasks } : {}),
      ...(ws.budget_limit !== undefined ? { budget_limit: ws.budget_limit } : {}),
    };
    const budget = {
      ...(ws.team_budget_limit !== undefined ? { team_budget_limit: ws.team_budget_limit } : {}),
      ...(ws.budget_period !== undefined ? { budget_period: ws.budget_period } : {}),
    };
    return { name: ws.name, parent: p === null ? null : position.get(p)!, body, schedules: ws.schedules ?? [], budget: Object.keys(budget).length > 0 ? budget : undefined, path };
  });
  return {
    plan: {
      name: t.name,
      nodes,
      required_env: unionEnv([t.required_env, ...entries.map((e) => e.ws.required_env)]),
      recommended_env: unionEnv([t.recommended_env, ...entries.map((e) => e.ws.recommended_env)]),
    },
    problems: [],
  };
}

/** The requirements of several lists, each once, in first-seen order. */
export function unionEnv(lists: readonly (readonly EnvRequirement[] | undefined)[]): EnvRequirement[] {
  const seen = new Set<string>();
  const out: EnvRequirement[] = [];
  for (const r of lists.flatMap((l) => l ?? [])) {
    const k = typeof r === 'string' ? r : `any_of:${[...r.any_of].sort().join(',')}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(r);
  }
  return out;
}

/** The requirements `have` does not satisfy: a name that is absent, an `any_of` none of whose names is present. */
export function missingEnv(required: readonly EnvRequirement[], have: ReadonlySet<string>): EnvRequirement[] {
  return required.filter((r) => (typeof r === 'string' ? !have.has(r) : !r.any_of.some((k) => have.has(k))));
}
