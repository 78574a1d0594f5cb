/**
 * The workspace reads other domains may run (the proxy, the registry, activity, MCP tools, the
 * sweeps). Writes to workspace rows stay in this folder: other domains change a workspace through
 * its services (`service.ts`, `lifecycle.ts`, `transitions.ts`).
 */
export {
  getWorkspace,
  getWorkspaces,
  idleForHibernation as idleWorkspacesForHibernation,
  listManagedWithInstance,
  listProvisioning,
  liveChildren,
  loadSubtree,
  toView,
  type WorkspaceRow,
} from './repo.js';
