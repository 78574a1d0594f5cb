import { useCallback, useEffect, useState } from 'react';
import { importSettled, SecretKey, tallyImport, type EnvRequirement, type OrgImportResult, type OrgTemplateSummary, type TemplateSummary, type WorkspaceView } from '@molecule/contracts';
import { errorText } from './actions.js';
import { Dialog } from './Dialog.js';
import { TextField } from './Field.js';
import type { Api } from './api.js';
import type { OrgImport } from './store.js';

/** A requirement in words: `KEY`, or `one of A, B`. */
export const envWords = (r: EnvRequirement) => (typeof r === 'string' ? r : `one of ${r.any_of.join(', ')}`);

/**
 * Import an org: the org templates to pick from, then the preflight (each key the org needs that
 * the org-wide secrets lack, entered here and saved as org-wide secrets), then the import. The
 * workspaces then appear on the chart as they are created and the toolbar follows them.
 */
export function ImportOrgDialog({ api, onClose, onImported }: { api: Api; onClose: () => void; onImported: (r: OrgImportResult) => void }) {
  const [list, setList] = useState<OrgTemplateSummary[] | undefined>();
  const [chosen, setChosen] = useState<string | undefined>();
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  /** Per missing requirement (by its index): which key and the value typed. */
  const [entries, setEntries] = useState<Record<number, { key: string; value: string; error?: string }>>({});
  const load = useCallback(async () => {
    try {
      const l = await api.orgTemplates();
      setList(l);
      return l;
    } catch (err) {
      setNote(`Could not list the org templates: ${errorText(err)}`);
      return undefined;
    }
  }, [api]);
  useEffect(() => void load(), [load]);
  const org = list?.find((o) => o.dir === chosen);
  const missing = org?.missing_env ?? [];
  const entry = (i: number, r: EnvRequirement) => entries[i] ?? { key: typeof r === 'string' ? r : r.any_of[0]!, value: '' };

  const run = async () => {
    if (!org) return;
    setBusy(true);
    setNote('');
    try {
      // The preflight first: every missing key must be given, and valid, before anything is saved.
      const given = missing.map((r, i) => ({ i, ...entry(i, r) }));
      const bad: typeof entries = {};
      for (const g of given) {
        const k = SecretKey.safeParse(g.key);
        if (!k.success) bad[g.i] = { ...g, error: k.error.issues[0]!.message };
        else if (g.value === '') bad[g.i] = { ...g, error: `Enter the value of ${g.key}` };
      }
      if (Object.keys(bad).length > 0) {
        setEntries({ ...entries, ...bad });
        return;
      }
      for (const g of given) await api.setSecret(undefined, g.key, g.value, false);
      if (given.length > 0) {
        const fresh = await load();
        const still = fresh?.find((o) => o.dir === org.dir)?.missing_env ?? [];
        if (still.length > 0) {
          setNote(`Still missing: ${still.map(envWords).join('; ')}.`);
          return;
        }
      }
      onImported(await api.importOrg(org.dir));
    } catch (err) {
      setNote(`Not imported: ${errorText(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title="Import an org" onClose={onClose} wide>
      <p className="note">An org template describes a whole team: its workspaces, who reports to whom, their templates and schedules, and the keys it needs.</p>
      {list === undefined ? <p>Loading the org templates…</p> : null}
      {list?.length === 0 ? (
        <p>
          No org templates on the platform. Put one in <code>org-templates/&lt;name&gt;/org.yaml</code>, or import a local one with <code>molecule org import ./folder</code>.
        </p>
      ) : null}
      {list && list.length > 0 ? (
        <fieldset className="choices">
          <legend>Org template</legend>
          {list.map((o) => (
            <label key={o.dir} className={`choice${chosen === o.dir ? ' chosen' : ''}`}>
              <input type="radio" name="org-template" value={o.dir} checked={chosen === o.dir} onChange={() => setChosen(o.dir)} />
              <span className="choice-title">
                {o.name} <span className="muted">· {o.workspaces} workspace{o.workspaces === 1 ? '' : 's'}</span>
              </span>
              {o.description ? <span className="choice-text">{o.description}</span> : null}
              <span className="choice-text">{o.missing_env.length === 0 ? 'Ready to import.' : `Needs ${o.missing_env.map(envWords).join('; ')}.`}</span>
            </label>
          ))}
        </fieldset>
      ) : null}
      {org && missing.length > 0 ? (
        <section aria-label="Keys this org needs">
          <h3>Keys this org needs</h3>
          <p className="note">Saved as org-wide secrets (Settings lists them); every workspace of the org gets them as environment variables.</p>
          {missing.map((r, i) => {
            const e = entry(i, r);
            return (
              <div key={i} className="preflight-row">
                {typeof r === 'string' ? null : (
                  <div className="field">
                    <label htmlFor={`need-${i}-key`}>Which key</label>
                    <select id={`need-${i}-key`} value={e.key} onChange={(ev) => setEntries({ ...entries, [i]: { ...e, key: ev.target.value } })}>
                      {r.any_of.map((k) => (
                        <option key={k} value={k}>
                          {k}
                        </option>
                      ))}
                    </select>
                  </div>
                )}
                <TextField id={`need-${i}-value`} label={e.key} type="password" value={e.value} error={e.error} onChange={(v) => setEntries({ ...entries, [i]: { key: e.key, value: v } })} />
              </div>
            );
          })}
        </section>
      ) : null}
      <p role="status" aria-live="polite" className="note">
        {note}
      </p>
      <div className="actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" disabled={!org || busy} onClick={() => void run()}>
          {busy ? 'Importing…' : missing.length > 0 ? 'Save keys and import' : 'Import'}
        </button>
      </div>
    </Dialog>
  );
}

/** One import's progress on the toolbar: a bar, the counts, and a way to stop showing it. */
export function ImportProgress({ imp, workspaces, onDismiss }: { imp: OrgImport; workspaces: Record<string, WorkspaceView>; onDismiss: () => void }) {
  // The chart leaves removed workspaces out; one not there yet is still being created.
  const t = tallyImport(imp.ids, (id) => workspaces[id]?.status, false);
  const done = importSettled(t);
  const parts = [`${t.online} of ${t.total} online`];
  if (t.failed > 0) parts.push(`${t.failed} failed`);
  if (t.awaiting > 0) parts.push(`${t.awaiting} waiting for their agent`);
  return (
    <div className={`import-progress${t.failed > 0 ? ' has-failures' : ''}`} role="status" aria-live="polite">
      <span>
        {done ? 'Imported' : 'Importing'} {imp.org}: {parts.join(', ')}
      </span>
      <progress max={t.total} value={t.online + t.failed + t.awaiting + t.removed} aria-label={`${imp.org} import progress`} />
      <button type="button" onClick={onDismiss} aria-label={`${done ? 'Dismiss' : 'Hide'} the ${imp.org} import`}>
        {done ? 'Dismiss' : 'Hide'}
      </button>
    </div>
  );
}

/**
 * The workspace templates: each with what it is, a button that opens the create dialog on it, and
 * a way to add one from a folder on this computer (sent as its files).
 */
export function TemplatePalette({ api, onCreate, onClose }: { api: Api; onCreate: (template: string) => void; onClose: () => void }) {
  const [list, setList] = useState<TemplateSummary[] | undefined>();
  const [note, setNote] = useState('');
  const load = useCallback(() => {
    api
      .templates()
      .then(setList)
      .catch((err: unknown) => setNote(`Could not list the templates: ${errorText(err)}`));
  }, [api]);
  useEffect(load, [load]);
  const upload = async (files: FileList | null) => {
    if (!files || files.length === 0) return;
    const first = files[0]!.webkitRelativePath || files[0]!.name;
    const name = first.includes('/') ? first.split('/')[0]! : 'uploaded-template';
    const out: Record<string, string> = {};
    for (const f of Array.from(files)) out[(f.webkitRelativePath || f.name).split('/').slice(1).join('/') || f.name] = await f.text();
    try {
      const r = await api.importTemplate(name, out);
      setNote(`Template ${r.name} added (${r.files} file${r.files === 1 ? '' : 's'}).`);
      load();
    } catch (err) {
      setNote(`Not added: ${errorText(err)}`);
    }
  };
  return (
    <Dialog title="Workspace templates" onClose={onClose} wide>
      {list === undefined ? <p>Loading…</p> : null}
      <ul className="palette">
        {list?.map((t) => (
          <li key={t.id}>
            <div>
              <strong>{t.name}</strong> <span className="muted">{t.id}</span>
              <p className="choice-text">{t.description || 'No description.'}</p>
              <p className="muted">
                {t.runtime || 'molecule'}
                {t.model ? ` · ${t.model}` : ''}
                {t.skill_count > 0 ? ` · ${t.skill_count} skill${t.skill_count === 1 ? '' : 's'}` : ''}
                {t.required_env?.length ? ` · needs ${t.required_env.join(', ')}` : ''}
              </p>
            </div>
            <button type="button" onClick={() => onCreate(t.id)} aria-label={`Create a workspace from ${t.name}`}>
              Create from it
            </button>
          </li>
        ))}
      </ul>
      <div className="field">
        <label htmlFor="template-folder">Add a template from a folder (with a config.yaml at its top)</label>
        <input id="template-folder" type="file" {...{ webkitdirectory: '', directory: '' }} multiple onChange={(e) => void upload(e.target.files)} />
      </div>
      <p role="status" aria-live="polite" className="note">
        {note}
      </p>
      <div className="actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
