import { useCallback, useEffect, useState } from 'react';
import { FILE_ROOTS, type FileEntry, type FileRoot } from '@molecule/contracts';
import { errorText } from './actions.js';
import { Dialog } from './Dialog.js';
import { fileUrl, type Api } from './api.js';
import type { TabProps } from './tab.js';

/** Whether an answer's content type is text the editor can show. */
export const isEditableType = (type: string) => type.startsWith('text/') || /^application\/(json|yaml)\b/.test(type);

/** A dir's path relative to its root ("" for the root itself). */
const relOf = (root: FileRoot, dir: string) => (dir === root ? '' : dir.slice(root.length + 1));

type DirState = { entries: FileEntry[]; truncated: boolean } | { error: string };

/**
 * A workspace's files: a root picker, a lazy tree (a dir loads when first opened), a text editor with
 * Save and Delete (confirmed), upload into the open dir, download. Errors in words.
 */
export function FilesBrowser({ api, workspaceId }: { api: Api; workspaceId: string }) {
  const [root, setRoot] = useState<FileRoot>('/configs');
  const [dirs, setDirs] = useState<Record<string, DirState>>({});
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  /** The dir uploads go into: the last one opened, else the root. */
  const [current, setCurrent] = useState<string>('/configs');
  const [file, setFile] = useState<{ path: string; text: string; editable: boolean; source: string } | undefined>();
  const [draft, setDraft] = useState('');
  const [deleting, setDeleting] = useState<string | undefined>();
  const [note, setNote] = useState('');
  const [source, setSource] = useState<string>('workspace');

  const loadDir = useCallback(
    async (dir: string) => {
      try {
        const tree = await api.fileTree(workspaceId, root, relOf(root, dir));
        setSource(tree.source);
        setDirs((d) => ({ ...d, [dir]: { entries: tree.entries, truncated: tree.truncated } }));
      } catch (err) {
        setDirs((d) => ({ ...d, [dir]: { error: errorText(err) } }));
      }
    },
    [api, workspaceId, root],
  );
  useEffect(() => {
    setDirs({});
    setOpen(new Set());
    setCurrent(root);
    setFile(undefined);
    void loadDir(root);
  }, [root, loadDir]);

  const toggle = (dir: string) => {
    const next = new Set(open);
    if (next.has(dir)) next.delete(dir);
    else {
      next.add(dir);
      setCurrent(dir);
      if (!dirs[dir]) void loadDir(dir);
    }
    setOpen(next);
  };
  const openFile = async (path: string) => {
    try {
      const r = await api.readFile(workspaceId, path);
      const editable = isEditableType(r.type);
      setFile({ path, text: r.text, editable, source: r.source });
      setDraft(editable ? r.text : '');
      setNote('');
    } catch (err) {
      setNote(`Could not open ${path}: ${errorText(err)}`);
    }
  };
  const parentOf = (path: string) => path.slice(0, path.lastIndexOf('/')) || root;
  const save = async () => {
    if (!file) return;
    try {
      await api.saveFiles(workspaceId, { [file.path]: draft });
      setFile({ ...file, text: draft, source: 'workspace' });
      setNote(`Saved ${file.path}.`);
      void loadDir(parentOf(file.path));
    } catch (err) {
      setNote(`Not saved: ${errorText(err)}`);
    }
  };
  const remove = async (path: string) => {
    try {
      await api.deleteFile(workspaceId, path);
      setNote(`Deleted ${path}.`);
      if (file?.path === path) setFile(undefined);
      void loadDir(parentOf(path));
    } catch (err) {
      setNote(`Not deleted: ${errorText(err)}`);
    }
  };
  const upload = async (picked: File) => {
    const path = `${current}/${picked.name}`;
    try {
      await api.uploadFile(workspaceId, path, picked);
      setNote(`Uploaded ${path}.`);
      void loadDir(current);
    } catch (err) {
      setNote(`Not uploaded: ${errorText(err)}`);
    }
  };

  const renderDir = (dir: string, level: number) => {
    const state = dirs[dir];
    if (!state) return <li className="note">Loading…</li>;
    if ('error' in state) return <li className="note">Could not list {dir}: {state.error}</li>;
    if (state.entries.length === 0) return <li className="note">Empty.</li>;
    return (
      <>
        {state.entries.map((e) => (
          <li key={e.path} style={{ paddingLeft: `${level}em` }}>
            {e.type === 'dir' ? (
              <>
                <button type="button" className="link" aria-expanded={open.has(e.path)} onClick={() => toggle(e.path)}>
                  {open.has(e.path) ? '▾' : '▸'} {e.name}/
                </button>
                {open.has(e.path) ? <ul className="file-tree">{renderDir(e.path, level + 1)}</ul> : null}
              </>
            ) : (
              <button type="button" className="link" aria-current={file?.path === e.path ? 'true' : undefined} onClick={() => void openFile(e.path)}>
                {e.name} <span className="hint">({e.size} B)</span>
              </button>
            )}
          </li>
        ))}
        {state.truncated ? <li className="note">More entries than shown.</li> : null}
      </>
    );
  };

  return (
    <div className="files">
      <div className="field-row">
        <label>
          Root{' '}
          <select value={root} onChange={(e) => setRoot(e.target.value as FileRoot)}>
            {FILE_ROOTS.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <label>
          Upload into {current}{' '}
          <input
            type="file"
            onChange={(e) => {
              const picked = e.target.files?.[0];
              if (picked) void upload(picked);
              e.target.value = '';
            }}
          />
        </label>
      </div>
      {source === 'template' ? <p className="pending">The agent is not running: these are its template&apos;s files.</p> : null}
      <ul className="file-tree" aria-label={`Files under ${root}`}>
        {renderDir(root, 0)}
      </ul>
      {file ? (
        <div className="file-editor">
          <h3>{file.path}</h3>
          {file.editable ? (
            <textarea aria-label={`Contents of ${file.path}`} value={draft} onChange={(e) => setDraft(e.target.value)} rows={14} spellCheck={false} />
          ) : (
            <p className="note">Not a text file: download it to see it.</p>
          )}
          <div className="actions">
            {file.editable ? (
              <button type="button" onClick={() => void save()} disabled={draft === file.text}>
                Save
              </button>
            ) : null}
            <a href={fileUrl(workspaceId, file.path)} download>
              Download
            </a>
            <button type="button" className="danger" onClick={() => setDeleting(file.path)}>
              Delete
            </button>
          </div>
        </div>
      ) : null}
      <p className="note" role="status" aria-live="polite">
        {note}
      </p>
      {deleting ? (
        <Dialog title={`Delete ${deleting}?`} role="alertdialog" onClose={() => setDeleting(undefined)} describedBy="file-delete-body" initialFocus="[data-cancel]">
          <p id="file-delete-body">The file is removed from the workspace; this cannot be undone.</p>
          <div className="actions">
            <button type="button" data-cancel onClick={() => setDeleting(undefined)}>
              Cancel
            </button>
            <button
              type="button"
              className="danger"
              onClick={() => {
                const p = deleting;
                setDeleting(undefined);
                void remove(p);
              }}
            >
              Delete file
            </button>
          </div>
        </Dialog>
      ) : null}
    </div>
  );
}

/** The Files tab: the workspace's config, workspace, home and plugin files. */
export function FilesTab({ workspace, api }: TabProps) {
  return <FilesBrowser api={api} workspaceId={workspace.id} />;
}
