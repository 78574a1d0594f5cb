import { DomainError } from '../errors.js';

/** The 410 body for a removed workspace (C160). */
export function removedError(row: { id: string; removed_at: Date | string | null }): DomainError {
  return new DomainError('gone', 'workspace removed', {
    id: row.id,
    removed_at: row.removed_at ? new Date(row.removed_at).toISOString() : null,
    hint: 'Regenerate this workspace: create a new one (POST /workspaces); removed workspaces are never revived.',
  });
}
