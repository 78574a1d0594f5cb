#!/usr/bin/env node
import { mkdir } from 'node:fs/promises';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { destination } from 'pino';
import { BRIDGE_HEARTBEAT_INTERVAL_MS, BridgeConfigError, bridgeHeartbeat, bridgeRegisterBody, bridgeServer, InboxClient, loadBridgeConfig } from './mcp-bridge.js';
import { createLogger } from './log.js';
import { PlatformClient } from './platform.js';
import { AgentSocketClient } from './agent-socket-client.js';
import { PushedInbox } from './mcp-pushed-inbox.js';
import { McpPlatformTools } from './platform-tools.js';

/** Exit codes: 2 for a bad environment, 3 when the platform refuses the workspace (upstream's). */
const EXIT_BAD_ENV = 2;
const EXIT_REFUSED = 3;

/**
 * `molecule-mcp`: the stdio MCP server a CLI agent (Claude Code, Codex...) launches to join a
 * Molecule org as an external workspace. stdout is the MCP channel: every log line goes to stderr.
 */
async function main(): Promise<void> {
  let cfg;
  try {
    cfg = loadBridgeConfig(process.env);
  } catch (err) {
    if (err instanceof BridgeConfigError) {
      process.stderr.write(`molecule-mcp: ${err.message}\nSet WORKSPACE_ID, PLATFORM_URL and MOLECULE_WORKSPACE_TOKEN (from the workspace's connect dialog) and start it again.\n`);
      process.exit(EXIT_BAD_ENV);
    }
    throw err;
  }
  const log = createLogger({ level: cfg.logLevel, destination: destination({ fd: 2, sync: true }) }).child({ name: 'molecule-mcp', workspace_id: cfg.workspaceId });
  // C036: every request names the platform as its Origin.
  const headers = { origin: cfg.platformUrl };
  const startedAt = Date.now();

  let registry: PlatformClient | undefined;
  if (cfg.registerAndBeat) {
    await mkdir(cfg.configsDir, { recursive: true, mode: 0o700 });
    registry = new PlatformClient({
      platformUrl: cfg.platformUrl,
      workspaceId: cfg.workspaceId,
      configsDir: cfg.configsDir,
      token: cfg.token,
      tokenSource: 'env',
      registerBody: () => bridgeRegisterBody(cfg),
      heartbeatBody: () => bridgeHeartbeat(cfg, startedAt),
      heartbeatIntervalMs: BRIDGE_HEARTBEAT_INTERVAL_MS,
      headers,
      log,
      onRegisterResult: (r) => {
        if (r.state === 'registered') return;
        const why =
          r.status === 401 || r.status === 403
            ? "the platform refused this workspace's token: it is wrong or was revoked. Mint a new one for the workspace (canvas: Tokens, or POST /workspaces/:id/tokens) and set MOLECULE_WORKSPACE_TOKEN"
            : r.status === 404 || r.status === 410
              ? 'the platform does not know this workspace (wrong WORKSPACE_ID, or it was removed)'
              : `the platform refused the registration${r.error ? `: ${r.error}` : ''}`;
        process.stderr.write(`molecule-mcp: cannot join workspace ${cfg.workspaceId} (HTTP ${r.status}): ${why}.\n`);
        process.exit(EXIT_REFUSED);
      },
    });
  }
  const tools = new McpPlatformTools({ platformUrl: cfg.platformUrl, workspaceId: cfg.workspaceId, token: registry?.tokens ?? { current: () => cfg.token, reload: async () => false }, log, headers, clientName: 'molecule-mcp' });
  // No inbox (MOLECULE_MCP_INBOX=0) for an agent the platform runs: its messages come over A2A.
  const polled = cfg.inbox ? new InboxClient({ platformUrl: cfg.platformUrl, workspaceId: cfg.workspaceId, token: () => registry?.tokens.current() ?? cfg.token, headers }) : undefined;
  // Pushes over an outbound socket when it is up; the poll inbox still serves what arrived while it was down.
  const pushed = polled && cfg.socket ? new PushedInbox(polled) : undefined;
  const socket =
    pushed &&
    new AgentSocketClient({
      platformUrl: cfg.platformUrl,
      workspaceId: cfg.workspaceId,
      token: () => registry?.tokens.current() ?? cfg.token,
      log,
      handle: (request, meta) => pushed.push(request, meta),
    });
  const server = bridgeServer({ tools, inbox: pushed ?? polled, log, workspaceId: cfg.workspaceId });

  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'molecule-mcp stopping');
    socket?.stop();
    await Promise.allSettled([registry?.stop(), tools.close(), server.close()]);
    process.exit(0);
  };
  // The host closes stdin (or signals) when it is done with us.
  process.stdin.once('end', () => void stop('stdin closed'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  await server.connect(new StdioServerTransport());
  registry?.start();
  socket?.start();
  log.info({ platform_url: cfg.platformUrl, heartbeat: cfg.registerAndBeat }, 'molecule-mcp serving MCP on stdio');
}

await main();
