import type { Queryable } from '../db/port.js';
import { LAST_USED_RESOLUTION_SECONDS, mintWorkspaceToken, revokeAgedTokens, revokeAllWorkspaceTokens, storeInboundSecret, validateWorkspaceTokens, workspacesWithAgedTokens } from './repo.js';
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
