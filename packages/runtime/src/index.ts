/**
 * `@molecule/runtime`: what runs inside a workspace. `molecule-agent` (dist/main.js) is the CLI;
 * these exports start the same agent programmatically (tests, embedding).
 */
export { AgentSocketClient, agentSocketUrl, backoffDelay, type AgentSocketClientOptions, type AgentSocketHandler } from './agent-socket-client.js';
export { startAgent, advertisedUrl, type RunningAgent, type StartAgentOptions } from './agent.js';
export {
  loadConfig,
  ConfigError,
  ADAPTER_NAMES,
  AUTH_TOKEN_FILE,
  INBOUND_SECRET_FILE,
  CONFIG_FILE,
  type AgentConfig,
  type WorkspaceConfig,
  type AdapterName,
  type ConfigIssue,
} from './config.js';
export { A2A_BUSY_CODE, DEFAULT_BUSY_RETRY_AFTER_MS, busyResponse } from './a2a-server.js';
export { createAdapter, type Adapter, type AdapterInput, type AdapterContext, type AdapterEvent } from './adapters/index.js';
export { buildAgentCard } from './card.js';
export { PlatformClient, type RegisterState } from './platform.js';
export {
  McpPlatformTools,
  PlatformToolsError,
  type PlatformTools,
  type PlatformToolInfo,
  type PlatformToolResult,
  type TokenSource,
} from './platform-tools.js';
export { delegateTo, resolvePeer, DelegationError, type Peer } from './delegate.js';
export { TaskTracker, type TaskSnapshot } from './tasks.js';
export { createLogger, type Logger } from './log.js';
