import { describe, expect, it } from 'vitest';
import type { OrgTemplate } from '@molecule/contracts';
import { MAX_HIERARCHY_DEPTH } from '../hierarchy/access.js';
import { missingEnv, planOrg, unionEnv } from './plan.js';
import { parseOrgTemplate, parseOrgYaml } from './templates.js';

const validateCron = (expr: string, tz: string) => (expr === 'bad' ? 'cron expression does not parse' : tz === 'Mars/Base' ? 'unknown time zone "Mars/Base"' : null);
const plan = (t: Omit<OrgTemplate, 'name'> & { name?: string }) => planOrg({ name: 'org', ...t } as OrgTemplate, { validateCron });
const problemsOf = (t: Omit<OrgTemplate, 'name'>) => plan(t).problems.map((p) => `${p.path}: ${p.message}`);

describe('org plan', () => {
  it('orders parents before children, resolving nesting and reports_to, with defaults under each own value', () => {
    const r = plan({
      defaults: { runtime: 'molecule', tier: 3, template: 'echo', max_concurrent_tasks: 2 },
      workspaces: [
        { name: 'writer', reports_to: 'lead', tier: 1 },
        { name: 'lead', role: 'boss', children: [{ name: 'dev', template: 'assistant', max_concurrent_tasks: 4, runtime: 'external' }] },
      ],
    });
    expect(r.problems).toEqual([]);
    const nodes = r.plan!.nodes;
    expect(nodes.map((n) => [n.name, n.parent === null ? null : nodes[n.parent]!.name])).toEqual([
      ['lead', null],
      ['writer', 'lead'],
      ['dev', 'lead'],
    ]);
    expect(nodes[0]!.body).toEqual({ name: 'lead', role: 'boss', runtime: 'molecule', template: 'echo', tier: 3, max_concurrent_tasks: 2 });
    expect(nodes[1]!.body).toMatchObject({ tier: 1, template: 'echo' });
    expect(nodes[2]!.body).toMatchObject({ runtime: 'external', template: 'assistant', max_concurrent_tasks: 4 });
  });

  it('carries a team limit and a budget period to set once the workspace exists', () => {
    const nodes = plan({ workspaces: [{ name: 'a', team_budget_limit: 900, budget_period: 'weekly', budget_limit: 100 }, { name: 'b' }] }).plan!.nodes;
    expect(nodes[0]!.budget).toEqual({ team_budget_limit: 900, budget_period: 'weekly' });
    expect(nodes[0]!.body.budget_limit).toBe(100);
    expect(nodes[1]!.budget).toBeUndefined();
  });

  it('C203 max_concurrent_tasks 0 or omitted is left to the template or the default of 1', () => {
    const nodes = plan({ workspaces: [{ name: 'a', max_concurrent_tasks: 0 }, { name: 'b' }, { name: 'c', max_concurrent_tasks: 7 }] }).plan!.nodes;
    expect(nodes.map((n) => n.body.max_concurrent_tasks)).toEqual([undefined, undefined, 7]);
  });

  it('names every problem with its path: duplicate names, unknown or cyclic reports_to, reports_to on a nested workspace, bad schedules', () => {
    expect(problemsOf({ workspaces: [{ name: 'a', children: [{ name: 'a' }] }] })).toEqual(['/workspaces/0/children/0/name: workspace name "a" is used twice (also at /workspaces/0)']);
    expect(problemsOf({ workspaces: [{ name: 'a', reports_to: 'nobody' }] })).toEqual(['/workspaces/0/reports_to: reports_to names no workspace of this template: "nobody"']);
    expect(problemsOf({ workspaces: [{ name: 'a', reports_to: 'b' }, { name: 'b', reports_to: 'a' }] })).toEqual(['/workspaces/0/reports_to: reports_to makes a cycle: a -> b -> a']);
    expect(problemsOf({ workspaces: [{ name: 'a', reports_to: 'a' }] })).toEqual(['/workspaces/0/reports_to: reports_to makes a cycle: a -> a']);
    expect(problemsOf({ workspaces: [{ name: 'a', children: [{ name: 'b', reports_to: 'c' }] }, { name: 'c' }] })).toEqual([
      '/workspaces/0/children/0/reports_to: "b" is nested under "a" and reports to it; remove reports_to',
    ]);
    expect(
      problemsOf({
        workspaces: [
          {
            name: 'a',
            schedules: [
              { name: 's', cron_expr: 'bad', prompt: 'p' },
              { name: 's', cron_expr: '* * * * *', timezone: 'Mars/Base', prompt: 'p' },
            ],
          },
        ],
      }),
    ).toEqual(['/workspaces/0/schedules/0: cron expression does not parse', '/workspaces/0/schedules/1/name: schedule name "s" is used twice in "a"', '/workspaces/0/schedules/1: unknown time zone "Mars/Base"']);
  });

  it('refuses a tree deeper than the hierarchy allows, counting where the roots will sit', () => {
    const chain = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `w${i}`, ...(i > 0 ? { reports_to: `w${i - 1}` } : {}) }));
    expect(plan({ workspaces: chain(MAX_HIERARCHY_DEPTH) }).problems).toEqual([]);
    expect(problemsOf({ workspaces: chain(MAX_HIERARCHY_DEPTH + 1) })).toEqual([`/workspaces: the org is ${MAX_HIERARCHY_DEPTH + 1} levels deep; at most ${MAX_HIERARCHY_DEPTH} are allowed`]);
    expect(planOrg({ name: 'o', workspaces: chain(MAX_HIERARCHY_DEPTH) }, { validateCron, baseDepth: 1 }).problems).toHaveLength(1);
  });

  it('refuses more than 500 workspaces in all', () => {
    const many = Array.from({ length: 501 }, (_, i) => ({ name: `w${i}` }));
    // 500 at the top level pass the schema; nesting adds more past it.
    expect(problemsOf({ workspaces: [{ name: 'root', children: many.slice(0, 500) }] })).toEqual(['/workspaces: an org template may have at most 500 workspaces (this one has 501)']);
  });

  it('gathers the required and recommended keys of the whole tree once each, and says which the secrets lack', () => {
    const p = plan({
      required_env: ['A', { any_of: ['K1', 'K2'] }],
      recommended_env: ['R'],
      workspaces: [{ name: 'x', required_env: ['B', 'A', { any_of: ['K2', 'K1'] }], recommended_env: ['R', 'S'] }],
    }).plan!;
    expect(p.required_env).toEqual(['A', { any_of: ['K1', 'K2'] }, 'B']);
    expect(p.recommended_env).toEqual(['R', 'S']);
    expect(missingEnv(p.required_env, new Set(['B', 'K2']))).toEqual(['A']);
    expect(missingEnv(p.required_env, new Set(['A', 'B']))).toEqual([{ any_of: ['K1', 'K2'] }]);
    expect(unionEnv([undefined, []])).toEqual([]);
  });
});

