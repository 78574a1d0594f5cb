import { containerName } from './names.js';

/** The port the agent listens on inside its own network namespace (bridge and user networks). */
export const AGENT_PORT = 8000;
/** The name a bridge-network container reaches the host by (Docker's host-gateway). */
export const HOST_GATEWAY_NAME = 'host.docker.internal';

export interface NetworkPlan {
  /** HostConfig.NetworkMode. */
  networkMode: string;
  /** NetworkingConfig for a user network: the container's name as an alias there. */
  endpoints?: Record<string, { Aliases: string[] }>;
  portBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
  extraHosts?: string[];
  /** HOST, PORT and MOLECULE_WORKSPACE_URL for the agent; PLATFORM_URL when it had to change. */
  env: Record<string, string>;
  /** The URL the platform reaches the agent at (the agent registers the same one). */
  url: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * How a workspace container is wired, one pure answer per network mode:
 * - `host`: the host's network; the agent listens on 127.0.0.1:<hostPort>, a free port chosen for it.
 * - `bridge` (Docker's default network, no name resolution): the agent listens on 0.0.0.0:8000,
 *   published on 127.0.0.1:<hostPort>; a loopback platform URL is rewritten to the host gateway, so
 *   the platform must listen where the bridge reaches it (HOST=0.0.0.0 or the bridge address).
 * - any other name, a user network shared with the platform: the agent listens on 0.0.0.0:8000 and
 *   is reached by its container name, `http://ws-<id>:8000`.
 */
export function networkPlan(network: string, workspaceId: string, hostPort: number, platformUrl: string): NetworkPlan {
  if (network === 'host') {
    const url = `http://127.0.0.1:${hostPort}`;
    return { networkMode: 'host', env: { HOST: '127.0.0.1', PORT: String(hostPort), MOLECULE_WORKSPACE_URL: url }, url };
  }
  if (network === 'bridge') {
    const url = `http://127.0.0.1:${hostPort}`;
    const platform = new URL(platformUrl);
    const rewrite = LOOPBACK.has(platform.hostname);
    if (rewrite) platform.hostname = HOST_GATEWAY_NAME;
    return {
      networkMode: 'bridge',
      portBindings: { [`${AGENT_PORT}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] },
      extraHosts: [`${HOST_GATEWAY_NAME}:host-gateway`],
      env: {
        HOST: '0.0.0.0',
        PORT: String(AGENT_PORT),
        MOLECULE_WORKSPACE_URL: url,
        ...(rewrite ? { PLATFORM_URL: platform.toString().replace(/\/$/, '') } : {}),
      },
      url,
    };
  }
  const url = `http://${containerName(workspaceId)}:${AGENT_PORT}`;
  return {
    networkMode: network,
    endpoints: { [network]: { Aliases: [containerName(workspaceId)] } },
    env: { HOST: '0.0.0.0', PORT: String(AGENT_PORT), MOLECULE_WORKSPACE_URL: url },
    url,
  };
}

/** dockerode's connection options for a DOCKER_HOST value (unix socket or TCP without TLS). */
export function dockerClientOptions(dockerHost: string): { socketPath: string } | { host: string; port: number; protocol: 'http' | 'https' } {
  const u = new URL(dockerHost);
  if (u.protocol === 'unix:') return { socketPath: decodeURIComponent(u.pathname) };
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  return { host: u.hostname, port: u.port ? Number(u.port) : protocol === 'https' ? 2376 : 2375, protocol };
}
