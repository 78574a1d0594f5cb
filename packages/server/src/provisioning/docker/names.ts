/** Every container and volume the docker backend creates carries this label, set to "true" (C101). */
export const MANAGED_LABEL = 'molecule.platform.managed';
/** ...and this one, naming the workspace it belongs to. */
export const WORKSPACE_LABEL = 'molecule.workspace.id';

/** Where the configs volume is mounted inside the container (C100). */
export const CONFIGS_DIR = '/configs';
/** The agent's working directory, where the workspace volume is mounted. */
export const WORKSPACE_DIR = '/workspace';

const PREFIX = 'ws-';
const VOLUME_SUFFIX = '-configs';
const WORKSPACE_VOLUME_SUFFIX = '-workspace';

/** The container of a workspace: `ws-<id>` (C100). */
export const containerName = (workspaceId: string): string => `${PREFIX}${workspaceId}`;
/** The configs volume of a workspace: `ws-<id>-configs`, mounted at /configs (C100). */
export const volumeName = (workspaceId: string): string => `${PREFIX}${workspaceId}${VOLUME_SUFFIX}`;
/**
 * The workspace volume: `ws-<id>-workspace`, mounted at /workspace (upstream's name), so what the
 * agent keeps in its working directory (SDK sessions, checkpoints, chat uploads) outlives a restart.
 */
export const workspaceVolumeName = (workspaceId: string): string => `${PREFIX}${workspaceId}${WORKSPACE_VOLUME_SUFFIX}`;

/** The labels on everything the backend creates for one workspace (C101). */
export const managedLabels = (workspaceId: string): Record<string, string> => ({ [MANAGED_LABEL]: 'true', [WORKSPACE_LABEL]: workspaceId });

/**
 * The workspace id part of a container name as the engine lists it (`/ws-<id>`), or undefined when
 * the name does not start with `ws-`. The engine's name filter matches substrings ("my-ws-tool"), so
 * this prefix check is what narrows its answer (C102). The ids still pass isLikelyWorkspaceId before
 * they reach SQL (C175).
 */
export function idFromContainerName(name: string): string | undefined {
  const n = name.startsWith('/') ? name.slice(1) : name;
  return n.startsWith(PREFIX) && n.length > PREFIX.length ? n.slice(PREFIX.length) : undefined;
}

/** The workspace id part of a `ws-<id>-configs` or `ws-<id>-workspace` volume name, or undefined for any other name. */
export function idFromVolumeName(name: string): string | undefined {
  if (!name.startsWith(PREFIX)) return undefined;
  const suffix = [VOLUME_SUFFIX, WORKSPACE_VOLUME_SUFFIX].find((s) => name.endsWith(s));
  if (!suffix) return undefined;
  const id = name.slice(PREFIX.length, -suffix.length);
  return id.length > 0 ? id : undefined;
}
