import { MODEL_SECRET, NOT_INHERITED_SECRETS, PROVIDER_SECRET, providerFromModel, type SecretChange, type SecretScope, type SecretView } from '@molecule/contracts';
import type { AppDeps } from '../deps.js';
import type { Queryable } from '../db/port.js';
import { ancestry, MAX_HIERARCHY_DEPTH } from '../hierarchy/access.js';
import { SecretDecryptError } from './crypto.js';
import {
  clearRestartPending,
  deleteGlobalSecret,
  deleteWorkspaceSecret,
  holdersOf,
  listGlobalSecrets,
  liveTree,
  markRestartPending,
  upsertGlobalSecret,
  upsertWorkspaceSecret,
  workspaceSecretsOf,
} from './repo.js';

export type SecretsDeps = Pick<AppDeps, 'db' | 'secrets'>;

/** What each sealed value is bound to (GCM associated data): its layer and its name. */
export const sealContext = (key: string, workspaceId?: string) => (workspaceId ? `workspace:${workspaceId}:${key}` : `global:${key}`);

/** One key of a workspace's effective secrets: the nearest layer's sealed value, and what it overrides. */
export interface EffectiveSecret {
  key: string;
  sealed: string;
  context: string;
  scope: SecretScope;
  workspace_id?: string;
  workspace_name?: string;
  overrides: string[];
  created_at: Date;
  updated_at: Date;
}

/**
 * A workspace's secrets as its agent gets them: global, then each ancestor from the root down,
 * then the workspace itself; the nearest layer wins, and each key says which layer supplied it and
 * which it overrides. A workspace's own choices (NOT_INHERITED_SECRETS: its model and provider) skip
 * the ancestors.
 */
export async function effectiveSecrets(q: Queryable, workspaceId: string): Promise<Map<string, EffectiveSecret>> {
  const chain = await ancestry(q, workspaceId); // self, parent, ..., root
  const [globals, own] = await Promise.all([listGlobalSecrets(q), workspaceSecretsOf(q, chain.map((c) => c.id))]);
  const out = new Map<string, EffectiveSecret>();
  const put = (row: { key: string; value: string; created_at: Date; updated_at: Date }, layer: Omit<EffectiveSecret, 'key' | 'sealed' | 'overrides' | 'created_at' | 'updated_at'>) => {
    const before = out.get(row.key);
    out.set(row.key, {
      key: row.key,
      sealed: row.value,
      created_at: row.created_at,
      updated_at: row.updated_at,
      ...layer,
      overrides: before ? [before.workspace_name ?? 'global', ...before.overrides] : [],
    });
  };
  for (const g of globals) put(g, { scope: 'global', context: sealContext(g.key) });
  for (const node of [...chain].reverse()) {
    const scope: SecretScope = node.id === workspaceId ? 'workspace' : 'ancestor';
    for (const row of own.filter((r) => r.workspace_id === node.id && (scope === 'workspace' || !NOT_INHERITED_SECRETS.includes(r.key)))) {
      put(row, { scope, context: sealContext(row.key, node.id), workspace_id: node.id, workspace_name: node.name });
    }
  }
  return out;
}

/** The list view of a workspace's effective secrets: keys, provenance, times; never values. */
export async function listWorkspaceSecrets(q: Queryable, workspaceId: string): Promise<SecretView[]> {
  return [...(await effectiveSecrets(q, workspaceId)).values()].sort((a, b) => a.key.localeCompare(b.key)).map(toView);
}

export async function listGlobalSecretViews(q: Queryable): Promise<SecretView[]> {
  return (await listGlobalSecrets(q)).map((r) => toView({ ...r, sealed: r.value, context: '', scope: 'global', overrides: [] }));
}

function toView(s: EffectiveSecret): SecretView {
  return {
    key: s.key,
    has_value: true,
    scope: s.scope,
    ...(s.workspace_id ? { workspace_id: s.workspace_id, workspace_name: s.workspace_name ?? '' } : {}),
    ...(s.overrides.length > 0 ? { overrides: s.overrides } : {}),
    created_at: s.created_at.toISOString(),
    updated_at: s.updated_at.toISOString(),
  };
}

/** Some secrets did not open with the current key: their names (never values), layer-qualified. */
export class SecretsUnreadable extends Error {
  override name = 'SecretsUnreadable';
  constructor(readonly failedKeys: string[]) {
    super(`${failedKeys.length} secret(s) could not be decrypted`);
  }
}

/** The values a workspace's agent gets as its environment. Any value that does not open fails the whole set. */
export async function resolveSecretEnv(deps: SecretsDeps, workspaceId: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  const failed: string[] = [];
  for (const s of (await effectiveSecrets(deps.db, workspaceId)).values()) {
    try {
      env[s.key] = deps.secrets.open(s.sealed, s.context);
    } catch (err) {
      if (!(err instanceof SecretDecryptError)) throw err;
      failed.push(s.workspace_id ? `workspace:${s.key}` : `global:${s.key}`);
    }
  }
  if (failed.length > 0) throw new SecretsUnreadable(failed);
  return env;
}

