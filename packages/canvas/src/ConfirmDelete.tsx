import type { WorkspaceView } from '@molecule/contracts';
import { Dialog } from './Dialog.js';
import { descendantsOf } from './tree.js';

/** Every workspace a delete of `ids` takes with it, each once, the chosen ones first. */
export function deletionList(workspaces: Record<string, WorkspaceView>, ids: readonly string[]): WorkspaceView[] {
  const out = new Map<string, WorkspaceView>();
  for (const id of ids) if (workspaces[id]) out.set(id, workspaces[id]);
  for (const id of ids) for (const d of descendantsOf(workspaces, id)) out.set(d.id, d);
  return [...out.values()];
}

/** The delete confirmation: it names every workspace that goes. Escape (or Cancel) backs out. */
export function ConfirmDelete({ workspaces, ids, onCancel, onConfirm }: { workspaces: Record<string, WorkspaceView>; ids: readonly string[]; onCancel: () => void; onConfirm: () => void }) {
  const going = deletionList(workspaces, ids);
  const title = ids.length === 1 ? `Delete ${workspaces[ids[0]!]?.name ?? 'this workspace'}?` : `Delete ${ids.length} workspaces?`;
  return (
    <Dialog title={title} role="alertdialog" onClose={onCancel} describedBy="confirm-body" initialFocus="[data-cancel]">
      <div id="confirm-body">
        {going.length === 1 ? (
          <p>It will be stopped and removed.</p>
        ) : (
          <>
            <p>{ids.length === 1 ? 'It will be stopped and removed with every workspace under it:' : 'These will be stopped and removed, with every workspace under them:'}</p>
            <ul>
              {going.map((d) => (
                <li key={d.id}>{d.name}</li>
              ))}
            </ul>
          </>
        )}
      </div>
      <div className="actions">
        <button type="button" data-cancel onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="danger" onClick={onConfirm}>
          Delete {going.length > 1 ? `${going.length} workspaces` : 'it'}
        </button>
      </div>
    </Dialog>
  );
}
