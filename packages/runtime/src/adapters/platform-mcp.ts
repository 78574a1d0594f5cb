import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';

/** The molecule-mcp stdio server, built next to this file's package (dist/). */
export const MCP_BIN = fileURLToPath(new URL('../../dist/mcp-main.js', import.meta.url));

/** What an adapter needs to offer an agent process the platform tools through molecule-mcp. */
export interface PlatformMcpOptions {
  configsDir: string;
  platformUrl: string | undefined;
  workspaceId: string | undefined;
  /** The workspace bearer molecule-mcp (the platform tools' MCP server) uses. */
  token: string | undefined;
  log: Logger;
  /** The molecule-mcp script offered to the agent (default: the one built beside this package). */
  mcpBin?: string;
}

/** How to launch molecule-mcp as a stdio MCP server for an agent process. */
export interface PlatformMcpLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * molecule-mcp's launch line for `who` (an ACP agent, Codex), or undefined when the agent has no
 * platform. Fail-open: without molecule-mcp beside molecule-agent (the single-file image bundles
 * molecule-agent only) the agent still answers, without the platform tools; logged.
 */
export async function platformMcp(opts: PlatformMcpOptions, who: string): Promise<PlatformMcpLaunch | undefined> {
  const { platformUrl, workspaceId, token } = opts;
  if (!platformUrl || !workspaceId || !token) return undefined;
  const bin = opts.mcpBin ?? MCP_BIN;
  try {
    await access(bin);
  } catch {
    opts.log.warn({ mcp_bin: bin }, `molecule-mcp is not installed beside molecule-agent: ${who} gets no platform tools`);
    return undefined;
  }
  // The platform's tools only: molecule-agent registers and beats for the workspace, and its
  // messages come over A2A, so molecule-mcp neither heartbeats nor offers an inbox.
  const env = { PLATFORM_URL: platformUrl, WORKSPACE_ID: workspaceId, MOLECULE_WORKSPACE_TOKEN: token, MOLECULE_MCP_DISABLE_HEARTBEAT: '1', MOLECULE_MCP_INBOX: '0', CONFIGS_DIR: opts.configsDir };
  return { command: process.execPath, args: [bin], env };
}
