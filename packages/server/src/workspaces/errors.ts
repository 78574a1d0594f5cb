import { Status } from '@molecule/contracts';
import type { Queryable } from '../db/port.js';
import { DomainError, notFound } from '../errors.js';
import { getWorkspace, type WorkspaceRow } from './repo.js';

/** The 410 body for a removed workspace (C160). */
export function removedError(row: { id: string; removed_at: Date | string | null }): DomainError {
  return new DomainError('gone', 'workspace removed', {
    id: row.id,
    removed_at: row.removed_at ? new Date(row.removed_at).toISOString() : null,
    hint: 'Regenerate this workspace: create a new one (POST /workspaces); removed workspaces are never revived.',
  });
}

/** A live workspace's row, for routes under `/workspaces/:id/...`: 404 unknown, 410 removed (C160). */
export async function requireLiveWorkspace(q: Queryable, id: string): Promise<WorkspaceRow> {
  const ws = await getWorkspace(q, id);
  if (!ws) throw notFound('workspace not found');
  if (ws.status === Status.Removed) throw removedError(ws);
  return ws;
}
