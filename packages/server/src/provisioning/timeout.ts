import { RUNTIME_REGISTRY, type RuntimeSpec } from '@molecule/contracts';
import type { Config } from '../config.js';
import type { WorkspaceRow } from '../workspaces/read.js';
import type { TemplateCatalog } from './templates.js';

/** The default provisioning deadline, and runtimes known to take longer (C165, C166). */
export const DEFAULT_PROVISION_TIMEOUT_SECONDS = 600;
/** The registry's per-runtime defaults that differ from the default (hermes 30 min). */
const RUNTIME_PROVISION_TIMEOUT_SECONDS: Readonly<Record<string, number>> = Object.fromEntries(
  Object.entries(RUNTIME_REGISTRY as Record<string, RuntimeSpec>)
    .filter(([, spec]) => spec.provisionTimeoutSeconds !== DEFAULT_PROVISION_TIMEOUT_SECONDS)
    .map(([name, spec]) => [name, spec.provisionTimeoutSeconds]),
);

/** Where a workspace's provision timeout came from. */
export type ProvisionTimeoutSource = 'env' | 'template' | 'runtime' | 'default';

/**
 * The one answer to "how long may this workspace stay provisioning" (C162, C165-C167), used by the
 * provision-timeout sweep and the workspace API alike, so the canvas and the sweep always agree:
 * 1. `PROVISION_TIMEOUT_SECONDS` (an operator's override for every workspace);
 * 2. its template's `runtime_config.provision_timeout_seconds`: its own template's if that declares
 *    one, else the largest any template of its runtime declares (upstream's per-runtime rule);
 * 3. the runtime's built-in default (hermes 30 min);
 * 4. 10 min.
 */
export function provisionTimeoutFor(
  config: Pick<Config, 'provisionTimeoutSeconds'>,
  catalog: TemplateCatalog,
  ws: Pick<WorkspaceRow, 'runtime' | 'template'>,
): { seconds: number; source: ProvisionTimeoutSource } {
  if (config.provisionTimeoutSeconds !== undefined) return { seconds: config.provisionTimeoutSeconds, source: 'env' };
  const declared = (ws.template ? catalog.byName.get(ws.template)?.provisionTimeoutSeconds : undefined) ?? catalog.maxTimeoutByRuntime.get(ws.runtime);
  if (declared !== undefined) return { seconds: declared, source: 'template' };
  const builtIn = RUNTIME_PROVISION_TIMEOUT_SECONDS[ws.runtime];
  if (builtIn !== undefined) return { seconds: builtIn, source: 'runtime' };
  return { seconds: DEFAULT_PROVISION_TIMEOUT_SECONDS, source: 'default' };
}

/**
 * `provision_timeout_ms` for the workspace API (C162): present when a template declares the
 * timeout, or the operator set one for everything; absent when the built-in defaults apply (the
 * canvas knows those). Always the value the sweep enforces.
 */
export function advertisedProvisionTimeoutMs(
  config: Pick<Config, 'provisionTimeoutSeconds'>,
  catalog: TemplateCatalog,
  ws: Pick<WorkspaceRow, 'runtime' | 'template'>,
): number | undefined {
  const t = provisionTimeoutFor(config, catalog, ws);
  return t.source === 'env' || t.source === 'template' ? t.seconds * 1000 : undefined;
}
