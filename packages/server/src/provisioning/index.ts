import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { Status } from '@molecule/contracts';
import { AgentFiles } from './agent-files.js';
import { AgentTerminal } from './agent-terminal.js';
import type { AppDeps } from '../deps.js';
import { getWorkspace } from '../workspaces/read.js';
import { markProvisionFailed } from '../workspaces/transitions.js';
import { ControlPlaneBackend } from './controlplane/backend.js';
import type { Provisioner } from './port.js';
import { DockerBackend } from './docker/backend.js';
import { dockerClientOptions } from './docker/network.js';
import { ProcessBackend } from './process/backend.js';

/** The built `molecule-agent` of this repository (packages/runtime). */
export const DEFAULT_AGENT_BIN = fileURLToPath(new URL('../../../runtime/dist/main.js', import.meta.url));

/**
 * What to do when a local agent process exits on its own. One that dies before registering would
 * otherwise sit in `provisioning` until the timeout sweep, so it fails at once. One that had
 * registered (a beat after it started) was killed later: that is the health sweep's job, even if a
 * restart has meanwhile set the row back to `provisioning`.
 */
export function agentExitHandler(deps: Pick<AppDeps, 'db' | 'broadcaster' | 'log'>) {
  return (id: string, code: number | null, _signal: NodeJS.Signals | null, startedAt: Date): Promise<void> => {
    return (async () => {
      const ws = await getWorkspace(deps.db, id);
      if (ws?.status !== Status.Provisioning) return;
      if (ws.last_heartbeat_at && new Date(ws.last_heartbeat_at) >= startedAt) return;
      await markProvisionFailed(deps, id, `the agent process exited before it registered (exit code ${code ?? 'none'}); see the platform log`);
    })().catch((err: unknown) => deps.log.error({ err, workspace_id: id }, 'could not record the agent exit'));
  };
}

/**
 * The backend that runs workspaces, from MOLECULE_PROVISIONER: the one place a backend is chosen
 * (the composition root calls it once). Undefined for `none`.
 */
export function createProvisioner(
  deps: Pick<AppDeps, 'config' | 'db' | 'broadcaster' | 'log'>,
  opts: { agentBin?: string; /** What reaches agents (control plane files and terminal); read when a call runs. */ agentReach?: () => Pick<AppDeps, 'inboundSecrets' | 'a2a'> } = {},
): Provisioner | undefined {
  switch (deps.config.provisioner) {
    case 'none':
      return undefined;
    case 'process':
      return new ProcessBackend({
        dataDir: deps.config.dataDir,
        agentBin: opts.agentBin ?? DEFAULT_AGENT_BIN,
        log: deps.log,
        onExit: agentExitHandler(deps),
      });
    case 'controlplane':
      // Built even without CP_URL (config warns at boot): each start then fails with a typed error
      // in the log and a canned message on the workspace, rather than "not in this build".
      return new ControlPlaneBackend({
        baseUrl: deps.config.controlPlaneUrl,
        token: deps.config.controlPlaneToken,
        orgId: deps.config.orgId,
        // Files and the terminal go through the instance's own agent, the one way the platform reaches it.
        ...(opts.agentReach ? { files: new AgentFiles(opts.agentReach), terminal: new AgentTerminal(opts.agentReach) } : {}),
      });
    case 'docker': {
      let docker: Docker | undefined;
      try {
        docker = new Docker(dockerClientOptions(deps.config.dockerHost));
      } catch (err) {
        // Fail-closed per call: the backend is wired but answers NoBackendError (C104).
        deps.log.error({ err, docker_host: deps.config.dockerHost }, 'could not create the Docker client');
      }
      return new DockerBackend({
        docker,
        db: deps.db,
        log: deps.log,
        network: deps.config.dockerNetwork,
        runtimeImage: deps.config.runtimeImage,
        imageLocalOverride: deps.config.imageLocalOverride,
        images: deps.config.runtimeImages,
      });
    }
  }
}
