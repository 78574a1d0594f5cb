import { z } from 'zod';

/**
 * Capabilities a runtime may declare it owns natively; the platform steps aside for exactly those
 * concerns (C030). Unknown names are accepted on the wire and ignored.
 */
export const RUNTIME_CAPABILITIES = [
  'heartbeat',
  'scheduler',
  'session',
  'status_mgmt',
  'retry',
  'activity_decoration',
  'channel_dispatch',
] as const;
export type RuntimeCapability = (typeof RUNTIME_CAPABILITIES)[number];

/**
 * The one table of workspace runtimes (issue #16): what runs each one, where its config lives, what
 * it owns natively, how long it may take to start and the keys it cannot run without. RUNTIMES, the
 * server's refusal of a runtime a backend cannot run, the Docker image map, molecule-agent's adapter
 * choice, docs/runtimes.md and the canvas create dialog all read it.
 */
export interface RuntimeSpec {
  /**
   * The molecule-agent adapter that runs it (the process backend, and the runtime image on Docker);
   * `null`: no adapter in this repository, so it runs only where an operator maps it to an image.
   * `molecule` runs the adapter config.yaml names (echo, script, openai, anthropic).
   */
  adapter: string | null;
  /** No process at all: its operator runs the agent elsewhere (`external`). */
  external?: true;
  /** The runtime image (MOLECULE_RUNTIME_IMAGE) cannot run its adapter: Docker needs an image mapped to it. */
  notInRuntimeImage?: true;
  /** Where the workspace's config files are mounted (C197: /configs on every runtime). */
  configBasePath: string;
  /** Concerns the runtime owns natively (C030); the heartbeat declares them. */
  capabilities: readonly RuntimeCapability[];
  /** Seconds it may stay provisioning unless its template or the operator says otherwise (C165). */
  provisionTimeoutSeconds: number;
  /** Secrets it cannot run without (any of the list's entries, each one required). */
  requiredEnv: readonly string[];
  /** One line for docs and the canvas. */
  description: string;
}

const CONFIGS = '/configs';
const DEFAULT_TIMEOUT = 600;

export const RUNTIME_REGISTRY = {
  molecule: {
    adapter: 'molecule',
    configBasePath: CONFIGS,
    capabilities: [],
    provisionTimeoutSeconds: DEFAULT_TIMEOUT,
    requiredEnv: [],
    description: "molecule-agent with the adapter its config.yaml names (echo, script, openai, anthropic)",
  },
  external: {
    adapter: null,
    external: true,
    configBasePath: CONFIGS,
    capabilities: [],
    provisionTimeoutSeconds: DEFAULT_TIMEOUT,
    requiredEnv: [],
    description: 'an agent its operator runs elsewhere; the platform starts nothing',
  },
  langgraph: {
    adapter: 'langgraph',
    configBasePath: CONFIGS,
    capabilities: [],
    provisionTimeoutSeconds: DEFAULT_TIMEOUT,
    requiredEnv: [],
    description: "a LangGraph.js graph exported by a module in the workspace's configs",
  },
  'claude-code': {
    adapter: 'claude-code',
    // The runtime image is one bundled file without the SDK's per-platform Claude Code binary.
    notInRuntimeImage: true,
    configBasePath: CONFIGS,
    capabilities: ['session'],
    provisionTimeoutSeconds: DEFAULT_TIMEOUT,
    requiredEnv: ['ANTHROPIC_API_KEY'],
    description: 'Claude Code through the Claude Agent SDK, a session per A2A context',
  },
  openclaw: {
    adapter: null,
    configBasePath: CONFIGS,
    capabilities: [],
    provisionTimeoutSeconds: DEFAULT_TIMEOUT,
    requiredEnv: [],
    description: 'upstream OpenClaw template image (Docker or control plane only)',
  },
  crewai: {
    adapter: null,
    configBasePath: CONFIGS,
    capabilities: [],
    provisionTimeoutSeconds: DEFAULT_TIMEOUT,
    requiredEnv: [],
    description: 'upstream CrewAI template image (Docker or control plane only)',
  },
  autogen: {
    adapter: null,
    configBasePath: CONFIGS,
    capabilities: [],
    provisionTimeoutSeconds: DEFAULT_TIMEOUT,
    requiredEnv: [],
    description: 'upstream AutoGen template image (Docker or control plane only)',
  },
  deepagents: {
    adapter: null,
    configBasePath: CONFIGS,
    capabilities: [],
    provisionTimeoutSeconds: DEFAULT_TIMEOUT,
    requiredEnv: [],
    description: 'upstream Deep Agents template image (Docker or control plane only)',
  },
  hermes: {
    adapter: null,
    configBasePath: CONFIGS,
    capabilities: [],
    provisionTimeoutSeconds: 1800,
    requiredEnv: [],
    description: 'upstream Hermes template image (Docker or control plane only); slow to start',
  },
  codex: {
    adapter: 'codex',
    // The runtime image is one bundled file without @openai/codex's per-platform binary.
    notInRuntimeImage: true,
    configBasePath: CONFIGS,
    capabilities: ['session'],
    provisionTimeoutSeconds: DEFAULT_TIMEOUT,
    requiredEnv: ['OPENAI_API_KEY'],
    description: 'OpenAI Codex through the Codex SDK, a thread per A2A context',
  },
  'gemini-cli': {
    adapter: 'acp',
    configBasePath: CONFIGS,
    capabilities: [],
    provisionTimeoutSeconds: DEFAULT_TIMEOUT,
    requiredEnv: [],
    description: 'Gemini CLI driven over the Agent Client Protocol (the acp adapter, template gemini-cli)',
  },
  'openai-agents': {
    adapter: 'openai-agents',
    configBasePath: CONFIGS,
    capabilities: [],
    provisionTimeoutSeconds: DEFAULT_TIMEOUT,
    requiredEnv: ['OPENAI_API_KEY'],
    description: 'an OpenAI Agents SDK agent defined in the template',
  },
} as const satisfies Record<string, RuntimeSpec>;

export type RuntimeName = keyof typeof RUNTIME_REGISTRY;

/** The runtimes' names, in table order (RUNTIMES is this list). */
export const RUNTIME_NAMES = Object.keys(RUNTIME_REGISTRY) as [RuntimeName, ...RuntimeName[]];

/** The registry entry of a runtime name, or undefined for a name it does not know. */
export function runtimeSpec(name: string): RuntimeSpec | undefined {
  return Object.hasOwn(RUNTIME_REGISTRY, name) ? (RUNTIME_REGISTRY as Record<string, RuntimeSpec>)[name] : undefined;
}

/** The env name that maps a runtime to a Docker image: `WORKSPACE_IMAGE_LANGGRAPH`, `WORKSPACE_IMAGE_CLAUDE_CODE`. */
export function runtimeImageEnv(name: string): string {
  return `WORKSPACE_IMAGE_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** `GET /runtimes`: one runtime and what the platform's backend can do with it. */
export const RuntimeSupportView = z.object({
  name: z.enum(RUNTIME_NAMES),
  runnable: z.boolean(),
  runs_with: z.string().optional(),
  reason: z.string().optional(),
  required_env: z.array(z.string()).readonly(),
  description: z.string(),
});
export type RuntimeSupportView = z.infer<typeof RuntimeSupportView>;
