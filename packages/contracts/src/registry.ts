import { z } from 'zod';
import { WORKSPACE_STATUSES } from './status.js';
import { DELIVERY_MODES } from './workspace.js';

// RUNTIME_CAPABILITIES and RuntimeCapability live with the runtime registry (runtimes.ts).

/** The only non-empty runtime_state the platform honours (C025); others are ignored. */
export const RUNTIME_STATE_WEDGED = 'wedged';

/** A2A agent card: validated loosely here (the A2A SDK owns its exact shape). */
export const AgentCard = z.record(z.string(), z.unknown());
export type AgentCard = z.infer<typeof AgentCard>;

/** `POST /registry/register` (C007-C013). Extra fields from newer runtimes are ignored. */
export const RegisterBody = z.object({
  id: z.uuid(),
  /** Where the platform pushes A2A messages; may be empty only in poll mode (C009). */
  url: z.string().max(2048).default(''),
  agent_card: AgentCard,
  delivery_mode: z.enum(DELIVERY_MODES).optional(),
});
export type RegisterBody = z.infer<typeof RegisterBody>;

export const RegisterResponse = z.object({
  status: z.literal('registered'),
  delivery_mode: z.enum(DELIVERY_MODES),
  /** The bearer the platform uses on the agent's internal endpoints (C007); omitted if minting failed. */
  platform_inbound_secret: z.string().optional(),
});
export type RegisterResponse = z.infer<typeof RegisterResponse>;

export const RuntimeMetadata = z.object({
  capabilities: z.record(z.string(), z.boolean()).optional(),
  idle_timeout_seconds: z.number().int().optional(),
});
export type RuntimeMetadata = z.infer<typeof RuntimeMetadata>;

/**
 * `RuntimeMetadata.safeParse` without zod, for the WORKSPACE_HEARTBEAT events every replica reads
 * (one per beat): the same verdict and output, or undefined. A property test holds the two together.
 */
export function readRuntimeMetadata(v: unknown): RuntimeMetadata | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const { capabilities, idle_timeout_seconds: idle } = v as Record<string, unknown>;
  const out: RuntimeMetadata = {};
  if (capabilities !== undefined) {
    if (typeof capabilities !== 'object' || capabilities === null || Array.isArray(capabilities)) return undefined;
    const caps: Record<string, boolean> = {};
    for (const [k, b] of Object.entries(capabilities)) {
      // As the schema's record does: an own "__proto__" key is skipped, whatever it holds.
      if (k === '__proto__') continue;
      if (typeof b !== 'boolean') return undefined;
      caps[k] = b;
    }
    out.capabilities = caps;
  }
  if (idle !== undefined) {
    if (typeof idle !== 'number' || !Number.isSafeInteger(idle)) return undefined;
    out.idle_timeout_seconds = idle;
  }
  return out;
}

/** `POST /registry/heartbeat` (C001). Absent runtime_metadata means "old runtime, said nothing" (C002). */
export const HeartbeatBody = z.object({
  workspace_id: z.uuid(),
  error_rate: z.number().min(0).max(1).default(0),
  sample_error: z.string().max(4096).default(''),
  active_tasks: z.number().int().min(0).default(0),
  uptime_seconds: z.number().int().min(0).default(0),
  current_task: z.string().max(4096).default(''),
  runtime_state: z.string().max(64).default(''),
  runtime_metadata: RuntimeMetadata.optional(),
});
export type HeartbeatBody = z.infer<typeof HeartbeatBody>;

export const HeartbeatResponse = z.object({
  status: z.literal('ok'),
  /** Echoed on every beat (C006); omitted if it could not be read or minted. */
  platform_inbound_secret: z.string().optional(),
});
export type HeartbeatResponse = z.infer<typeof HeartbeatResponse>;

export const UpdateCardBody = z.object({ workspace_id: z.uuid(), agent_card: AgentCard });
export type UpdateCardBody = z.infer<typeof UpdateCardBody>;

export const UpdateCardResponse = z.object({ status: z.literal('updated') });
export type UpdateCardResponse = z.infer<typeof UpdateCardResponse>;

/** `GET /registry/discover/:id`: where the caller may reach a peer it is allowed to talk to. */
export const DiscoverResponse = z.object({ id: z.uuid(), url: z.string(), name: z.string() });
export type DiscoverResponse = z.infer<typeof DiscoverResponse>;

export const PEER_RELATIONS = ['parent', 'sibling', 'child'] as const;
export type PeerRelation = (typeof PEER_RELATIONS)[number];

/** One entry of `GET /registry/:id/peers` (C225): the parent, siblings and children of `:id`. */
export const Peer = z.object({
  id: z.uuid(),
  name: z.string(),
  role: z.string().nullable(),
  tier: z.number().int(),
  status: z.enum(WORKSPACE_STATUSES),
  url: z.string(),
  parent_id: z.uuid().nullable(),
  active_tasks: z.number().int(),
  agent_card: z.unknown().nullable(),
  relation: z.enum(PEER_RELATIONS),
});
export type Peer = z.infer<typeof Peer>;
