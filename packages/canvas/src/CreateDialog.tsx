import { useEffect, useState } from 'react';
import { CONNECT_SNIPPETS, CreateWorkspaceBody, DELIVERY_MODES, RUNTIMES, TIERS, type ExternalConnection, type TemplateSummary, type WorkspaceView } from '@molecule/contracts';
import { ApiError, type Api } from './api.js';
import { errorText } from './actions.js';
import { Dialog } from './Dialog.js';
import { TabList } from './TabList.js';

/** The create form's fields, as typed (strings; converted on submit). */
export interface CreateForm {
  name: string;
  role: string;
  parent_id: string;
  runtime: string;
  template: string;
  model: string;
  tier: string;
  budget: string;
  delivery_mode: string;
}

export const EMPTY_FORM: CreateForm = { name: '', role: '', parent_id: '', runtime: '', template: '', model: '', tier: '', budget: '', delivery_mode: '' };

/** The form's field a body field's errors are shown at. */
const FIELD_OF: Record<string, keyof CreateForm> = { budget_limit: 'budget' };

/**
 * The request body a filled-in form means, or the errors to show at each field. It is checked with
 * the API's own schema, so the form says what the API would say, before anything is sent.
 */
export function createBody(form: CreateForm): { body: CreateWorkspaceBody } | { errors: Partial<Record<keyof CreateForm | 'form', string>> } {
  const errors: Partial<Record<keyof CreateForm | 'form', string>> = {};
  let budget: number | undefined;
  if (form.budget.trim() !== '') {
    const dollars = Number(form.budget);
    if (!/^\d+(\.\d{1,2})?$/.test(form.budget.trim()) || !Number.isFinite(dollars)) errors.budget = 'budget must be an amount in dollars, like 25 or 12.50';
    else budget = Math.round(dollars * 100);
  }
  const raw: Record<string, unknown> = { name: form.name };
  if (form.role.trim()) raw.role = form.role.trim();
  if (form.parent_id) raw.parent_id = form.parent_id;
  if (form.runtime) raw.runtime = form.runtime;
  if (form.template.trim()) raw.template = form.template.trim();
  if (form.model.trim()) raw.model = form.model.trim();
  if (form.tier) raw.tier = Number(form.tier);
  if (budget !== undefined) raw.budget_limit = budget;
  if (form.delivery_mode) raw.delivery_mode = form.delivery_mode;
  const parsed = CreateWorkspaceBody.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? 'form');
      const field = (FIELD_OF[key] ?? (key in EMPTY_FORM ? key : 'form')) as keyof CreateForm | 'form';
      errors[field] ??= issue.message;
    }
  }
  if (Object.keys(errors).length > 0 || !parsed.success) return { errors };
  return { body: parsed.data };
}

