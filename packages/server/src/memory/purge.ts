import type { Logger } from '../log.js';
import { MemoryPluginError, type MemoryPluginClient } from './client.js';
import { workspaceNamespace } from './namespaces.js';

/**
 * The hard purge's memory cleanup (C158, C254): each purged workspace's own namespace is deleted in
 * the plugin (its memories go with it), never its team's or org's; failures are logged, never thrown.
 */
export async function purgeWorkspaceMemory(deps: { memory: MemoryPluginClient | undefined; log: Logger }, ids: readonly string[]): Promise<void> {
  const memory = deps.memory;
  if (!memory) return;
  for (const id of ids) {
    await memory.deleteNamespace(workspaceNamespace(id)).catch((err: unknown) => {
      if (err instanceof MemoryPluginError && err.kind === 'not_found') return;
      deps.log.warn({ reason: (err as Error).message, workspace_id: id }, 'memory: could not delete the namespace of a purged workspace');
    });
  }
}
