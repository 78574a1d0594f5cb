import { EXTERNAL_RUNTIME } from '@molecule/contracts';
import { socketAnswer, type AgentSockets, type SocketAnswer } from './registry.js';
import type { SocketRelay } from './relay.js';

/** Where a workspace's agent socket is (on this process, or on another replica, by id), and which socket it is. */
export type SocketHolder = { kind: 'local'; socket: string } | { kind: 'remote'; replica: string; socket: string };

/**
 * One way to the agents' outbound sockets for the proxy, whichever replica holds them (#15): the
 * sockets of this process, and, with Redis, those of the other replicas through the relay. Without
 * a relay (one replica) only the local sockets exist.
 */
export class AgentSocketMesh {
  constructor(
    readonly local: AgentSockets,
    private readonly relay: SocketRelay | undefined,
  ) {}

  /**
   * Where `target`'s socket is, if it has one. Only external workspaces connect sockets, so only
   * they cost a lookup in Redis. Fail-open to "no socket" when Redis does not answer: the message
   * then takes the workspace's usual path (its URL, its inbox, or the queue).
   */
  async locate(target: { id: string; runtime: string }): Promise<SocketHolder | undefined> {
    const socket = this.local.socketId(target.id);
    if (socket !== undefined) return { kind: 'local', socket };
    if (!this.relay || target.runtime !== EXTERNAL_RUNTIME) return undefined;
    const held = await this.relay.holder(target.id).catch(() => undefined);
    return held ? { kind: 'remote', ...held } : undefined;
  }

  /**
   * Sends one JSON-RPC request over the socket `holder` names and resolves with the answer shaped
   * as the HTTP dispatcher's (see AgentSockets.post): the same transport contract for a local and a
   * forwarded socket, AgentSocketLostError included.
   */
  async post(holder: SocketHolder, workspaceId: string, request: unknown, signal: AbortSignal, opts: { stream: boolean; callerId: string | null }): Promise<SocketAnswer> {
    const answer =
      holder.kind === 'local' || !this.relay
        ? await this.local.exchange(workspaceId, request, signal, opts.callerId)
        : await this.relay.forward(holder.replica, workspaceId, request, signal, opts.callerId);
    return socketAnswer(answer, opts.stream);
  }
}
