import {
  PLUGIN_MANIFEST,
  PLUGINS_CONFIG_DIR,
  parsePluginManifest,
  pluginInfo,
  pluginSupportsRuntime,
  PluginName,
  type InstallPluginResult,
  type PluginCompatibility,
  type PluginInfo,
  type UninstallPluginResult,
} from '@molecule/contracts';
import { Readable } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import type { AppDeps } from '../deps.js';
import { DomainError, invalid, notFound, unprocessable } from '../errors.js';
import { FileError, type WorkspaceFiles } from '../provisioning/files.js';
import { agentState } from '../provisioning/running.js';
import { requireLiveWorkspace } from '../workspaces/errors.js';
import { restartWorkspace } from '../workspaces/lifecycle.js';
import type { WorkspaceRow } from '../workspaces/read.js';
import type { WorkspaceDeps } from '../workspaces/service.js';
import { listRegistry } from './registry.js';
import { checkSha256, packPlugin, stageArchive, stagePlugin, type PluginSourceDeps, type StagedPlugin } from './stage.js';

export type PluginDeps = WorkspaceDeps & PluginSourceDeps & Pick<AppDeps, 'inboundSecrets' | 'a2a'>;

/** What an external workspace is told instead (C180): it pulls the tarball and installs it itself. */
export const EXTERNAL_PLUGIN_HINT = 'external workspaces pull plugins via GET /workspaces/:id/plugins/:name/download';
/** How long one plugin file operation, or the agent's reload, may take. */
const PLUGIN_OP_TIMEOUT_MS = 60_000;
const RELOAD_TIMEOUT_MS = 10_000;
const MANIFEST_READ_MAX = 256 * 1024;

const notRunning = () => new DomainError('agent_unavailable', 'workspace container not running');

/**
 * The files port of a workspace whose agent runs, for installing or removing a plugin. The policy
 * for each answer of `agentState` (C184), in one place:
 * - external: 422 with the download hint (C180), before anything else is looked at;
 * - stopped: 503 "workspace container not running" (C182), the state the health sweep acts on (C187);
 * - could not tell: 503 asking to retry, logged apart from "not running" so a flaky engine shows;
 * - no backend (MOLECULE_PROVISIONER=none): 503; a backend without files (control plane): 501.
 */
async function filesOfRunning(deps: PluginDeps, ws: WorkspaceRow, op: 'install' | 'uninstall'): Promise<WorkspaceFiles> {
  const state = await agentState(deps, ws);
  switch (state.state) {
    case 'running': {
      const files = deps.provisioner?.files;
      if (!files) throw new DomainError('not_supported', 'plugins are not supported on this backend');
      return files;
    }
    case 'external':
      throw new DomainError('unprocessable', `plugins cannot be ${op}ed into an external workspace by the platform`, { hint: EXTERNAL_PLUGIN_HINT });
    case 'stopped':
      deps.log.info({ workspace_id: ws.id, op }, 'plugins: workspace container not running');
      throw notRunning();
    case 'unknown':
      deps.log.warn({ workspace_id: ws.id, op, err: state.error }, 'plugins: could not tell whether the workspace runs (backend did not answer)');
      throw new DomainError('agent_unavailable', 'could not tell whether the workspace is running; retry shortly');
    case 'no_backend':
      throw new DomainError('agent_unavailable', 'no backend runs workspaces on this platform (MOLECULE_PROVISIONER=none)');
  }
}

/** A backend failure while writing or removing plugin files, as the client sees it (never the backend's own text, C188). */
function fileFailure(deps: PluginDeps, ws: WorkspaceRow, err: unknown, what: string): never {
  if (err instanceof DomainError) throw err;
  if (err instanceof FileError && err.kind === 'not_found') throw notFound(err.message);
  deps.log.error({ err, workspace_id: ws.id }, `plugins: ${what} failed`);
  throw new DomainError('internal', `failed to ${what}`);
}

/**
 * Tells the running agent to load its plugins again (`POST /internal/plugins/reload` with its
 * inbound secret): `hot_loaded` when it did. When it cannot be asked (no URL, no secret yet, an
 * older agent, unreachable), the workspace restarts and loads them at start: `restarting`.
 */
