import { useCallback, useEffect, useState } from 'react';
import cronstrue from 'cronstrue';
import { CreateScheduleBody, type Schedule, type ScheduleRun } from '@molecule/contracts';
import { errorText } from './actions.js';
import { ApiError, type Api } from './api.js';
import { Dialog } from './Dialog.js';
import { TextField } from './Field.js';
import type { TabProps } from './tab.js';

/** A cron expression in words ("At 09:00, Monday through Friday"); undefined when it does not read as one. */
export function describeCron(expr: string): string | undefined {
  try {
    return cronstrue.toString(expr.trim(), { use24HourTimeFormat: true, throwExceptionOnParseError: true, verbose: false });
  } catch {
    return undefined;
  }
}

type Form = { name: string; cron_expr: string; timezone: string; prompt: string; enabled: boolean };
type FieldName = 'name' | 'cron_expr' | 'timezone' | 'prompt';
type Errors = Partial<Record<FieldName | 'form', string>>;
const EMPTY: Form = { name: '', cron_expr: '0 9 * * 1-5', timezone: 'UTC', prompt: '', enabled: true };
const FIELDS: readonly string[] = ['name', 'cron_expr', 'timezone', 'prompt'];

/** The API's refusal at the field it names (`details[].path` like `/cron_expr`), else for the whole form. */
export function scheduleFieldErrors(err: unknown): Errors {
  if (err instanceof ApiError && err.details.length > 0) {
    const out: Errors = {};
    for (const d of err.details) {
      const key = d.path.replace(/^\//, '').split('/')[0] ?? '';
      const field = (FIELDS.includes(key) ? key : 'form') as FieldName | 'form';
      out[field] ??= d.message;
    }
    return out;
  }
  return { form: errorText(err) };
}

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '—');

/** The create / edit form of one schedule. */
function ScheduleForm({ initial, submitLabel, onSubmit, onCancel }: { initial: Form; submitLabel: string; onSubmit: (f: Form) => Promise<void>; onCancel?: () => void }) {
  const [form, setForm] = useState<Form>(initial);
  const [errors, setErrors] = useState<Errors>({});
  const set = (k: keyof Form) => (v: string | boolean) => setForm((f) => ({ ...f, [k]: v }));
  const described = describeCron(form.cron_expr);
  const submit = async () => {
    const parsed = CreateScheduleBody.safeParse(form);
    if (!parsed.success) {
      const e: Errors = {};
      for (const i of parsed.error.issues) {
        const k = String(i.path[0] ?? '');
        e[(FIELDS.includes(k) ? k : 'form') as FieldName | 'form'] ??= i.message;
      }
      setErrors(e);
      return;
    }
    setErrors({});
    try {
      await onSubmit(form);
    } catch (err) {
      setErrors(scheduleFieldErrors(err));
    }
  };
  const promptDescribed = errors.prompt ? 'schedule-prompt-error' : undefined;
  return (
    <form
      className="form schedule-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <TextField id="schedule-name" label="Name" value={form.name} onChange={set('name')} error={errors.name} placeholder="Daily report" />
      <div className="field-row">
        <TextField id="schedule-cron" label="Cron" value={form.cron_expr} onChange={set('cron_expr')} error={errors.cron_expr} hint={described ?? 'minute hour day-of-month month day-of-week, e.g. 0 9 * * 1-5'} />
        <TextField id="schedule-timezone" label="Time zone" value={form.timezone} onChange={set('timezone')} error={errors.timezone} hint="An IANA name, e.g. Europe/Paris" />
      </div>
      <div className="field">
        <label htmlFor="schedule-prompt">Prompt</label>
        <textarea id="schedule-prompt" rows={4} value={form.prompt} onChange={(e) => set('prompt')(e.target.value)} aria-invalid={errors.prompt ? true : undefined} aria-describedby={promptDescribed} />
        {errors.prompt ? (
          <span className="field-error" id="schedule-prompt-error" role="alert">
            {errors.prompt}
          </span>
        ) : null}
      </div>
      <label className="check">
        <input type="checkbox" checked={form.enabled} onChange={(e) => set('enabled')(e.target.checked)} /> Enabled
      </label>
      {errors.form ? (
        <p className="field-error" role="alert">
          {errors.form}
        </p>
      ) : null}
      <div className="actions">
        {onCancel ? (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        ) : null}
        <button type="submit">{submitLabel}</button>
      </div>
    </form>
  );
}

