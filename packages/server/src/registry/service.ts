import {
  EXTERNAL_RUNTIME,
  Status,
  type DiscoverResponse,
  type HeartbeatBody,
  type HeartbeatResponse,
  type Peer,
  type RegisterBody,
  type RegisterResponse,
  type UpdateCardBody,
  type WorkspaceStatus,
} from '@molecule/contracts';
import type { A2ADispatcher } from '../a2a/dispatch.js';
import { generateToken } from '../auth/tokens.js';
import type { Config } from '../config.js';
import type { Db } from '../db/port.js';
import type { Broadcaster } from '../events/broadcaster.js';
import { canCommunicate } from '../hierarchy/access.js';
import { DomainError, denied, invalid, notFound } from '../errors.js';
import type { LivenessStore } from '../liveness/port.js';
import type { Logger } from '../log.js';
import { checkAgentUrl, type AgentUrlPolicy } from '../ssrf/agent-url.js';
import { getWorkspace, type WorkspaceRow } from '../workspaces/read.js';
import { removedError } from '../workspaces/errors.js';
import { fetchAgentCard } from './agent-card.js';
import { beatSignals, nextStatuses, resolveDeliveryMode } from './evaluate.js';
import { HeartbeatWriter } from './heartbeat-writer.js';
import type { RuntimeOverrides } from './overrides.js';
import { recordedEvent, type RecordedEventColumns } from './recorded-event.js';
import { applyRegister, listPeers, updateAgentCard, type HeartbeatOutcome, type HeartbeatWrite } from './repo.js';

export interface RegistryDeps {
  db: Db;
  broadcaster: Broadcaster;
  log: Logger;
  liveness: LivenessStore;
  runtimeOverrides: RuntimeOverrides;
  agentUrlPolicy: AgentUrlPolicy;
  config: Pick<Config, 'livenessTtlSeconds'>;
  /** Coalesces concurrent beats into shared statements (the routes pass one); without it each beat is written alone. */
  heartbeatWriter?: HeartbeatWriter;
  /** Told about every beat with a free task slot: queued messages for that workspace may go now (C060). */
  onFreeSlot?: (workspaceId: string) => void;
  /** The guarded outbound client: an external push agent's published agent card is fetched with it. */
  a2a?: { dispatcher: Pick<A2ADispatcher, 'forward'> };
}

/** The message for a rejected agent URL (C220); the reason itself goes to the log only. */
export const URL_NOT_ROUTABLE = 'workspace URL is not publicly routable';

/** Statuses in which a workspace's agent answers at its URL. */
const REACHABLE: readonly WorkspaceStatus[] = [Status.Online, Status.Degraded];

/**
 * `POST /registry/register` for an authenticated agent (the route has matched the bearer to
 * `body.id`). Never creates a workspace: unknown is 404, removed is 410 and nothing changes
 * (C013). Resolves the delivery mode (C008), requires and checks the URL for push (C009, C012),
 * then upserts in one statement: offline, provisioning and awaiting_agent become online (C011,
 * C024). Always answers the inbound secret, minting it if missing (C007). No token is minted: the
 * caller already holds one.
 */
export async function register(deps: RegistryDeps, body: RegisterBody): Promise<RegisterResponse> {
  const row = await getWorkspace(deps.db, body.id);
  if (!row) throw notFound('workspace not found');
  if (row.status === Status.Removed) throw removedError(row);

  const deliveryMode = resolveDeliveryMode(body.delivery_mode, row.delivery_mode, row.runtime);
  const url = body.url.trim();
  if (deliveryMode === 'push' && url === '') {
    throw invalid('url is required for push delivery; send the agent URL, or delivery_mode "poll"');
  }
  if (url !== '' && !isProvisionerUrl(row, url)) await requireSafeUrl(deps, row.id, url);

  const out = await applyRegister(deps.db, {
    id: row.id,
    url,
    agentCard: body.agent_card,
    deliveryMode,
    newInboundSecret: generateToken('inbound'),
  });
  if (!out) throw await missingOrRemoved(deps.db, row.id);

  await refreshLiveness(deps, row.id);
  await publishRecorded(deps, row.id, out);
  // An A2A service connected as an external push agent publishes its own card: show that one.
  if (row.runtime === EXTERNAL_RUNTIME && deliveryMode === 'push' && url !== '') void adoptPublishedCard(deps, row.id, url);
  return { status: 'registered', delivery_mode: out.delivery_mode, platform_inbound_secret: out.platform_inbound_secret };
}

