import { setTimeout as sleep } from 'node:timers/promises';
import { EXTERNAL_RUNTIME, Status } from '@molecule/contracts';
import { mintWorkspaceToken } from '../auth/repo.js';
import { generateToken } from '../auth/tokens.js';
import type { ProvisionerBackend } from '../config.js';
import type { Db, Queryable } from '../db/port.js';
import type { Broadcaster } from '../events/broadcaster.js';
import type { Logger } from '../log.js';
import { checkAgentUrl, type AgentUrlPolicy } from '../ssrf/agent-url.js';
import { setStatus, type WorkspaceRow } from '../workspaces/repo.js';
import type { Provisioner, StartSpec } from './port.js';
import type { Semaphore } from './semaphore.js';
import { templateFiles } from './templates.js';

export interface ProvisioningDeps {
  db: Db;
  broadcaster: Broadcaster;
  log: Logger;
  /** The backend the operator chose (MOLECULE_PROVISIONER). */
  backend: ProvisionerBackend;
  /** The adapters this build wires; a configured backend without an adapter cannot provision. */
  provisioners: Partial<Record<ProvisionerBackend, Provisioner>>;
  /** The URL agents use to reach the platform (known once the server listens). */
  platformUrl: () => string;
  templatesDir: string;
  /** Bounds concurrent provisions (MOLECULE_PROVISION_CONCURRENCY, C123). */
  provisionSlots: Semaphore;
  /** What an instance URL reported by a backend may point at. */
  agentUrlPolicy: AgentUrlPolicy;
}

/** Canned failure messages: what users see. Details go to the log only (C117). */
export const PROVISION_FAILED = {
  start: 'workspace start failed; see the platform log for details',
  prepare: 'could not prepare the workspace configuration; see the platform log for details',
  crashed: 'provisioning crashed unexpectedly; see the platform log for details',
} as const;

/**
 * Which backend runs workspaces: the single answer every caller uses. Undefined when the configured
 * backend is `none` or has no adapter in this build.
 */
export function selectProvisioner(deps: Pick<ProvisioningDeps, 'backend' | 'provisioners'>): Provisioner | undefined {
  if (deps.backend === 'none') return undefined;
  return deps.provisioners[deps.backend];
}

/** The canned, actionable message stored on a workspace that no backend can run. */
export function noBackendMessage(backend: ProvisionerBackend): string {
  return backend === 'none'
    ? 'No provisioner is configured (MOLECULE_PROVISIONER=none). Set MOLECULE_PROVISIONER to process, docker or controlplane and restart the workspace, or create it with runtime "external" and run the agent yourself.'
    : `The "${backend}" provisioner is not available in this build. Set MOLECULE_PROVISIONER to an available backend, or create the workspace with runtime "external" and run the agent yourself.`;
}

/**
 * Marks a workspace failed with a safe message and records WORKSPACE_PROVISION_FAILED. A removed
 * workspace stays removed (C013). The detail, if any, goes to the log only.
 */
export async function markProvisionFailed(
  deps: Pick<ProvisioningDeps, 'db' | 'broadcaster' | 'log'>,
  id: string,
  message: string,
  detail?: unknown,
): Promise<void> {
  if (detail !== undefined) deps.log.error({ workspace_id: id, err: detail }, 'provisioning failed');
  const row = await setStatus(deps.db, id, Status.Failed, message);
  if (row) await deps.broadcaster.recordAndBroadcast('WORKSPACE_PROVISION_FAILED', id, { error: message });
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
  const prov = selectProvisioner(deps);
  if (!prov) {
    await markProvisionFailed(deps, ws.id, noBackendMessage(deps.backend));
    return false;
  }
  const run = deps.provisionSlots.run(() => runPipeline(deps, prov, ws, { applyTemplate: opts.applyTemplate ?? false }));
  if (opts.wait) await run;
  return true;
}

/** Fresh credentials for one start: all older tokens revoked (C114), a new inbound secret stored (C113). */
export async function mintWorkspaceSecrets(q: Queryable, workspaceId: string): Promise<{ token: string; inboundSecret: string }> {
  await q.query('UPDATE workspace_auth_tokens SET revoked_at = now() WHERE workspace_id = $1 AND revoked_at IS NULL', [workspaceId]);
  const { token } = await mintWorkspaceToken(q, workspaceId);
  const inboundSecret = generateToken('inbound');
  await q.query('UPDATE workspaces SET platform_inbound_secret = $2 WHERE id = $1', [workspaceId, inboundSecret]);
  return { token, inboundSecret };
}

/** What the agent process sees: PARENT_ID and MODEL only when set (C115). */
export function agentEnv(ws: WorkspaceRow, platformUrl: string): Record<string, string> {
  return {
    WORKSPACE_ID: ws.id,
    PLATFORM_URL: platformUrl,
    ...(ws.parent_id ? { PARENT_ID: ws.parent_id } : {}),
    ...(ws.model ? { MODEL: ws.model } : {}),
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
    const secrets = await deps.db.tx((q) => mintWorkspaceSecrets(q, ws.id));
    const spec: StartSpec = {
      workspace: ws,
      env: agentEnv(ws, deps.platformUrl()),
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
    await deps.db.query(
      `UPDATE workspaces SET instance_id = $2, url = COALESCE($3, url), runtime_image_digest = COALESCE($5, runtime_image_digest), updated_at = now()
        WHERE id = $1 AND status <> $4`,
      [ws.id, started.instanceId, (await backendUrl(deps, ws.id, started.url)) ?? null, Status.Removed, started.imageDigest ?? null],
    );
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
  deps: Pick<ProvisioningDeps, 'backend' | 'provisioners' | 'log'>,
  ws: WorkspaceRow,
  signal: AbortSignal,
  opts: { removeVolumes?: boolean; reprovision?: boolean } = {},
): Promise<StopOutcome> {
  if (ws.runtime === EXTERNAL_RUNTIME) return { id: ws.id, ok: true };
  const prov = selectProvisioner(deps);
  if (!prov) return { id: ws.id, ok: true };
  const attempts = opts.reprovision ? Math.max(1, prov.stopRetry?.attempts ?? 1) : 1;
  const cancelled = (attempt: number) => {
    deps.log.warn({ workspace_id: ws.id, instance_id: ws.instance_id, attempt }, 'stop cancelled before it succeeded; not retrying');
    return { id: ws.id, ok: false };
  };
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) return cancelled(attempt);
    try {
      await abortable(prov.stop(ws, signal), signal);
      break;
    } catch (err) {
      if (signal.aborted) return cancelled(attempt);
      if (attempt >= attempts) {
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
      const waitMs = prov.stopRetry!.backoffMs(attempt);
      deps.log.warn({ workspace_id: ws.id, attempt, retry_in_ms: waitMs, err }, 'stop failed; retrying');
      try {
        await sleep(waitMs, undefined, { signal });
      } catch {
        return cancelled(attempt);
      }
    }
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

/** Resolves with `p`, or rejects when `signal` fires first (a backend that ignores its signal). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    // `p` is always observed below, so a late failure of an abandoned call is never unhandled.
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
