import type { TokenView } from '@molecule/contracts';
import { When } from './When.js';

/**
 * Live tokens by prefix (never the tokens), when each was made and last used, and a Revoke button
 * each: a workspace's tokens (Details) and the org tokens (Settings).
 */
export function TokenTable<T extends TokenView & { name?: string }>({ tokens, what, onRevoke }: { tokens: readonly T[]; what: string; onRevoke: (t: T) => void }) {
  const named = tokens.some((t) => t.name !== undefined);
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Token</th>
          {named ? <th scope="col">Name</th> : null}
          <th scope="col">Created</th>
          <th scope="col">Last used</th>
          <th scope="col">
            <span className="sr-only">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {tokens.map((t) => (
          <tr key={t.id}>
            <td>
              <code>{t.prefix}…</code>
            </td>
            {named ? <td>{t.name}</td> : null}
            <td>
              <When iso={t.created_at} />
            </td>
            <td>{t.last_used_at ? <When iso={t.last_used_at} /> : 'never'}</td>
            <td>
              <button type="button" className="danger small" onClick={() => onRevoke(t)} aria-label={`Revoke ${what} ${t.prefix}`}>
                Revoke
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