/**
 * Fetches the card an external push agent publishes (see fetchAgentCard) and, when there is one,
 * stores it as the workspace's card with AGENT_CARD_UPDATED, as `POST /registry/update-card` would.
 * Runs after the register answer; a failure only leaves the registered card in place (logged
 * without the URL, which may carry credentials).
 */
async function adoptPublishedCard(deps: RegistryDeps, id: string, url: string): Promise<void> {
  if (!deps.a2a) return;
  try {
    const card = await fetchAgentCard(deps.a2a.dispatcher, url);
    if (!card) {
      deps.log.info({ workspace_id: id }, 'registry: the external agent publishes no agent card at its well-known path; the registered card stays');
      return;
    }
    if (await updateAgentCard(deps.db, id, card)) await deps.broadcaster.recordAndBroadcast('AGENT_CARD_UPDATED', id, { agent_card: card });
  } catch (err) {
    deps.log.warn({ err, workspace_id: id }, 'registry: could not store the external agent\'s published card');
  }
}

/**
 * `POST /registry/heartbeat` for an authenticated agent: O(1) statements, shared with concurrent
 * beats. The HeartbeatWriter records the beat and applies the status evaluation under the row lock
 * (C020-C025), recording a status event only on a transition (C023); a beat that changes no status
 * may be answered from its memory and written with its tick (write-behind, see heartbeat-writer.ts).
 * Then `afterBeat` runs; the runtime overrides are stored as the beat is answered (C005). Answers the inbound secret
 * (C006). Unknown is 404, removed is 410 and nothing changes.
 * `token`, when given, is the caller's bearer, checked together with the beat: 401 when it is not a
 * live workspace token, 403 when it belongs to another workspace. Omit it for a caller already
 * authenticated.
 */
export async function heartbeat(deps: RegistryDeps, body: HeartbeatBody, token?: string): Promise<HeartbeatResponse> {
  const id = body.workspace_id;
  const signals = beatSignals(body);
  const degradedPayload = signals.wedged
    ? { runtime_state: body.runtime_state, sample_error: body.sample_error }
    : { error_rate: body.error_rate, sample_error: body.sample_error };
  const write: HeartbeatWrite = {
    id,
    next: nextStatuses(signals),
    errorRate: body.error_rate,
    activeTasks: body.active_tasks,
    currentTask: body.current_task,
    sampleError: body.sample_error,
    degradedPayload,
  };
  const out = await (deps.heartbeatWriter ?? new HeartbeatWriter(deps.db)).write(write, token, (o) => afterBeat(deps, body, o));
  if (!out) throw await missingOrRemoved(deps.db, id);
  deps.runtimeOverrides.applyHeartbeat(id, body.runtime_metadata);
  return { status: 'ok', platform_inbound_secret: out.platform_inbound_secret };
}

/**
 * What follows a recorded beat (run by the HeartbeatWriter once the beat is in the database): the
 * queue's free-slot hint (C060), the status event, TASK_UPDATED when current_task changed (C004),
 * WORKSPACE_HEARTBEAT on every beat (C003), and the liveness refresh.
 */
async function afterBeat(deps: RegistryDeps, body: HeartbeatBody, out: HeartbeatOutcome): Promise<void> {
  const id = body.workspace_id;
  if (body.active_tasks < out.max_concurrent_tasks) deps.onFreeSlot?.(id);
  const announce = async () => {
    await publishRecorded(deps, id, out);
    if (out.old_current_task !== body.current_task) {
      await deps.broadcaster.broadcastOnly('TASK_UPDATED', id, { current_task: body.current_task, active_tasks: body.active_tasks });
    }
    await deps.broadcaster.broadcastOnly('WORKSPACE_HEARTBEAT', id, {
      active_tasks: body.active_tasks,
      uptime_seconds: body.uptime_seconds,
      error_rate: body.error_rate,
      // Other replicas fill their runtime-overrides cache from this (see assembleDeps).
      ...(body.runtime_metadata ? { runtime_metadata: body.runtime_metadata } : {}),
    });
  };
  await Promise.all([refreshLiveness(deps, id), announce()]);
}

/** Publishes the event a registry statement recorded along with its change (see recorded-event.ts). */
async function publishRecorded(deps: RegistryDeps, id: string, row: RecordedEventColumns): Promise<void> {
  const event = recordedEvent(id, row);
  if (event) await deps.broadcaster.publish([event]);
}