/** A schedule's recent runs, newest first. */
function History({ runs }: { runs: ScheduleRun[] }) {
  if (runs.length === 0) return <p className="note">No runs yet.</p>;
  return (
    <table aria-label="Run history">
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Status</th>
          <th scope="col">Took</th>
          <th scope="col">Reply or error</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.id}>
            <td>
              {when(r.started_at)}
              {r.trigger === 'manual' ? <span className="hint"> (run now)</span> : null}
            </td>
            <td>{r.status}</td>
            <td>{r.duration_ms === null ? '—' : `${(r.duration_ms / 1000).toFixed(1)} s`}</td>
            <td>{r.error ?? r.reply_summary ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * The Schedules tab: the workspace's cron schedules (what each sends, when in words, its next run,
 * its last outcome); create, edit, enable or disable, run now, history, delete (confirmed).
 */
export function SchedulesTab({ workspace, api }: TabProps) {
  return <SchedulesEditor api={api} workspaceId={workspace.id} />;
}

export function SchedulesEditor({ api, workspaceId }: { api: Api; workspaceId: string }) {
  const [list, setList] = useState<Schedule[] | undefined>();
  const [editing, setEditing] = useState<string | 'new' | undefined>();
  const [history, setHistory] = useState<{ id: string; runs: ScheduleRun[] } | undefined>();
  const [deleting, setDeleting] = useState<Schedule | undefined>();
  const [note, setNote] = useState('');
  const load = useCallback(() => {
    api
      .schedules(workspaceId)
      .then(setList)
      .catch((err: unknown) => setNote(`Could not list the schedules: ${errorText(err)}`));
  }, [api, workspaceId]);
  useEffect(load, [load]);
  const act = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      load();
    } catch (err) {
      setNote(`${what}: ${errorText(err)}`);
    }
  };
  const showHistory = async (id: string) => {
    if (history?.id === id) return setHistory(undefined);
    try {
      setHistory({ id, runs: await api.scheduleHistory(workspaceId, id) });
    } catch (err) {
      setNote(`Could not read the history: ${errorText(err)}`);
    }
  };
  return (
    <div className="secrets schedules">
      {list === undefined ? null : list.length === 0 ? <p className="note">No schedules yet.</p> : null}
      <ul className="schedule-list">
        {(list ?? []).map((s) =>
          editing === s.id ? (
            <li key={s.id}>
              <ScheduleForm
                initial={{ name: s.name, cron_expr: s.cron_expr, timezone: s.timezone, prompt: s.prompt, enabled: s.enabled }}
                submitLabel="Save schedule"
                onCancel={() => setEditing(undefined)}
                onSubmit={async (f) => {
                  await api.updateSchedule(workspaceId, s.id, f);
                  setEditing(undefined);
                  setNote(`Schedule ${f.name} saved.`);
                  load();
                }}
              />
            </li>
          ) : (
            <li key={s.id} aria-label={`Schedule ${s.name}`}>
              <div className="schedule-head">
                <strong>{s.name}</strong>
                <label className="check">
                  <input
                    type="checkbox"
                    checked={s.enabled}
                    aria-label={`Enabled: ${s.name}`}
                    onChange={(e) => void act('Not changed', () => api.updateSchedule(workspaceId, s.id, { enabled: e.target.checked }))}
                  />{' '}
                  Enabled
                </label>
              </div>
              <div className="hint">
                {describeCron(s.cron_expr) ?? s.cron_expr} ({s.timezone}) · <code>{s.cron_expr}</code>
              </div>
              <div>Next run: {s.enabled ? when(s.next_run_at) : 'disabled'}</div>
              <div>
                Runs: {s.run_count}
                {s.last_status ? ` · last: ${s.last_status}` : ''}
                {s.last_error ? ` (${s.last_error})` : ''}
              </div>
              <p className="schedule-prompt">{s.prompt}</p>
              <div className="actions">
                <button type="button" className="small" onClick={() => setEditing(s.id)}>
                  Edit
                </button>
                <button
                  type="button"
                  className="small"
                  onClick={() => void act('Not run', async () => setNote(`${s.name}: sent (${(await api.runSchedule(workspaceId, s.id)).run.status}); see its history.`))}
                >
                  Run now
                </button>
                <button type="button" className="small" aria-expanded={history?.id === s.id} onClick={() => void showHistory(s.id)}>
                  History
                </button>
                <button type="button" className="danger small" aria-label={`Delete schedule ${s.name}`} onClick={() => setDeleting(s)}>
                  Delete
                </button>
              </div>
              {history?.id === s.id ? <History runs={history.runs} /> : null}
            </li>
          ),
        )}
      </ul>
      {editing === 'new' ? (
        <ScheduleForm
          initial={EMPTY}
          submitLabel="Create schedule"
          onCancel={() => setEditing(undefined)}
          onSubmit={async (f) => {
            await api.createSchedule(workspaceId, f);
            setEditing(undefined);
            setNote(`Schedule ${f.name} created.`);
            load();
          }}
        />
      ) : (
        <div className="actions">
          <button type="button" onClick={() => setEditing('new')}>
            New schedule
          </button>
        </div>
      )}
      <p className="note" role="status" aria-live="polite">
        {note}
      </p>
      {deleting ? (
        <Dialog title={`Delete schedule ${deleting.name}?`} role="alertdialog" onClose={() => setDeleting(undefined)} describedBy="schedule-delete-body" initialFocus="[data-cancel]">
          <p id="schedule-delete-body">It stops firing and its history is removed.</p>
          <div className="actions">
            <button type="button" data-cancel onClick={() => setDeleting(undefined)}>
              Cancel
            </button>
            <button
              type="button"
              className="danger"
              onClick={() => {
                const s = deleting;
                setDeleting(undefined);
                void act('Not deleted', async () => {
                  await api.deleteSchedule(workspaceId, s.id);
                  setNote(`Schedule ${s.name} deleted.`);
                });
              }}
            >
              Delete schedule
            </button>
          </div>
        </Dialog>
      ) : null}
    </div>
  );
}