/** The API's refusal, at the field it names (`details[].path` like `/name`), else for the whole form. */
export function fieldErrors(err: unknown): Partial<Record<keyof CreateForm | 'form', string>> {
  if (err instanceof ApiError && err.details.length > 0) {
    const out: Partial<Record<keyof CreateForm | 'form', string>> = {};
    for (const d of err.details) {
      const key = d.path.replace(/^\//, '').split('/')[0] ?? '';
      const field = (FIELD_OF[key] ?? (key in EMPTY_FORM ? key : 'form')) as keyof CreateForm | 'form';
      out[field] ??= d.message;
    }
    return out;
  }
  return { form: errorText(err) };
}

/** Create a workspace: every field the API takes, its errors shown at the field. */
export function CreateDialog({
  api,
  workspaces,
  parentId,
  template,
  onClose,
  onCreated,
}: {
  api: Api;
  workspaces: Record<string, WorkspaceView>;
  /** Pre-selected parent (creating "inside" a team). */
  parentId?: string;
  /** Pre-selected template (from the template palette). */
  template?: string;
  onClose: () => void;
  onCreated: (w: WorkspaceView & { connection?: ExternalConnection }) => void;
}) {
  const [form, setForm] = useState<CreateForm>({ ...EMPTY_FORM, parent_id: parentId ?? '', template: template ?? '' });
  const [errors, setErrors] = useState<Partial<Record<keyof CreateForm | 'form', string>>>({});
  const [busy, setBusy] = useState(false);
  const [templates, setTemplates] = useState<TemplateSummary[] | undefined>();
  // The runtimes this platform can run; every known runtime when the list cannot be read.
  const [runtimes, setRuntimes] = useState<{ name: string; required_env: readonly string[] }[]>(() => RUNTIMES.map((name) => ({ name, required_env: [] })));
  useEffect(() => {
    let live = true;
    api
      .templates()
      .then((t) => live && setTemplates(t))
      .catch(() => live && setTemplates([]));
    api
      .runtimes()
      .then((list) => live && setRuntimes(list.filter((r) => r.runnable)))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [api]);
  const chosen = templates?.find((t) => t.id === form.template);
  const set = (k: keyof CreateForm) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const submit = async () => {
    const checked = createBody(form);
    if ('errors' in checked) {
      setErrors(checked.errors);
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      onCreated(await api.create(checked.body));
    } catch (err) {
      setErrors(fieldErrors(err));
    } finally {
      setBusy(false);
    }
  };
  const field = (k: keyof CreateForm, label: string, input: React.ReactNode, hint?: string) => (
    <div className="field">
      <label htmlFor={`create-${k}`}>{label}</label>
      {input}
      {hint ? (
        <span className="hint" id={`create-${k}-hint`}>
          {hint}
        </span>
      ) : null}
      {errors[k] ? (
        <span className="field-error" id={`create-${k}-error`} role="alert">
          {errors[k]}
        </span>
      ) : null}
    </div>
  );
  const aria = (k: keyof CreateForm, hint = false) => ({
    id: `create-${k}`,
    'aria-invalid': errors[k] ? true : undefined,
    'aria-describedby': [errors[k] ? `create-${k}-error` : '', hint ? `create-${k}-hint` : ''].filter(Boolean).join(' ') || undefined,
  });
  const parents = Object.values(workspaces).sort((a, b) => a.name.localeCompare(b.name));
  return (
    <Dialog title="Create a workspace" onClose={onClose} initialFocus="#create-name" wide>
      <form
        className="form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        {field('name', 'Name', <input {...aria('name')} value={form.name} onChange={set('name')} autoComplete="off" required />)}
        {field('role', 'Role', <input {...aria('role')} value={form.role} onChange={set('role')} placeholder="What it does, e.g. Researcher" />)}
        {field(
          'parent_id',
          'Reports to',
          <select {...aria('parent_id')} value={form.parent_id} onChange={set('parent_id')}>
            <option value="">Nobody (top level)</option>
            {parents.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>,
        )}
        <div className="field-row">
          {field(
            'runtime',
            'Runtime',
            <select {...aria('runtime')} value={form.runtime} onChange={set('runtime')}>
              <option value="">Default (from the template, else molecule)</option>
              {runtimes.map(({ name: r, required_env: keys }) => (
                <option key={r} value={r}>
                  {r === 'external' ? 'external (an agent you run elsewhere)' : keys.length > 0 ? `${r} (needs ${keys.join(', ')})` : r}
                </option>
              ))}
            </select>,
          )}
          {field('tier', 'Tier', (
            <select {...aria('tier')} value={form.tier} onChange={set('tier')}>
              <option value="">Default (2)</option>
              {TIERS.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          ))}
        </div>
        <div className="field-row">
          {field(
            'template',
            'Template',
            <select {...aria('template', true)} value={form.template} onChange={set('template')}>
              <option value="">None</option>
              {(templates ?? []).map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name === t.id ? t.id : `${t.name} (${t.id})`}
                </option>
              ))}
            </select>,
            chosen ? chosen.description || `Runtime ${chosen.runtime || 'molecule'}.` : templates?.length === 0 ? 'No templates found.' : 'What the agent starts from.',
          )}
          {field('model', 'Model', <input {...aria('model')} value={form.model} onChange={set('model')} placeholder={chosen?.model || 'From the template'} />)}
        </div>
        <div className="field-row">
          {field('budget', 'Monthly budget (USD)', <input {...aria('budget', true)} value={form.budget} onChange={set('budget')} inputMode="decimal" />, 'Empty: no limit.')}
          {field(
            'delivery_mode',
            'Delivery',
            <select {...aria('delivery_mode')} value={form.delivery_mode} onChange={set('delivery_mode')}>
              <option value="">Default (push; poll for external)</option>
              {DELIVERY_MODES.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>,
          )}
        </div>
        {errors.form ? (
          <p role="alert" className="field-error">
            {errors.form}
          </p>
        ) : null}
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/**
 * How to connect an external agent (C268, C273): a tab per snippet the platform returned (Universal
 * MCP first and selected), each stamped with the token and with a copy button, then the raw fields.
 * The token is shown only here. The workspace's status shows live, so the user sees the agent
 * come online once the snippet runs.
 */
export function ConnectDialog({ name, connection, status, onClose }: { name: string; connection: ExternalConnection; status: string | undefined; onClose: () => void }) {
  const [copied, setCopied] = useState('');
  const tabs = [...CONNECT_SNIPPETS.filter((s) => connection[s.field]).map((s) => ({ id: s.field as string, label: s.label })), { id: 'fields', label: 'Fields' }];
  const [tab, setTab] = useState(tabs[0]!.id);
  const copy = async (label: string, text: string) => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(`${label} copied.`);
    } catch {
      setCopied(`Could not copy: select the ${label.toLowerCase()} and copy it by hand.`);
    }
  };
  const rows: [string, string][] = [
    ['Workspace id', connection.workspace_id],
    ['Platform URL', connection.platform_url],
    ['Register', `POST ${connection.registry_endpoint}`],
    ['Heartbeat', `POST ${connection.heartbeat_endpoint}`],
  ];
  const snippet = CONNECT_SNIPPETS.find((s) => s.field === tab);
  const online = status === 'online' || status === 'degraded';
  return (
    <Dialog title={`Connect ${name}`} onClose={onClose} wide describedBy="connect-intro">
      <p id="connect-intro">
        Run your agent anywhere: paste one of these where it runs. They carry this workspace&apos;s token, shown <strong>only now</strong> (the
        workspace&apos;s Details tab can make another).
      </p>
      <p className={`connect-status${online ? ' connect-online' : ''}`} role="status" aria-live="polite">
        {online ? `${name} is online.` : `Waiting for the agent to connect (${status ?? 'awaiting_agent'})…`}
      </p>
      <TabList label="Ways to connect" tabs={tabs} current={tab} onTab={setTab} idPrefix="connect-" />
      <div role="tabpanel" id={`connect-panel-${tab}`} aria-labelledby={`connect-tab-${tab}`} className="tabpanel">
        {snippet ? (
          <>
            <pre className="snippet" tabIndex={0} aria-label={`${snippet.label} snippet`}>
              {connection[snippet.field]}
            </pre>
            <button type="button" onClick={() => void copy(snippet.label, connection[snippet.field]!)}>
              Copy {snippet.label} snippet
            </button>
          </>
        ) : (
          <>
            <div className="token-box">
              <label htmlFor="connect-token">Token</label>
              <input id="connect-token" readOnly value={connection.auth_token} onFocus={(e) => e.target.select()} />
              <button type="button" onClick={() => void copy('Token', connection.auth_token)}>
                Copy token
              </button>
            </div>
            <dl className="details">
              {rows.map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>
                    <code>{v}</code>
                  </dd>
                </div>
              ))}
            </dl>
          </>
        )}
      </div>
      <p className="note" role="status" aria-live="polite">
        {copied}
      </p>
      <div className="actions">
        <button type="button" className="primary" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}
