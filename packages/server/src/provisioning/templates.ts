import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkspaceRow } from '../workspaces/repo.js';

/** The repository's `templates/` folder: one folder per workspace template (config.yaml + files). */
export const DEFAULT_TEMPLATES_DIR = fileURLToPath(new URL('../../../../templates/', import.meta.url));

const MAX_TEMPLATE_BYTES = 4 * 1024 * 1024;

export async function templateExists(templatesDir: string, name: string): Promise<boolean> {
  try {
    return (await stat(path.join(templatesDir, name, 'config.yaml'))).isFile();
  } catch {
    return false;
  }
}

/**
 * The files a workspace starts with: its template's folder when it names one, otherwise a minimal
 * config.yaml (the echo adapter, so a fresh workspace answers without any LLM key). Symlinks and
 * anything but regular files are skipped; a template over 4 MiB is refused.
 */
export async function templateFiles(templatesDir: string, ws: WorkspaceRow): Promise<Record<string, string>> {
  if (!ws.template) {
    return { 'config.yaml': `name: ${JSON.stringify(ws.name)}\nadapter: echo\n${ws.model ? `model: ${JSON.stringify(ws.model)}\n` : ''}` };
  }
  const root = path.join(templatesDir, ws.template);
  const out: Record<string, string> = {};
  let total = 0;
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) {
        const text = await readFile(full, 'utf8');
        total += Buffer.byteLength(text);
        if (total > MAX_TEMPLATE_BYTES) throw new Error(`template ${ws.template} is larger than ${MAX_TEMPLATE_BYTES} bytes`);
        out[path.relative(root, full)] = text;
      }
    }
  };
  await walk(root);
  return out;
}
