import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { BUDGET_PERIODS, PatchBudgetBody, type BudgetPeriod, type BudgetView, type WorkspaceView } from '@molecule/contracts';
import { ApiError, type Api } from './api.js';
import { errorText } from './actions.js';
import type { Feed } from './feed.js';
import { TextField } from './Field.js';

const dollars = (cents: number) => `${cents < 0 ? '-' : ''}$${(Math.abs(cents) / 100).toFixed(2)}`;
const PERIOD_WORD: Record<BudgetPeriod, string> = { daily: 'today', weekly: 'this week', monthly: 'this month' };
const PERIOD_LABEL: Record<BudgetPeriod, string> = { daily: 'Daily', weekly: 'Weekly (from Monday)', monthly: 'Monthly' };

interface BudgetForm {
  budget_limit: string;
  team_budget_limit: string;
  budget_period: BudgetPeriod;
}
type FormErrors = Partial<Record<keyof BudgetForm | 'form', string>>;

const asInput = (cents: number | null) => (cents === null ? '' : (cents / 100).toFixed(2));
const formOf = (v: BudgetView): BudgetForm => ({ budget_limit: asInput(v.budget_limit), team_budget_limit: asInput(v.team_budget_limit), budget_period: v.budget_period });

/** The form field a body field's errors are shown at; the form itself for the others. */
const fieldOf = (key: string): keyof FormErrors => (key === 'budget_limit' || key === 'team_budget_limit' || key === 'budget_period' ? key : 'form');

/** The PATCH body a filled form means (empty clears a limit), checked with the API's own schema; or the errors at each field. */
export function budgetBody(form: BudgetForm): { body: PatchBudgetBody } | { errors: FormErrors } {
  const errors: FormErrors = {};
  const cents = (field: 'budget_limit' | 'team_budget_limit'): number | null => {
    const v = form[field].trim();
    if (v === '') return null;
    if (!/^\d+(\.\d{1,2})?$/.test(v)) {
      errors[field] = 'an amount in dollars, like 25 or 12.50; empty for no limit';
      return null;
    }
    return Math.round(Number(v) * 100);
  };
  const raw = { budget_limit: cents('budget_limit'), team_budget_limit: cents('team_budget_limit'), budget_period: form.budget_period };
  const parsed = PatchBudgetBody.safeParse(raw);
  if (!parsed.success) for (const issue of parsed.error.issues) errors[fieldOf(String(issue.path[0] ?? ''))] ??= issue.message;
  return Object.keys(errors).length > 0 || !parsed.success ? { errors } : { body: parsed.data };
}

