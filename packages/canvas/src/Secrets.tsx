import { useCallback, useEffect, useState } from 'react';
import { SetSecretBody, type SecretChange, type SecretView } from '@molecule/contracts';
import { errorText } from './actions.js';
import { TextField } from './Field.js';
import type { Api } from './api.js';
import type { TabProps } from './tab.js';
import { When } from './When.js';

/** Where a secret comes from, in words. */
export function provenance(s: SecretView): string {
  if (s.scope === 'global') return 'org-wide';
  if (s.scope === 'workspace') return 'this workspace';
  return `inherited from ${s.workspace_name ?? 'an ancestor'}`;
}

/** What a change means for running agents, in words. */
export function changeNote(r: SecretChange): string {
  const waiting = r.restart_required.filter((id) => !r.restarted.includes(id)).length;
  const parts = [`${r.key} ${r.status}.`];
  if (r.restarted.length > 0) parts.push(`Restarted ${r.restarted.length} workspace${r.restarted.length === 1 ? '' : 's'} to apply it.`);
  if (waiting > 0) parts.push(`${waiting} workspace${waiting === 1 ? '' : 's'} run${waiting === 1 ? 's' : ''} with the old value until restarted.`);
  return parts.join(' ');
}

/**
 * Secrets of one layer: the org (no workspace) or a workspace. Lists names and where each comes
 * from (never values); sets and deletes this layer's own, optionally restarting who uses them.
 */
export function SecretsEditor({ api, workspaceId }: { api: Api; workspaceId?: string }) {
  const [list, setList] = useState<SecretView[] | undefined>();
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const [restart, setRestart] = useState(false);
  const [errors, setErrors] = useState<{ key?: string; value?: string }>({});
  const [note, setNote] = useState('');
  const load = useCallback(() => {
    api
      .secrets(workspaceId)
      .then(setList)
      .catch((err: unknown) => setNote(`Could not list the secrets: ${errorText(err)}`));
  }, [api, workspaceId]);
  useEffect(load, [load]);
  const save = async () => {
    const parsed = SetSecretBody.safeParse({ key, value });
    if (!parsed.success) {
      const e: { key?: string; value?: string } = {};
      for (const i of parsed.error.issues) {
        const f = i.path[0] === 'value' ? 'value' : 'key';
        e[f] ??= i.message;
      }
      setErrors(e);
      return;
    }
    setErrors({});
    try {
      setNote(changeNote(await api.setSecret(workspaceId, parsed.data.key, parsed.data.value, restart)));
      setKey('');
      setValue('');
      load();
    } catch (err) {
      setNote(`Not saved: ${errorText(err)}`);
    }
  };
  const remove = async (k: string) => {
    try {
      setNote(changeNote(await api.deleteSecret(workspaceId, k, restart)));
      load();
    } catch (err) {
      setNote(`Not deleted: ${errorText(err)}`);
    }
  };
  const id = workspaceId ? 'ws-secret' : 'org-secret';
  return (
    <div className="secrets">
      {list === undefined ? null : list.length === 0 ? (
        <p className="note">No secrets{workspaceId ? ' reach this workspace' : ''} yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              {workspaceId ? <th scope="col">From</th> : null}
              <th scope="col">Updated</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr key={s.key}>
                <td>
                  <code>{s.key}</code>
                </td>
                {workspaceId ? (
                  <td>
                    {provenance(s)}
                    {s.overrides?.length ? <span className="hint"> (overrides {s.overrides.join(', ')})</span> : null}
                  </td>
                ) : null}
                <td>
                  <When iso={s.updated_at} />
                </td>
                <td>
                  {!workspaceId || s.scope === 'workspace' ? (
                    <button type="button" className="danger small" aria-label={`Delete secret ${s.key}`} onClick={() => void remove(s.key)}>
                      Delete
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        className="form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <div className="field-row">
          <TextField id={`${id}-key`} label="Name" value={key} onChange={setKey} error={errors.key} placeholder="OPENAI_API_KEY" />
          <TextField id={`${id}-value`} label="Value" type="password" value={value} onChange={setValue} error={errors.value} />
        </div>
        <label className="check">
          <input type="checkbox" checked={restart} onChange={(e) => setRestart(e.target.checked)} /> Restart the workspaces that use it now
        </label>
        <div className="actions">
          <button type="submit">{workspaceId ? 'Save for this workspace' : 'Save org-wide'}</button>
        </div>
      </form>
      <p className="note" role="status" aria-live="polite">
        {note}
      </p>
    </div>
  );
}

/** The Secrets tab: the secrets this workspace's agent gets, and where each comes from. */
export function SecretsTab({ workspace, api }: TabProps) {
  return (
    <div>
      {workspace.restart_pending ? <p className="pending">Secrets changed since this agent started: restart it to apply them.</p> : null}
      <SecretsEditor api={api} workspaceId={workspace.id} />
    </div>
  );
}
