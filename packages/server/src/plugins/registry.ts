import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PLUGIN_NAME, pluginInfo, type PluginInfo } from '@molecule/contracts';
import type { Logger } from '../log.js';
import { readPluginFolder } from './stage.js';

/** The plugin registry shipped with the platform: the repository's `plugins/`. */
export const DEFAULT_PLUGINS_DIR = fileURLToPath(new URL('../../../../plugins/', import.meta.url));

/**
 * The registry's plugins (`GET /plugins`), in name order, annotated for `runtime` when given. A
 * folder that is not a valid plugin is left out with a log line (it could not be installed either).
 */
export async function listRegistry(pluginsDir: string, log: Logger, runtime?: string): Promise<PluginInfo[]> {
  let names: string[];
  try {
    names = (await readdir(pluginsDir, { withFileTypes: true })).filter((d) => d.isDirectory() && PLUGIN_NAME.test(d.name)).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: PluginInfo[] = [];
  for (const name of names.sort()) {
    try {
      const staged = await readPluginFolder(`${pluginsDir}/${name}`, `local://${name}`, name);
      out.push(pluginInfo(staged.manifest, runtime));
    } catch (err) {
      log.warn({ plugin: name, reason: (err as Error).message }, 'registry plugin skipped: not a valid plugin');
    }
  }
  return out;
}
