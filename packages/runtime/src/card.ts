import { AgentCard } from '@a2a-js/sdk';
import { A2A_IDEMPOTENT_MESSAGES_EXTENSION } from '@molecule/contracts';
import type { WorkspaceConfig } from './config.js';

/** The v0.3 protocol version advertised next to v1.0 for older peers (upstream runtimes, SDK 0.3). */
export const LEGACY_PROTOCOL_VERSION = '0.3.0';
const MODES = ['text/plain', 'application/json'];

export interface BuiltAgentCard {
  /** The SDK's (v1) card, handed to the request handler. */
  core: AgentCard;
  /**
   * What `/.well-known/agent-card.json` serves and what register sends: the v1 JSON plus the v0.3
   * fields (`url`, `protocolVersion`, `preferredTransport`, `additionalInterfaces`, full skills), so
   * v1 clients, v0.3 clients and the platform all read it.
   */
  json: Record<string, unknown>;
}

/**
 * The agent card for this workspace served at `url`: JSON-RPC at the root, in both protocol
 * versions (v1.0 preferred). Streaming is on; push notifications are not offered (no sender yet).
 */
export function buildAgentCard(cfg: WorkspaceConfig, url: string): BuiltAgentCard {
  const skills = cfg.skills.map((s) => ({
    id: s.id,
    name: s.name,
    description: s.description,
    tags: s.tags,
    examples: s.examples,
    inputModes: [],
    outputModes: [],
    securityRequirements: [],
  }));
  const description = cfg.description || cfg.name;
  const core: AgentCard = {
    name: cfg.name,
    description,
    supportedInterfaces: [
      { url, protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' },
      { url, protocolBinding: 'JSONRPC', protocolVersion: '0.3', tenant: '' },
    ],
    provider: undefined,
    version: cfg.version,
    capabilities: {
      streaming: true,
      pushNotifications: false,
      extensions: [
        {
          uri: A2A_IDEMPOTENT_MESSAGES_EXTENSION,
          description: 'message/send is idempotent by messageId: a repeat gets the first answer and is processed once (for an hour, 10,000 messages)',
          required: false,
          params: undefined,
        },
      ],
      extendedAgentCard: false,
    },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: MODES,
    defaultOutputModes: MODES,
    skills,
    signatures: [],
  };
  const json = {
    ...(AgentCard.toJSON(core) as Record<string, unknown>),
    description,
    skills: skills.map(({ id, name, description, tags, examples }) => ({ id, name, description, tags, examples })),
    url,
    protocolVersion: LEGACY_PROTOCOL_VERSION,
    preferredTransport: 'JSONRPC',
    additionalInterfaces: [{ url, transport: 'JSONRPC' }],
  };
  return { core, json };
}