async function applyPlugins(deps: PluginDeps, ws: WorkspaceRow): Promise<'hot_loaded' | 'restarting'> {
  try {
    const { secret, healed } = await deps.inboundSecrets.readOrHeal(ws.id);
    if (ws.url !== '' && !healed) {
      const res = await deps.a2a.dispatcher.forward(`${ws.url.replace(/\/+$/, '')}/internal/plugins/reload`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: Readable.from([Buffer.from('{}')]),
        signal: AbortSignal.timeout(RELOAD_TIMEOUT_MS),
      });
      res.body.resume();
      if (res.status === 200) return 'hot_loaded';
      deps.log.warn({ workspace_id: ws.id, status: res.status }, 'plugins: the agent did not reload its plugins; restarting it');
    }
  } catch (err) {
    deps.log.warn({ workspace_id: ws.id, err }, 'plugins: could not ask the agent to reload its plugins; restarting it');
  }
  await restartWorkspace(deps, ws.id);
  return 'restarting';
}

/** What an install starts from: a source string (registry name, scheme://...) or an uploaded archive. */
export type PluginInstallInput = { source: string; sha256?: string | undefined } | { archive: Buffer };

/**
 * `POST /workspaces/:id/plugins`: checks the workspace (external 422, not running 503), reads and
 * checks the plugin from its source, refuses one made for other runtimes (422), then writes it to
 * `/configs/plugins/<name>/` (replacing an older copy) and has the agent load it.
 */
export async function installPlugin(deps: PluginDeps, id: string, input: PluginInstallInput, signal?: AbortSignal): Promise<InstallPluginResult> {
  const ws = await requireLiveWorkspace(deps.db, id);
  const files = await filesOfRunning(deps, ws, 'install');
  const staged = 'archive' in input ? await stageArchive(input.archive) : await stagePlugin(deps, input.source, undefined, signal);
  if ('sha256' in input) checkSha256(staged, input.sha256);
  if (!pluginSupportsRuntime(staged.manifest.runtimes, ws.runtime)) {
    throw unprocessable(`plugin "${staged.name}" does not support the ${ws.runtime} runtime (it supports ${staged.manifest.runtimes.join(', ')})`);
  }
  const dir = `${PLUGINS_CONFIG_DIR}/${staged.name}`;
  const op = AbortSignal.timeout(PLUGIN_OP_TIMEOUT_MS);
  try {
    await files.remove(ws, '/configs', dir, op).catch((err: unknown) => {
      if (!(err instanceof FileError && err.kind === 'not_found')) throw err;
    });
    await files.write(ws, '/configs', [...staged.files].map(([rel, content]) => ({ rel: `${dir}/${rel}`, content })), op);
  } catch (err) {
    fileFailure(deps, ws, err, 'copy the plugin into the workspace');
  }
  const applied = await applyPlugins(deps, ws);
  deps.log.info({ workspace_id: ws.id, plugin: staged.name, version: staged.manifest.version, source: staged.source, applied }, 'plugin installed');
  return { status: 'installed', plugin: staged.name, source: staged.source, version: staged.manifest.version, applied };
}

/** `DELETE /workspaces/:id/plugins/:name`: removes `/configs/plugins/<name>/` (404 when not installed) and has the agent drop it. */
export async function uninstallPlugin(deps: PluginDeps, id: string, name: string): Promise<UninstallPluginResult> {
  if (!PluginName.safeParse(name).success) throw invalid('invalid plugin name');
  const ws = await requireLiveWorkspace(deps.db, id);
  const files = await filesOfRunning(deps, ws, 'uninstall');
  try {
    await files.remove(ws, '/configs', `${PLUGINS_CONFIG_DIR}/${name}`, AbortSignal.timeout(PLUGIN_OP_TIMEOUT_MS));
  } catch (err) {
    if (err instanceof FileError && err.kind === 'not_found') throw notFound(`plugin "${name}" is not installed`);
    fileFailure(deps, ws, err, 'remove the plugin');
  }
  const applied = await applyPlugins(deps, ws);
  deps.log.info({ workspace_id: ws.id, plugin: name, applied }, 'plugin uninstalled');
  return { status: 'uninstalled', plugin: name, applied };
}

/**
 * The plugins installed in a workspace (`GET /workspaces/:id/plugins`), each annotated for its
 * runtime. Soft-fails to [] whenever the agent's files cannot be reached: not running, external,
 * could not tell (C185). A folder without a valid manifest is listed with `error` (the agent ignores it).
 */
