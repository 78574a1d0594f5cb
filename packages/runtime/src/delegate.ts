import { setTimeout as sleep } from 'node:timers/promises';
import pRetry, { AbortError } from 'p-retry';
import { DelegationStatus, parseJson, type PlatformToolName } from '@molecule/contracts';
import type { PlatformToolResult, PlatformTools } from './platform-tools.js';

/** A delegation that cannot be done; the message is safe to show (it becomes the task's error). */
export class DelegationError extends Error {
  override name = 'DelegationError';
}

/** What `list_peers` says about one workspace this agent may talk to. */
export interface Peer {
  id: string;
  name: string;
  role: string | null;
  relation: string;
  status: string;
}

/** How long a queued delegation is followed (the platform's agent-to-agent ceiling). */
export const DELEGATION_WAIT_MS = 30 * 60_000;
const POLL = { initialMs: 500, maxMs: 5_000 } as const;
/** When several peers carry the asked name, a child wins over a sibling, a sibling over the parent. */
const RELATION_RANK: Record<string, number> = { child: 0, sibling: 1, parent: 2 };

const tool = (name: PlatformToolName) => name;

function isPeer(v: unknown): v is Peer {
  const p = v as Partial<Peer> | null;
  return typeof p === 'object' && p !== null && typeof p.id === 'string' && typeof p.name === 'string';
}

/**
 * The peer `to` names: the one whose id is `to`, else those whose name or role equals it (case
 * insensitive), children first. Throws when the platform cannot list peers, none matches, or two
 * equally close ones do.
 */
export async function resolvePeer(tools: PlatformTools, to: string, signal?: AbortSignal): Promise<Peer> {
  const r = await tools.call(tool('list_peers'), {}, signal);
  if (r.isError) throw new DelegationError(`could not list peers: ${r.text}`);
  const listed = parseJson(r.text);
  const peers = Array.isArray(listed) ? listed.filter(isPeer) : [];
  const byId = peers.find((p) => p.id === to);
  if (byId) return byId;
  const want = to.trim().toLowerCase();
  const named = peers
    .filter((p) => p.name.toLowerCase() === want || (p.role ?? '').toLowerCase() === want)
    .sort((a, b) => (RELATION_RANK[a.relation] ?? 3) - (RELATION_RANK[b.relation] ?? 3));
  if (named.length === 0) {
    const known = peers.map((p) => p.name).slice(0, 10);
    throw new DelegationError(`no peer named "${to}"${known.length > 0 ? ` (peers: ${known.join(', ')})` : ' (this workspace has no peers)'}`);
  }
  if (named.length > 1 && named[0]!.relation === named[1]!.relation) {
    throw new DelegationError(`"${to}" names several ${named[0]!.relation} workspaces (${named.map((p) => p.id).join(', ')}); use its id`);
  }
  return named[0]!;
}

/**
 * A delegate_task answer that is a delegation still under way (queued at a busy peer) rather than
 * the peer's reply. The platform says so in the structured result; the text is read only from a
 * platform that sends none.
 */
function pendingDelegation(r: PlatformToolResult): string | undefined {
  const v = (r.structured ?? parseJson(r.text)) as { task_id?: unknown; status?: unknown } | undefined;
  if (typeof v !== 'object' || v === null || typeof v.task_id !== 'string') return undefined;
  const open: unknown[] = [DelegationStatus.Pending, DelegationStatus.Dispatched, DelegationStatus.Queued];
  return open.includes(v.status) ? v.task_id : undefined;
}

/** The delegation is still waiting in the target's queue (p-retry checks again). */
class StillQueued extends Error {}

/**
 * Gives `task` to the peer `to` names through the platform (`list_peers`, then `delegate_task`) and
 * returns its answer. A delegation the platform had to queue (the peer was busy) is followed with
 * `check_task_status` until it completes, fails, or {@link DELEGATION_WAIT_MS} passes. Every
 * failure throws a {@link DelegationError} saying why; an abort rejects with the signal's reason.
 */
export async function delegateTo(
  tools: PlatformTools,
  to: string,
  task: string,
  signal: AbortSignal,
  opts: { waitMs?: number; poll?: { initialMs: number; maxMs: number } } = {},
): Promise<{ peer: Peer; answer: string }> {
  const peer = await resolvePeer(tools, to, signal);
  const r = await tools.call(tool('delegate_task'), { workspace_id: peer.id, task }, signal);
  if (r.isError) throw new DelegationError(`delegation to ${peer.name} failed: ${r.text}`);
  const taskId = pendingDelegation(r);
  if (taskId === undefined) return { peer, answer: r.text };

  const poll = opts.poll ?? POLL;
  // Follow the queued delegation: check after initialMs, then back off (doubling to maxMs) while it
  // is still queued, until it ends, the wait runs out or the signal fires.
  await sleep(poll.initialMs, undefined, { signal });
  try {
    return await pRetry(
      async () => {
        const s = await tools.call(tool('check_task_status'), { task_id: taskId }, signal);
        if (s.isError) throw new AbortError(new DelegationError(`could not follow the delegation to ${peer.name}: ${s.text}`));
        const status = parseJson(s.text) as { status?: unknown; result?: unknown; error?: unknown } | undefined;
        if (status?.status === DelegationStatus.Completed) return { peer, answer: typeof status.result === 'string' ? status.result : '' };
        if (status?.status === DelegationStatus.Failed) {
          throw new AbortError(new DelegationError(`delegation to ${peer.name} failed: ${typeof status.error === 'string' ? status.error : 'unknown error'}`));
        }
        if (status?.status === DelegationStatus.Canceled) throw new AbortError(new DelegationError(`delegation to ${peer.name} was canceled`));
        if (status?.status === 'not_found') throw new AbortError(new DelegationError(`the platform lost track of the delegation to ${peer.name}`));
        throw new StillQueued();
      },
      {
        retries: Number.POSITIVE_INFINITY,
        factor: 2,
        minTimeout: Math.min(poll.initialMs * 2, poll.maxMs),
        maxTimeout: poll.maxMs,
        randomize: false,
        maxRetryTime: opts.waitMs ?? DELEGATION_WAIT_MS,
        signal,
        shouldRetry: ({ error }) => error instanceof StillQueued,
      },
    );
  } catch (err) {
    if (err instanceof StillQueued) throw new DelegationError(`${peer.name} did not take the task in time (delegation ${taskId} is still queued)`);
    throw err;
  }
}
