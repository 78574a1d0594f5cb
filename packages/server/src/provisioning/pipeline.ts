import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import { EXTERNAL_RUNTIME, MODEL_SECRET } from '@molecule/contracts';
import { rotateWorkspaceCredentials } from '../auth/credentials.js';
import type { ProvisionerBackend } from '../config.js';
import type { AppDeps } from '../deps.js';
import { abortable } from '../net/abortable.js';
import { checkAgentUrl } from '../ssrf/agent-url.js';
import type { WorkspaceRow } from '../workspaces/read.js';
import { markProvisionFailed, recordStartedInstance } from '../workspaces/transitions.js';
import type { Provisioner, StartSpec } from './port.js';
import { templateFiles } from './templates.js';
import { providerEnvOf } from './configs.js';
import { resolveSecretEnv, SecretsUnreadable, startApplies } from '../secrets/service.js';

/**
 * What provisioning touches: the one backend the composition root built (undefined when
 * MOLECULE_PROVISIONER=none), the configured name (for messages), the platform URL agents dial,
 * the templates, the provision slots (C123) and the agent-URL policy; rows change through the
 * workspaces and auth services.
 */
export type ProvisioningDeps = Pick<
  AppDeps,
  'db' | 'broadcaster' | 'log' | 'config' | 'provisioner' | 'platformUrl' | 'templatesDir' | 'templateManifests' | 'provisionSlots' | 'agentUrlPolicy' | 'secrets' | 'inboundSecrets'
>;

/** Canned failure messages: what users see. Details go to the log only (C117). */
export const PROVISION_FAILED = {
  start: 'workspace start failed; see the platform log for details',
  prepare: 'could not prepare the workspace configuration; see the platform log for details',
  secrets: 'a secret could not be decrypted with the current SECRETS_ENCRYPTION_KEY; see the platform log for which',
  crashed: 'provisioning crashed unexpectedly; see the platform log for details',
} as const;

/** What a workspace whose template requires keys it does not have is told (C119). */
export const missingEnvMessage = (missing: readonly string[]) =>
  `missing required environment variables: ${missing.join(', ')}. Set them as secrets (org-wide, or on the workspace or an ancestor) and restart it.`;

/** The canned, actionable message stored on a workspace that no backend can run. */
export function noBackendMessage(backend: ProvisionerBackend): string {
  return backend === 'none'
    ? 'No provisioner is configured (MOLECULE_PROVISIONER=none). Set MOLECULE_PROVISIONER to process, docker or controlplane and restart the workspace, or create it with runtime "external" and run the agent yourself.'
    : `The "${backend}" provisioner is not available in this build. Set MOLECULE_PROVISIONER to an available backend, or create the workspace with runtime "external" and run the agent yourself.`;
}

/**
 * The single provisioning entry point (C110, C111). Picks the backend; when there is none it marks
 * the workspace failed itself (no silent `provisioning` limbo) and returns false. Otherwise it runs
 * the shared pipeline (in the background unless `wait`) and returns true; any failure there, thrown
 * or rejected, ends in `failed` with a canned message and an event (C116, C121).
 */
export async function provisionWorkspaceAuto(
  deps: ProvisioningDeps,
  ws: WorkspaceRow,
  opts: { wait?: boolean; applyTemplate?: boolean } = {},
): Promise<boolean> {
  if (ws.runtime === EXTERNAL_RUNTIME) return false;
  const prov = deps.provisioner;
  if (!prov) {
    await markProvisionFailed(deps, ws.id, noBackendMessage(deps.config.provisioner));
    return false;
  }
  const run = deps.provisionSlots(() => runPipeline(deps, prov, ws, { applyTemplate: opts.applyTemplate ?? false }));
  if (opts.wait) await run;
  return true;
}

/**
 * What the agent process sees: PARENT_ID and MODEL only when set (C115; MODEL falls back to the kept
 * MODEL_PROVIDER choice, C125), and the task slots of the
 * row, which the agent runs with whatever its config.yaml says: the platform's queue and the agent
 * count the same capacity.
 */