/** The API's refusal at the field it names (`details[].path` like `/budget_limit`), else for the whole form. */
function apiErrors(err: unknown): FormErrors {
  if (!(err instanceof ApiError) || err.details.length === 0) return { form: errorText(err) };
  const out: FormErrors = {};
  for (const d of err.details) out[fieldOf(d.path.replace(/^\//, ''))] ??= d.message;
  return out;
}

/**
 * A workspace's budget in its Details tab: its limit, spend and remaining this period, its team's if
 * it has a team limit or members that spent, a notice when calls to it are refused (and whose limit
 * does it), and a form to set or clear the limits and the period. Follows WORKSPACE_UPDATED and the
 * workspace's A2A answers.
 */
export function BudgetSection({ workspace: w, workspaces, api, feed }: { workspace: WorkspaceView; workspaces: Record<string, WorkspaceView>; api: Api; feed: Feed }) {
  const [view, setView] = useState<BudgetView | undefined>();
  const [form, setForm] = useState<BudgetForm | undefined>();
  const [errors, setErrors] = useState<FormErrors>({});
  const [note, setNote] = useState('');
  const load = useCallback(
    (resetForm: boolean) => {
      api
        .budget(w.id)
        .then((v) => {
          setView(v);
          if (resetForm) setForm(formOf(v));
        })
        .catch((err: unknown) => setNote(`Could not read the budget: ${errorText(err)}`));
    },
    [api, w.id],
  );
  useEffect(() => load(true), [load]);
  useEffect(
    () =>
      feed.subscribe((e) => {
        if (e.workspace_id === w.id && (e.type === 'WORKSPACE_UPDATED' || e.type === 'A2A_RESPONSE')) load(false);
      }),
    [feed, load, w.id],
  );

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!form) return;
    const checked = budgetBody(form);
    if ('errors' in checked) {
      setErrors(checked.errors);
      return;
    }
    setErrors({});
    try {
      const v = await api.setBudget(w.id, checked.body);
      setView(v);
      setForm(formOf(v));
      setNote('Budget saved.');
    } catch (err) {
      setErrors(apiErrors(err));
      setNote('');
    }
  };

  if (!view) {
    return (
      <section aria-labelledby="budget-title" className="budget">
        <h3 id="budget-title">Budget</h3>
        <p className="note" role="status">
          {note}
        </p>
      </section>
    );
  }
  const word = PERIOD_WORD[view.budget_period];
  const rows: [string, string][] = [
    ['Limit', view.budget_limit === null ? 'none' : `${dollars(view.budget_limit)} ${view.budget_period === 'monthly' ? 'a month' : view.budget_period === 'weekly' ? 'a week' : 'a day'}`],
    [`Spent ${word}`, dollars(view.period_spend)],
    ...(view.budget_remaining !== null ? ([['Remaining', dollars(view.budget_remaining)]] as [string, string][]) : []),
    ...(view.team_budget_limit !== null || view.team_spend !== view.period_spend
      ? ([
          ['Team limit', view.team_budget_limit === null ? 'none' : dollars(view.team_budget_limit)],
          [`Team spent ${word}`, dollars(view.team_spend)],
          ...(view.team_remaining !== null ? ([['Team remaining', dollars(view.team_remaining)]] as [string, string][]) : []),
        ] as [string, string][])
      : []),
    ['Resets', new Date(view.period_resets_at).toLocaleString()],
  ];
  const b = view.blocked_by;
  const whose = b === null ? '' : b.scope === 'workspace' ? 'its own budget' : `the team budget of ${b.workspace_id === w.id ? 'this workspace' : (workspaces[b.workspace_id]?.name ?? b.workspace_id)}`;
  const set = (k: keyof BudgetForm) => (v: string) => setForm((f) => (f ? { ...f, [k]: v } : f));
  return (
    <section aria-labelledby="budget-title" className="budget">
      <h3 id="budget-title">Budget</h3>
      {b ? (
        <p role="alert" className="field-error">
          Blocked: messages to this workspace are refused, {whose} is used up ({dollars(b.spend)} of {dollars(b.limit)}) until {new Date(b.resets_at).toLocaleString()}.
        </p>
      ) : null}
      <dl className="details">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      {form ? (
        <form onSubmit={(e) => void save(e)} noValidate aria-label="Set the budget">
          <TextField id="budget-limit" label="Budget limit (USD)" value={form.budget_limit} onChange={set('budget_limit')} error={errors.budget_limit} hint="This workspace's own spend. Empty: no limit." />
          <TextField
            id="team-budget-limit"
            label="Team budget limit (USD)"
            value={form.team_budget_limit}
            onChange={set('team_budget_limit')}
            error={errors.team_budget_limit}
            hint="The spend of this workspace and everything under it. Empty: no limit."
          />
          <div className="field">
            <label htmlFor="budget-period">Period</label>
            <select id="budget-period" value={form.budget_period} onChange={(e) => set('budget_period')(e.target.value)} aria-invalid={errors.budget_period ? true : undefined}>
              {BUDGET_PERIODS.map((p) => (
                <option key={p} value={p}>
                  {PERIOD_LABEL[p]}
                </option>
              ))}
            </select>
            {errors.budget_period ? (
              <span className="field-error" role="alert">
                {errors.budget_period}
              </span>
            ) : null}
          </div>
          {errors.form ? (
            <p className="field-error" role="alert">
              {errors.form}
            </p>
          ) : null}
          <div className="actions">
            <button type="submit">Save budget</button>
          </div>
        </form>
      ) : null}
      <p className="note" role="status" aria-live="polite">
        {note}
      </p>
    </section>
  );
}