/** `POST /registry/update-card`: replaces the agent card and records AGENT_CARD_UPDATED. */
export async function updateCard(deps: RegistryDeps, body: UpdateCardBody): Promise<void> {
  if (!(await updateAgentCard(deps.db, body.workspace_id, body.agent_card))) throw await missingOrRemoved(deps.db, body.workspace_id);
  await deps.broadcaster.recordAndBroadcast('AGENT_CARD_UPDATED', body.workspace_id, { agent_card: body.agent_card });
}

/**
 * `GET /registry/discover/:id`: the URL at which `callerId` may reach `targetId`. The hierarchy
 * rule decides (403 otherwise, unknown and removed targets included, so this is no existence
 * oracle). 503 when the target is not running or has no URL the platform would dial itself
 * (checked again here, C221: DNS may have changed since register).
 */
export async function discover(deps: RegistryDeps, callerId: string, targetId: string): Promise<DiscoverResponse> {
  const decision = await canCommunicate(deps.db, callerId, targetId);
  if (!decision.allowed) throw denied('not authorized to discover this workspace');
  const target = await getWorkspace(deps.db, targetId);
  if (!target) throw notFound('workspace not found');
  if (!REACHABLE.includes(target.status)) throw new DomainError('agent_unavailable', 'workspace not available', { status: target.status });
  if (target.url === '') throw new DomainError('agent_unavailable', 'workspace has no URL (it receives messages by polling)', { status: target.status });
  const check = await checkAgentUrl(target.url, deps.agentUrlPolicy);
  if (!check.ok) {
    deps.log.warn({ workspace_id: targetId, caller_id: callerId, reason: check.reason, detail: check.detail }, 'discovered URL failed the safety check');
    throw new DomainError('agent_unavailable', 'workspace URL failed safety check');
  }
  return { id: target.id, url: target.url, name: target.name };
}

/**
 * `GET /registry/:id/peers`: parent, siblings and children, removed ones excluded (C225). `q`
 * filters name or role, case-insensitively, after the read (C226); blank means no filter.
 */
export async function peers(deps: Pick<RegistryDeps, 'db'>, id: string, q: string | undefined): Promise<Peer[]> {
  const me = await getWorkspace(deps.db, id);
  if (!me) throw notFound('workspace not found');
  if (me.status === Status.Removed) throw removedError(me);
  const needle = (q ?? '').trim().toLowerCase();
  const rows = await listPeers(deps.db, id);
  return rows
    .filter((r) => needle === '' || r.name.toLowerCase().includes(needle) || (r.role ?? '').toLowerCase().includes(needle))
    .map((r) => ({
      id: r.id,
      name: r.name,
      role: r.role && r.role.length > 0 ? r.role : null,
      tier: r.tier,
      status: r.status,
      url: r.url,
      parent_id: r.parent_id,
      active_tasks: r.active_tasks,
      agent_card: r.agent_card ?? null,
      relation: r.relation,
    }));
}

/**
 * A managed workspace re-announcing the URL its provisioner recorded: the platform chose that
 * address itself (a loopback port of the process backend), so it is not an agent-supplied target.
 */
function isProvisionerUrl(row: WorkspaceRow, url: string): boolean {
  return row.runtime !== EXTERNAL_RUNTIME && row.url !== '' && row.url === url;
}

async function requireSafeUrl(deps: RegistryDeps, workspaceId: string, url: string): Promise<void> {
  const check = await checkAgentUrl(url, deps.agentUrlPolicy);
  if (check.ok) return;
  deps.log.warn({ workspace_id: workspaceId, reason: check.reason, detail: check.detail }, 'register: agent URL rejected');
  switch (check.reason) {
    case 'blocked':
    case 'private':
      throw invalid(URL_NOT_ROUTABLE);
    case 'unresolvable':
      throw invalid('workspace URL host could not be resolved');
    default:
      throw invalid('workspace URL must be an http(s) URL without credentials');
  }
}

/**
 * Refreshes the workspace's liveness deadline. Fail-open: the beat is already recorded, and a
 * workspace whose deadline was not refreshed is at worst flipped offline and recovered by its next
 * beat; the health sweep reconciles the rest.
 */
async function refreshLiveness(deps: RegistryDeps, id: string): Promise<void> {
  try {
    await deps.liveness.touch(id, deps.config.livenessTtlSeconds * 1000);
  } catch (err) {
    deps.log.error({ err, workspace_id: id }, 'liveness refresh failed');
  }
}

/** The error for a write that matched no row: 404 when it never existed, 410 when it was removed. */
async function missingOrRemoved(db: Db, id: string): Promise<DomainError> {
  const row = await getWorkspace(db, id);
  return row ? removedError(row) : notFound('workspace not found');
}
