import { useCallback, useEffect, useState } from 'react';
import { errorText } from './actions.js';
import { TokenTable } from './TokenTable.js';
import type { Api, OrgTokenView } from './api.js';
import { TextField } from './Field.js';

/**
 * Org tokens (Settings): full-admin bearer tokens for scripts and CI. Lists them by prefix, mints one
 * (shown once, with a copy button) and revokes.
 */
export function OrgTokens({ api }: { api: Api }) {
  const [tokens, setTokens] = useState<OrgTokenView[] | undefined>();
  const [name, setName] = useState('');
  const [fresh, setFresh] = useState<{ prefix: string; token: string } | undefined>();
  const [note, setNote] = useState('');
  const load = useCallback(() => {
    api
      .orgTokens()
      .then((r) => setTokens(r.tokens))
      .catch((err: unknown) => setNote(`Could not list the org tokens: ${errorText(err)}`));
  }, [api]);
  useEffect(load, [load]);
  const create = async () => {
    try {
      const t = await api.createOrgToken(name.trim() || undefined);
      setFresh({ prefix: t.prefix, token: t.auth_token });
      setName('');
      setNote('');
      load();
    } catch (err) {
      setNote(`No new token: ${errorText(err)}`);
    }
  };
  const revoke = async (t: OrgTokenView) => {
    try {
      await api.revokeOrgToken(t.id);
      setNote(`Token ${t.prefix}… revoked.`);
      if (fresh?.prefix === t.prefix) setFresh(undefined);
      load();
    } catch (err) {
      setNote(`Not revoked: ${errorText(err)}`);
    }
  };
  const copy = async (text: string) => {
    try {
      await navigator.clipboard.writeText(text);
      setNote('Copied.');
    } catch {
      setNote('Could not copy: select the token and copy it by hand.');
    }
  };
  return (
    <section aria-labelledby="org-tokens-title" className="tokens">
      <h3 id="org-tokens-title">Org tokens</h3>
      <p className="note">Each reaches everything an admin does (for scripts and CI). Revoke one you no longer use.</p>
      {tokens === undefined ? null : tokens.length === 0 ? (
        <p className="note">No live org tokens.</p>
      ) : (
        <TokenTable tokens={tokens} what="org token" onRevoke={(t) => void revoke(t)} />
      )}
      {fresh ? (
        <div className="pending" role="status">
          <p>
            The new token is shown <strong>only now</strong>:
          </p>
          <div className="token-box">
            <code aria-label="New org token">{fresh.token}</code>
            <button type="button" onClick={() => void copy(fresh.token)}>
              Copy token
            </button>
          </div>
        </div>
      ) : null}
      <div className="inline-form">
        <TextField id="org-token-name" label="Name (optional)" value={name} onChange={setName} placeholder="ci-deploys" />
        <button type="button" onClick={() => void create()}>
          New org token
        </button>
      </div>
      <p className="note" role="status" aria-live="polite">
        {note}
      </p>
    </section>
  );
}
