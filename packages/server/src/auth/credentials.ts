import type { Queryable } from '../db/port.js';
import type { Broadcaster } from '../events/broadcaster.js';
import { DomainError } from '../errors.js';
import { countLiveWorkspaceTokens, LAST_USED_RESOLUTION_SECONDS, MAX_LIVE_TOKENS_PER_WORKSPACE, mintWorkspaceToken, revokeAgedTokens, revokeAllWorkspaceTokens, storeInboundSecret, validateWorkspaceTokens, workspacesWithAgedTokens } from './repo.js';
import { generateToken, hashTokenHex } from './tokens.js';

/**
 * The auth domain's credential operations other domains call (workspace creation and delete,
 * provisioning, heartbeats); their rows stay in `auth/repo.ts`.
 */
export { generateToken, hashTokenHex, LAST_USED_RESOLUTION_SECONDS, mintWorkspaceToken, revokeAllWorkspaceTokens, validateWorkspaceTokens, workspacesWithAgedTokens as workspacesWithStaleTokens, revokeAgedTokens as revokeStaleWorkspaceTokens };
export type { StaleTokenRule } from './repo.js';

/** Fresh credentials for one start: all older tokens revoked (C114), a new token, a new inbound secret stored (C113). Run it in a transaction. */
export async function rotateWorkspaceCredentials(q: Queryable, workspaceId: string): Promise<{ token: string; inboundSecret: string }> {
  await revokeAllWorkspaceTokens(q, [workspaceId]);
  const { token } = await mintWorkspaceToken(q, workspaceId);
  const inboundSecret = generateToken('inbound');
  await storeInboundSecret(q, workspaceId, inboundSecret);
  return { token, inboundSecret };
}

/**
 * One more token for a live workspace (the caller checks it is live), recorded as TOKEN_CREATED;
 * refused (429) past the live-token cap. Existing tokens stay.
 */
export async function mintAnotherToken(deps: { db: Queryable; broadcaster: Broadcaster }, workspaceId: string): Promise<{ id: string; token: string; prefix: string }> {
  if ((await countLiveWorkspaceTokens(deps.db, workspaceId)) >= MAX_LIVE_TOKENS_PER_WORKSPACE) {
    throw new DomainError('rate_limited', `maximum ${MAX_LIVE_TOKENS_PER_WORKSPACE} active tokens per workspace`);
  }
  const t = await mintWorkspaceToken(deps.db, workspaceId);
  await deps.broadcaster.recordAndBroadcast('TOKEN_CREATED', workspaceId, { token_id: t.id, prefix: t.prefix });
  return t;
}
