import { useCallback, useEffect, useState, type ReactNode } from 'react';
import type { TokenView, WorkspaceView } from '@molecule/contracts';
import { ACTION_LABEL, actionsFor, errorText } from './actions.js';
import { BudgetSection } from './Budget.js';
import { TokenTable } from './TokenTable.js';
import { STATUS_LOOK, statusLine } from './status.js';
import type { TabProps } from './tab.js';
import { descendantsOf } from './tree.js';

/** Who a workspace may talk to under the hierarchy rule: its parent, its children and its siblings. */
export function peersOf(workspaces: Record<string, WorkspaceView>, w: WorkspaceView): WorkspaceView[] {
  const all = Object.values(workspaces);
  return all.filter((o) => o.id !== w.id && (o.id === w.parent_id || o.parent_id === w.id || (o.parent_id === w.parent_id && w.parent_id !== null)));
}

/** The Details tab: what the workspace is, who it reports to and talks to, its budget, its tokens, and its lifecycle actions. */
export function DetailsTab({ workspace: w, workspaces, api, feed, canvas }: TabProps) {
  const [message, setMessage] = useState('');
  const run = async (label: string, action: () => Promise<unknown>) => {
    setMessage(`${label}…`);
    try {
      await action();
      setMessage(`${label}: done.`);
    } catch (err) {
      setMessage(`${label} failed: ${errorText(err)}`);
    }
  };
  const look = STATUS_LOOK[w.status];
  const peers = peersOf(workspaces, w);
  const rows: [string, ReactNode][] = [
    ['Status', <span style={{ color: look.colour }}>{statusLine(w)}</span>],
    ...(w.restart_pending ? ([['Restart to apply', 'its secrets changed since its agent started']] as [string, ReactNode][]) : []),
    ['Role', w.role ?? '—'],
    ['Runtime', `${w.runtime}${w.template ? ` (template ${w.template})` : ''}`],
    ['Model', w.model ?? '—'],
    ['Tier', String(w.tier)],
    ['Delivery', w.delivery_mode],
    ['URL', w.url || '—'],
    ['Tasks', `${w.active_tasks} of ${w.max_concurrent_tasks}${w.current_task ? `: ${w.current_task}` : ''}`],
    ['Peers', peers.length === 0 ? 'none' : peers.map((p) => p.name).join(', ')],
    ['Last heartbeat', w.last_heartbeat_at ? new Date(w.last_heartbeat_at).toLocaleString() : '—'],
    ['Id', <code>{w.id}</code>],
  ];
  return (
    <div>
      <dl className="details">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
      <ReportsTo workspace={w} workspaces={workspaces} onMove={(parentId) => run('Move', () => canvas.move(w.id, parentId))} />
      <div className="actions">
        {actionsFor(w).map((a) => (
          <button key={a} type="button" onClick={() => void run(ACTION_LABEL[a], () => api.lifecycle(w.id, a))}>
            {ACTION_LABEL[a]}
          </button>
        ))}
        <button type="button" className="danger" onClick={() => canvas.requestDelete([w.id])}>
          Delete
        </button>
      </div>
      <p role="status" aria-live="polite" className="note">
        {message}
      </p>
      <AgentCardSection card={w.agent_card} />
      <BudgetSection {...{ workspace: w, workspaces, api, feed }} />
      <Tokens {...{ workspace: w, api, canvas }} />
    </div>
  );
}

/** What the Details tab shows of an agent card: its name, description, version and skills (at most 20). */
export interface CardSummary {
  name: string;
  description?: string;
  version?: string;
  skills: { name: string; description?: string }[];
  moreSkills: number;
}

const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

/** The card's summary, or undefined for a card with no name (nothing worth a section). */
export function cardSummary(card: unknown): CardSummary | undefined {
  if (typeof card !== 'object' || card === null || Array.isArray(card)) return undefined;
  const c = card as Record<string, unknown>;
  const name = text(c.name);
  if (!name) return undefined;
  const skills = (Array.isArray(c.skills) ? c.skills : []).flatMap((sk: unknown) => {
    const o = typeof sk === 'object' && sk !== null ? (sk as Record<string, unknown>) : {};
    const n = text(o.name) ?? text(o.id);
    return n ? [{ name: n, description: text(o.description) }] : [];
  });
  return { name, description: text(c.description), version: text(c.version), skills: skills.slice(0, 20), moreSkills: Math.max(0, skills.length - 20) };
}

