import { fileURLToPath } from 'node:url';
import { Status } from '@molecule/contracts';
import type { AppDeps } from '../deps.js';
import { getWorkspace } from '../workspaces/repo.js';
import type { Provisioner } from './port.js';
import { markProvisionFailed } from './pipeline.js';
import { ProcessBackend } from './process/backend.js';

/** The built `molecule-agent` of this repository (packages/runtime). */
export const DEFAULT_AGENT_BIN = fileURLToPath(new URL('../../../runtime/dist/main.js', import.meta.url));

/**
 * The backend adapters this build wires, keyed by name; `selectProvisioner` picks the configured
 * one. Only the configured backend is constructed.
 */
export function createProvisioners(deps: Pick<AppDeps, 'config' | 'db' | 'broadcaster' | 'log'>, opts: { agentBin?: string } = {}): AppDeps['provisioners'] {
  const out: Partial<Record<Provisioner['backend'], Provisioner>> = {};
  if (deps.config.provisioner === 'process') {
    out.process = new ProcessBackend({
      dataDir: deps.config.dataDir,
      agentBin: opts.agentBin ?? DEFAULT_AGENT_BIN,
      log: deps.log,
      onExit: (id, code) => {
        // An agent that dies before registering would otherwise sit in `provisioning` until a sweep.
        void (async () => {
          const ws = await getWorkspace(deps.db, id);
          if (ws?.status !== Status.Provisioning) return;
          await markProvisionFailed(deps, id, `the agent process exited before it registered (exit code ${code ?? 'none'}); see the platform log`);
        })().catch((err: unknown) => deps.log.error({ err, workspace_id: id }, 'could not record the agent exit'));
      },
    });
  }
  return out;
}
