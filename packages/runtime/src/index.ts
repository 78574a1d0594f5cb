/**
 * Placeholder so the workspace builds: the agent runtime (A2A server, register + heartbeat,
 * adapters) and the external-agent bridge land here.
 */
export const RUNTIME_PACKAGE = '@molecule/runtime';
