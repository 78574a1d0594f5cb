import { useEffect, useState } from 'react';
import { providerFromModel, SetModelBody, SetProviderBody } from '@molecule/contracts';
import { errorText } from './actions.js';
import { TextField } from './Field.js';
import type { TabProps } from './tab.js';

type What = 'model' | 'provider';

/** The Config tab: the model and provider the agent runs with (kept across restarts; a change restarts it). */
export function ConfigTab({ workspace, api }: TabProps) {
  const [values, setValues] = useState<Record<What, string>>({ model: '', provider: '' });
  const [saved, setSaved] = useState<Record<What, string>>({ model: '', provider: '' });
  const [errors, setErrors] = useState<Partial<Record<What, string>>>({});
  const [note, setNote] = useState('');
  useEffect(() => {
    let live = true;
    void Promise.all([api.choice(workspace.id, 'model'), api.choice(workspace.id, 'provider')])
      .then(([m, p]) => {
        if (!live) return;
        const now = { model: m.model ?? '', provider: p.provider ?? '' };
        // What the user typed while this loaded stays (it used to be overwritten, losing the edit).
        setValues((v) => ({ model: v.model === '' ? now.model : v.model, provider: v.provider === '' ? now.provider : v.provider }));
        setSaved(now);
      })
      .catch((err: unknown) => live && setNote(`Could not read the configuration: ${errorText(err)}`));
    return () => {
      live = false;
    };
  }, [api, workspace.id]);
  const save = async (what: What) => {
    const value = values[what].trim();
    const parsed = what === 'model' ? SetModelBody.safeParse({ model: value }) : SetProviderBody.safeParse({ provider: value });
    if (!parsed.success) {
      setErrors({ [what]: parsed.error.issues[0]?.message ?? 'invalid' });
      return;
    }
    setErrors({});
    try {
      const r = await api.setChoice(workspace.id, what, value);
      setSaved((s) => ({ ...s, [what]: value, ...(what === 'model' && providerFromModel(value) ? { provider: providerFromModel(value) } : {}) }));
      if (what === 'model' && providerFromModel(value)) setValues((v) => ({ ...v, provider: providerFromModel(value) }));
      setNote(`${what === 'model' ? 'Model' : 'Provider'} ${r.status}.${r.restarted ? ' The agent is restarting to apply it.' : ' It applies at the next start.'}`);
    } catch (err) {
      setNote(`Not saved: ${errorText(err)}`);
    }
  };
  const field = (what: What, label: string, hint: string) => (
    <form
      className="inline-form config-row"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void save(what);
      }}
    >
      <TextField id={`config-${what}`} label={label} value={values[what]} onChange={(v) => setValues((vs) => ({ ...vs, [what]: v }))} error={errors[what]} hint={hint} />
      <button type="submit" disabled={values[what].trim() === saved[what]}>
        {values[what].trim() === '' && saved[what] !== '' ? `Clear ${what}` : `Save ${what}`}
      </button>
    </form>
  );
  return (
    <div>
      {field('model', 'Model', 'A model slug such as anthropic/claude-sonnet-4-5; its prefix sets the provider. Empty: the template default.')}
      {field('provider', 'Provider', 'The LLM provider slug, such as anthropic or openrouter. Empty: derived at start.')}
      <p className="note" role="status" aria-live="polite">
        {note}
      </p>
    </div>
  );
}