describe('org.yaml parsing', () => {
  const bad = (text: string) => {
    try {
      parseOrgYaml(text);
    } catch (err) {
      return { message: (err as Error).message, details: (err as { details?: { details?: unknown } }).details?.details };
    }
    throw new Error('expected a refusal');
  };

  it('refuses YAML that is not a mapping, does not parse, names an unknown runtime or has an unknown key, naming the path', () => {
    expect(bad('- a\n- b\n').message).toBe('invalid org template: it must be a YAML mapping (name, workspaces, ...)');
    expect(bad('42').message).toMatch(/must be a YAML mapping/);
    expect(bad('name: [unclosed').message).toMatch(/^invalid org template: the YAML does not parse/);
    const runtime = bad('name: o\nworkspaces:\n  - name: a\n    runtime: cobol\n');
    expect(runtime.details).toEqual([{ path: '/workspaces/0/runtime', message: expect.stringMatching(/expected one of/) }]);
    const typo = bad('name: o\nworkspaces:\n  - name: a\n    max_concurent_tasks: 2\n');
    expect(typo.message).toMatch(/max_concurent_tasks/);
    expect(bad('name: o\nworkspaces: []\n').message).toMatch(/at least one workspace/);
    expect(bad('name: o\nrequired_env: ["not a key"]\nworkspaces: [{name: a}]\n').details).toEqual([{ path: '/required_env/0', message: expect.stringMatching(/environment variable name/) }]);
  });

  it('accepts the shipped shape, including any_of requirements and schedules', () => {
    const t = parseOrgTemplate({ name: 'o', required_env: [{ any_of: ['A', 'B'] }], workspaces: [{ name: 'a', schedules: [{ name: 's', cron_expr: '0 9 * * *', prompt: 'hi' }] }] });
    expect(t.workspaces[0]!.schedules).toHaveLength(1);
  });
});