export function agentEnv(ws: WorkspaceRow, platformUrl: string, keptModel?: string): Record<string, string> {
  // The row's model, else the choice kept as the MODEL_PROVIDER secret (C125).
  const model = ws.model || keptModel;
  return {
    WORKSPACE_ID: ws.id,
    PLATFORM_URL: platformUrl,
    MOLECULE_MAX_CONCURRENT_TASKS: String(ws.max_concurrent_tasks),
    // molecule-agent runs the adapter of the row's runtime, never another (issue #16).
    MOLECULE_RUNTIME: ws.runtime,
    ...(ws.parent_id ? { PARENT_ID: ws.parent_id } : {}),
    ...(model ? { MODEL: model } : {}),
    // Hermes images read their default model from this name too.
    ...(model && ws.runtime === 'hermes' ? { HERMES_DEFAULT_MODEL: model } : {}),
  };
}

/**
 * The shared pipeline every start runs (C112): prepare the files and env, mint the secrets, start
 * on the backend, record the instance. Never throws: failures are recorded on the workspace.
 */
export async function runPipeline(
  deps: ProvisioningDeps,
  prov: Provisioner,
  ws: WorkspaceRow,
  opts: { applyTemplate: boolean } = { applyTemplate: false },
): Promise<void> {
  deps.log.info({ workspace_id: ws.id, backend: prov.backend }, 'provisioning started');
  try {
    let files: Record<string, string>;
    try {
      files = await templateFiles(deps.templatesDir, ws);
    } catch (err) {
      return await markProvisionFailed(deps, ws.id, PROVISION_FAILED.prepare, err);
    }
    // The secrets the agent runs with (global, ancestors, its own; C209): read now, so this start
    // applies every change made so far.
    let secretEnv: Record<string, string>;
    try {
      await startApplies(deps.db, ws.id);
      secretEnv = await resolveSecretEnv(deps, ws.id);
    } catch (err) {
      if (err instanceof SecretsUnreadable) deps.log.error({ workspace_id: ws.id, failed_keys: err.failedKeys }, 'secrets could not be decrypted');
      return await markProvisionFailed(deps, ws.id, err instanceof SecretsUnreadable ? PROVISION_FAILED.secrets : PROVISION_FAILED.prepare, err);
    }
    // The server's LLM provider settings, on a backend that hands them on; a secret of the same name wins.
    const available = { ...providerEnvOf(prov), ...secretEnv };
    // The keys its template says it cannot run without (runtime_config.required_env), C119: a start
    // without them fails now, naming them, rather than an agent failing later on its first call.
    const required = ws.template ? ((await deps.templateManifests.catalog(deps.templatesDir)).byName.get(ws.template)?.summary.required_env ?? []) : [];
    const missing = required.filter((k) => !available[k]);
    if (missing.length > 0) {
      return await markProvisionFailed(deps, ws.id, missingEnvMessage(missing), undefined, { missing });
    }
    const secrets = await deps.db.tx((q) => rotateWorkspaceCredentials(q, ws.id));
    deps.inboundSecrets.issued(ws.id, secrets.inboundSecret);
    const spec: StartSpec = {
      workspace: ws,
      // The platform's own variables win over a secret of the same name.
      env: { ...available, ...agentEnv(ws, deps.platformUrl(), secretEnv[MODEL_SECRET]) },
      secretFiles: { '.auth_token': secrets.token, '.platform_inbound_secret': secrets.inboundSecret },
      templateFiles: files,
      applyTemplate: opts.applyTemplate,
    };
    let started: Awaited<ReturnType<Provisioner['start']>>;
    try {
      started = await prov.start(spec, AbortSignal.timeout(5 * 60_000));
    } catch (err) {
      return await markProvisionFailed(deps, ws.id, PROVISION_FAILED.start, err);
    }
    await recordStartedInstance(deps.db, ws.id, { instanceId: started.instanceId, url: await backendUrl(deps, ws.id, started.url), imageDigest: started.imageDigest });
    deps.log.info({ workspace_id: ws.id, instance_id: started.instanceId }, 'workspace started; waiting for the agent to register');
  } catch (err) {
    // Anything unexpected (a bug, a database outage mid-pipeline) still ends in `failed` (C121).
    await markProvisionFailed(deps, ws.id, PROVISION_FAILED.crashed, err).catch((e: unknown) =>
      deps.log.error({ workspace_id: ws.id, err: e }, 'could not record the provisioning failure'),
    );
  }
}