export async function listInstalled(deps: PluginDeps, ws: WorkspaceRow): Promise<PluginInfo[]> {
  const state = await agentState(deps, ws);
  const files = deps.provisioner?.files;
  if (state.state !== 'running' || !files) {
    if (state.state === 'unknown') deps.log.warn({ workspace_id: ws.id, err: state.error }, 'plugins: could not tell whether the workspace runs; listing none');
    return [];
  }
  const signal = AbortSignal.timeout(PLUGIN_OP_TIMEOUT_MS);
  let dirs: string[];
  try {
    dirs = (await files.list(ws, '/configs', PLUGINS_CONFIG_DIR, 1, 1000, signal)).entries.filter((e) => e.type === 'dir').map((e) => e.name);
  } catch (err) {
    if (!(err instanceof FileError && err.kind === 'not_found')) deps.log.warn({ workspace_id: ws.id, err }, 'plugins: could not list installed plugins; listing none');
    return [];
  }
  const out: PluginInfo[] = [];
  for (const name of dirs.sort()) {
    const broken = (error: string): PluginInfo => ({ name, version: '', description: '', author: '', tags: null, skills: null, runtimes: null, commands: 0, error });
    try {
      const { body } = await files.read(ws, '/configs', `${PLUGINS_CONFIG_DIR}/${name}/${PLUGIN_MANIFEST}`, MANIFEST_READ_MAX, signal);
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      const { manifest } = parsePluginManifest(parseYaml(Buffer.concat(chunks).toString('utf8'), { maxAliasCount: 100 }));
      if (!manifest) out.push(broken(`${PLUGIN_MANIFEST} is not a valid plugin manifest`));
      else if (manifest.name !== name) out.push(broken(`${PLUGIN_MANIFEST} names "${manifest.name.slice(0, 64)}", not its folder`));
      else out.push(pluginInfo(manifest, ws.runtime));
    } catch (err) {
      out.push(broken(err instanceof FileError && err.kind === 'not_found' ? `no ${PLUGIN_MANIFEST}` : `${PLUGIN_MANIFEST} could not be read`));
    }
  }
  return out;
}

/** `GET /workspaces/:id/plugins/compatibility?runtime=`: which installed plugins keep working on `target`. */
export async function compatibility(deps: PluginDeps, ws: WorkspaceRow, target: string): Promise<PluginCompatibility> {
  const installed = await listInstalled(deps, ws);
  const compatible: PluginInfo[] = [];
  const incompatible: PluginInfo[] = [];
  for (const p of installed) {
    const ok = p.error === undefined && pluginSupportsRuntime(p.runtimes, target);
    (ok ? compatible : incompatible).push({ ...p, supported_on_runtime: ok });
  }
  return { target_runtime: target, compatible, incompatible, all_compatible: incompatible.length === 0 };
}

/** `GET /workspaces/:id/plugins/available`: the registry's plugins that work on the workspace's runtime. */
export async function availablePlugins(deps: PluginDeps, ws: WorkspaceRow): Promise<PluginInfo[]> {
  return (await listRegistry(deps.pluginsDir, deps.log, ws.runtime)).filter((p) => p.supported_on_runtime);
}

/**
 * `GET /workspaces/:id/plugins/:name/download`: the plugin from `source` (default the registry's
 * `<name>`) as a gzipped tarball, for agents that install plugins themselves (external ones, C186):
 * no container involved. 400 when the source holds a plugin of another name.
 */
export async function downloadPlugin(deps: PluginDeps, id: string, name: string, source: string | undefined, signal?: AbortSignal): Promise<{ staged: StagedPlugin; tarball: Buffer }> {
  if (!PluginName.safeParse(name).success) throw invalid('invalid plugin name');
  await requireLiveWorkspace(deps.db, id);
  let staged: StagedPlugin;
  try {
    staged = await stagePlugin(deps, source ?? `local://${name}`, name, signal);
  } catch (err) {
    // A plugin of another name than the URL's is the caller's mismatch (upstream: 400).
    if (err instanceof DomainError && err.details.resolved_name !== undefined) throw invalid(err.message, err.details);
    throw err;
  }
  return { staged, tarball: await packPlugin(staged) };
}