/** The agent's card as it published or registered it (an external A2A service's own card is fetched by the platform). */
function AgentCardSection({ card }: { card: unknown }) {
  const s = cardSummary(card);
  if (!s) return null;
  return (
    <section aria-labelledby="card-title" className="agent-card">
      <h3 id="card-title">Agent card</h3>
      <p>
        <strong>{s.name}</strong>
        {s.version ? ` (version ${s.version})` : ''}
        {s.description ? `: ${s.description}` : ''}
      </p>
      {s.skills.length > 0 && (
        <ul aria-label="Skills">
          {s.skills.map((sk, i) => (
            <li key={i}>
              {sk.name}
              {sk.description ? `: ${sk.description}` : ''}
            </li>
          ))}
          {s.moreSkills > 0 && <li>and {s.moreSkills} more</li>}
        </ul>
      )}
    </section>
  );
}

/** Re-parenting from the keyboard: the same move a drag makes. Its own members are not offered (that would be a cycle). */
function ReportsTo({ workspace: w, workspaces, onMove }: { workspace: WorkspaceView; workspaces: Record<string, WorkspaceView>; onMove: (parentId: string | null) => Promise<void> }) {
  const below = new Set(descendantsOf(workspaces, w.id).map((d) => d.id));
  const options = Object.values(workspaces)
    .filter((o) => o.id !== w.id && !below.has(o.id))
    .sort((a, b) => a.name.localeCompare(b.name));
  const current = w.parent_id && workspaces[w.parent_id] ? w.parent_id : '';
  const [choice, setChoice] = useState(current);
  useEffect(() => setChoice(current), [current]);
  return (
    <form
      className="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        void onMove(choice === '' ? null : choice);
      }}
    >
      <label htmlFor="reports-to">Reports to</label>
      <select id="reports-to" value={choice} onChange={(e) => setChoice(e.target.value)}>
        <option value="">Nobody (top level)</option>
        {options.map((o) => (
          <option key={o.id} value={o.id}>
            {o.name}
          </option>
        ))}
      </select>
      <button type="submit" disabled={choice === current}>
        Move
      </button>
    </form>
  );
}

/** The workspace's live tokens (prefixes only), a new one (shown once), and revoke. */
function Tokens({ workspace: w, api, canvas }: Pick<TabProps, 'workspace' | 'api' | 'canvas'>) {
  const [tokens, setTokens] = useState<TokenView[] | undefined>();
  const [note, setNote] = useState('');
  const load = useCallback(() => {
    api
      .tokens(w.id)
      .then((r) => setTokens(r.tokens))
      .catch((err: unknown) => setNote(`Could not list the tokens: ${errorText(err)}`));
  }, [api, w.id]);
  useEffect(load, [load]);
  const create = async () => {
    try {
      // An external agent gets the whole connect dialog: every snippet, stamped with the fresh token.
      if (w.runtime === 'external') {
        canvas.showConnect(w.name, await api.connection(w.id));
        load();
        return;
      }
      const t = await api.createToken(w.id);
      const origin = location.origin;
      canvas.showConnect(w.name, {
        workspace_id: w.id,
        platform_url: origin,
        auth_token: t.auth_token,
        registry_endpoint: `${origin}/registry/register`,
        heartbeat_endpoint: `${origin}/registry/heartbeat`,
      });
      load();
    } catch (err) {
      setNote(`No new token: ${errorText(err)}`);
    }
  };
  const revoke = async (t: TokenView) => {
    try {
      await api.revokeToken(w.id, t.id);
      setNote(`Token ${t.prefix}… revoked.`);
      load();
    } catch (err) {
      setNote(`Not revoked: ${errorText(err)}`);
    }
  };
  return (
    <section aria-labelledby="tokens-title" className="tokens">
      <h3 id="tokens-title">Tokens</h3>
      {tokens === undefined ? null : tokens.length === 0 ? (
        <p className="note">No live tokens.</p>
      ) : (
        <TokenTable tokens={tokens} what="token" onRevoke={(t) => void revoke(t)} />
      )}
      <div className="actions">
        <button type="button" onClick={() => void create()}>
          {w.runtime === 'external' ? 'New connection snippet' : 'New token'}
        </button>
      </div>
      <p className="note" role="status" aria-live="polite">
        {note}
      </p>
    </section>
  );
}