/**
 * A URL a backend reported for a new instance (a remote control plane's answer), kept only if the
 * agent-URL policy allows it: a recorded URL is one the agent may re-announce without a check, so it
 * must pass the same one. A refused URL is dropped (logged); the agent registers its own.
 */
async function backendUrl(deps: Pick<ProvisioningDeps, 'agentUrlPolicy' | 'log'>, id: string, url: string | undefined): Promise<string | undefined> {
  if (url === undefined) return undefined;
  const check = await checkAgentUrl(url, deps.agentUrlPolicy);
  if (check.ok) return url;
  deps.log.warn({ workspace_id: id, reason: check.reason, detail: check.detail }, 'backend reported an instance URL the agent-URL policy refuses; not recording it');
  return undefined;
}

export interface StopOutcome {
  id: string;
  ok: boolean;
}

/**
 * Stops one workspace on whichever backend runs it (C152), then removes its volumes unless told not
 * to (restart, pause and hibernate keep them); a failed stop skips the volume removal (C156, the
 * orphan sweeper finishes it). External workspaces and workspaces with no backend have nothing to
 * stop. Never throws: the outcome says whether the stop worked.
 *
 * `reprovision` marks the stop before a restart, whose caller starts the workspace again whatever
 * happens here (C146): the stop is retried per the backend's `stopRetry` policy, and when every
 * attempt failed a structured `LEAK-SUSPECT` line is logged (the old instance may still run beside
 * the new one). A fired signal ends the retries at once, without waiting, with its own log line and
 * no LEAK-SUSPECT: a cancelled stop is not evidence of a leak.
 */
export async function stopWorkspace(
  deps: Pick<ProvisioningDeps, 'provisioner' | 'log'>,
  ws: WorkspaceRow,
  signal: AbortSignal,
  opts: { removeVolumes?: boolean; reprovision?: boolean } = {},
): Promise<StopOutcome> {
  if (ws.runtime === EXTERNAL_RUNTIME) return { id: ws.id, ok: true };
  const prov = deps.provisioner;
  if (!prov) return { id: ws.id, ok: true };
  const attempts = opts.reprovision ? Math.max(1, prov.stopRetry?.attempts ?? 1) : 1;
  let attempt = 1;
  try {
    // The wait between attempts is the backend's own policy (p-retry's is a fixed formula), slept in
    // onFailedAttempt; the signal ends the retries at once, also during a wait.
    await pRetry(
      async (n) => {
        attempt = n;
        await abortable(prov.stop(ws, signal), signal);
      },
      {
        retries: attempts - 1,
        minTimeout: 0,
        randomize: false,
        signal,
        shouldRetry: () => !signal.aborted,
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft === 0 || signal.aborted) return;
          const waitMs = prov.stopRetry!.backoffMs(attemptNumber);
          deps.log.warn({ workspace_id: ws.id, attempt: attemptNumber, retry_in_ms: waitMs, err: error }, 'stop failed; retrying');
          await sleep(waitMs, undefined, { signal });
        },
      },
    );
  } catch (err) {
    if (signal.aborted) {
      deps.log.warn({ workspace_id: ws.id, instance_id: ws.instance_id, attempt }, 'stop cancelled before it succeeded; not retrying');
      return { id: ws.id, ok: false };
    }
    if (opts.reprovision) {
      deps.log.error(
        { event: 'LEAK-SUSPECT', workspace_id: ws.id, instance_id: ws.instance_id, backend: prov.backend, attempts, err },
        `LEAK-SUSPECT: stopping workspace ${ws.id} failed ${attempts} time(s); reprovisioning anyway, its old instance may still be running`,
      );
    } else {
      deps.log.error({ workspace_id: ws.id, err }, 'stop failed');
    }
    return { id: ws.id, ok: false };
  }
  if (prov.removeVolumes && (opts.removeVolumes ?? true)) {
    try {
      await abortable(prov.removeVolumes(ws, signal), signal);
    } catch (err) {
      // Volume removal errors are only logged (C154); the orphan sweeper retries.
      deps.log.warn({ workspace_id: ws.id, err }, 'volume removal failed');
    }
  }
  return { id: ws.id, ok: true };
}