/** A secret change's layer: org-wide, or one workspace's own. */
export type SecretTarget = { scope: 'global' } | { scope: 'workspace'; workspaceId: string };

/**
 * The workspaces whose effective value of `key` comes from the changed layer: for a global change,
 * every one with no nearer holder of the key; for a workspace's, it and the members under it with
 * no holder between. External workspaces run outside the platform and are left out.
 */
export async function affectedBy(q: Queryable, target: SecretTarget, key: string): Promise<string[]> {
  const [tree, holders] = await Promise.all([liveTree(q), holdersOf(q, key)]);
  const parent = new Map(tree.map((t) => [t.id, t.parent_id]));
  const out: string[] = [];
  for (const t of tree) {
    if (t.runtime === 'external') continue;
    // Walk up from t: a holder on the way shadows the changed layer; reaching the target (or the root, for global) means t reads from it.
    let cur: string | null = t.id;
    let affected = target.scope === 'global';
    // A workspace's own choice (its model) reaches no one else: only its own value shadows, only its own change affects it.
    if (NOT_INHERITED_SECRETS.includes(key)) {
      if (target.scope === 'workspace') affected = t.id === target.workspaceId;
      else affected = !holders.has(t.id);
      if (affected) out.push(t.id);
      continue;
    }
    for (let depth = 0; cur !== null && depth <= MAX_HIERARCHY_DEPTH; depth++) {
      if (target.scope === 'workspace' && cur === target.workspaceId) {
        affected = true;
        break;
      }
      if (holders.has(cur)) {
        affected = false;
        break;
      }
      cur = parent.get(cur) ?? null;
    }
    if (target.scope === 'workspace' && cur === null) affected = false;
    if (affected) out.push(t.id);
  }
  return out;
}

/** Seals and stores a secret in its layer, and marks the workspaces that now run with an old value. */
export async function saveSecret(deps: SecretsDeps, target: SecretTarget, key: string, value: string): Promise<string[]> {
  const ws = target.scope === 'workspace' ? target.workspaceId : undefined;
  const sealed = deps.secrets.seal(value, sealContext(key, ws));
  return deps.db.tx(async (q) => {
    if (ws) await upsertWorkspaceSecret(q, ws, key, sealed);
    else await upsertGlobalSecret(q, key, sealed);
    const affected = await affectedBy(q, target, key);
    await markRestartPending(q, affected);
    return affected;
  });
}

/** Deletes a secret from its layer; undefined when there was none. */
export async function removeSecret(deps: SecretsDeps, target: SecretTarget, key: string): Promise<string[] | undefined> {
  return deps.db.tx(async (q) => {
    // Who read it from this layer is worked out before it goes (afterwards the layer below shows through).
    const affected = await affectedBy(q, target, key);
    const gone = target.scope === 'workspace' ? await deleteWorkspaceSecret(q, target.workspaceId, key) : await deleteGlobalSecret(q, key);
    if (!gone) return undefined;
    await markRestartPending(q, affected);
    return affected;
  });
}

/** The answer to a change: what was done, who needs a restart, who was restarted. */
export function changeView(status: SecretChange['status'], target: SecretTarget, key: string, restartRequired: string[], restarted: string[]): SecretChange {
  return { status, key, scope: target.scope, restart_required: restartRequired, restarted };
}


/** A start applies every current secret: the workspace is no longer "restart to apply". */
export async function startApplies(q: Queryable, workspaceId: string): Promise<void> {
  await clearRestartPending(q, workspaceId);
}

/** A workspace's own value of `key` (not inherited), opened; undefined when it has none. */
export async function ownSecret(deps: SecretsDeps, workspaceId: string, key: string): Promise<string | undefined> {
  const row = (await workspaceSecretsOf(deps.db, [workspaceId])).find((r) => r.key === key);
  return row ? deps.secrets.open(row.value, sealContext(key, workspaceId)) : undefined;
}

/**
 * Keeps a workspace's chosen model as its MODEL_PROVIDER secret and the provider its slug names as
 * LLM_PROVIDER (C126), so every later start runs with them; "" clears the model (the provider stays).
 */
export async function keepModelChoice(deps: SecretsDeps, workspaceId: string, model: string): Promise<void> {
  const target: SecretTarget = { scope: 'workspace', workspaceId };
  if (model === '') {
    await removeSecret(deps, target, MODEL_SECRET);
    return;
  }
  await saveSecret(deps, target, MODEL_SECRET, model);
  const provider = providerFromModel(model);
  if (provider) await saveSecret(deps, target, PROVIDER_SECRET, provider);
}
