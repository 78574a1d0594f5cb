import { homedir, networkInterfaces } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { DefaultRequestHandler, InMemoryTaskStore } from '@a2a-js/sdk/server';
import { buildA2AApp } from './a2a-server.js';
import { AgentSocketClient } from './agent-socket-client.js';
import { createAdapter, type Adapter } from './adapters/index.js';
import { buildAgentCard } from './card.js';
import { DEDUPE_JOURNAL_FILE, MessageDedupe } from './dedupe.js';
import type { AgentConfig } from './config.js';
import { AdapterExecutor } from './executor.js';
import { buildHeartbeat } from './heartbeat.js';
import { registerInternalFiles } from './internal-files.js';
import { createLogger, type Logger } from './log.js';
import { PlatformClient } from './platform.js';
import { loadPlugins, PluginAdapter, withPluginSkills } from './plugins.js';
import { McpPlatformTools, type PlatformTools } from './platform-tools.js';
import { TaskTracker } from './tasks.js';

export interface StartAgentOptions {
  config: AgentConfig;
  logger?: Logger;
  /** Overrides the configured adapter (tests, embedding). */
  adapter?: Adapter;
  /** Overrides config.heartbeatIntervalMs (tests). */
  heartbeatIntervalMs?: number;
  registerBackoff?: { initialMs: number; maxMs: number };
  requestTimeoutMs?: number;
  busyRetryAfterMs?: number;
}

export interface RunningAgent {
  /** The URL the agent advertises (card, register). */
  url: string;
  port: number;
  /** The agent card as served now (plugins change its skills). */
  readonly card: Record<string, unknown>;
  tracker: TaskTracker;
  /** Loads the installed plugins again: their commands answer from the next message, their skills are on the card (and sent to the platform). */
  reloadPlugins(): Promise<string[]>;
  /** Absent when no PLATFORM_URL is configured (standalone). */
  platform: PlatformClient | undefined;
  /** The outbound socket to the platform (`--connect`); absent otherwise. */
  socket: AgentSocketClient | undefined;
  /** The platform tools the adapter gets; absent when standalone. */
  tools: PlatformTools | undefined;
  /**
   * Stops registering/heartbeating, refuses new requests (503), waits up to `graceMs` for running
   * tasks, cancels the rest, and closes the server.
   */
  close(opts?: { graceMs?: number }): Promise<void>;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

/** The messageId of a pushed send request, if it has one. */
function pushedMessageId(request: unknown): string | undefined {
  const params = (request as { params?: { message?: { messageId?: unknown } } } | null)?.params;
  const id = params?.message?.messageId;
  return typeof id === 'string' ? id : undefined;
}

/** The URL peers use: MOLECULE_WORKSPACE_URL, else the bound host, else (wildcard) this machine's first external IPv4. */
export function advertisedUrl(config: AgentConfig, port: number): string {
  if (config.publicUrl) return config.publicUrl;
  let host = config.host;
  if (WILDCARD_HOSTS.has(host)) {
    const ipv4 = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    host = ipv4?.address ?? '127.0.0.1';
  }
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `http://${host}:${port}`;
}

/**
 * Starts one agent: adapter, task tracker, A2A server listening on config.host:config.port (0 picks
 * a free port), and, when a platform is configured, registration and heartbeats in the background.
 * Resolves once the server listens; a listen error (port in use) rejects.
 */
export async function startAgent(opts: StartAgentOptions): Promise<RunningAgent> {
  const { config } = opts;
  const log = (opts.logger ?? createLogger({ level: config.logLevel })).child({ workspace_id: config.workspaceId });
  const adapter = new PluginAdapter(opts.adapter ?? (await createAdapter({ ...config, log })));
  let plugins = await loadPlugins(config.configsDir, log);
  adapter.set(plugins);
  const tracker = new TaskTracker(config.workspace.max_concurrent_tasks);
  // Tool uses are reported to the platform; a standalone agent (no platform client) reports nothing
  // and its adapter gets no platform tools.
  let platform: PlatformClient | undefined;
  let tools: McpPlatformTools | undefined;
  let socket: AgentSocketClient | undefined;
  const executor = new AdapterExecutor(adapter, tracker, log, { onToolUse: (use) => void platform?.reportToolUse(use), tools: () => tools });
  const startedAt = Date.now();

  // The card carries the agent's URL, known only once it listens: until then the routes answer 503.
  const live: { current?: { handler: DefaultRequestHandler; card: Record<string, unknown> } } = {};
  // Answered messageIds survive a restart in the configs dir, which persists across restarts.
  const dedupe = await MessageDedupe.open(path.join(config.configsDir, DEDUPE_JOURNAL_FILE), log);
  const app = buildA2AApp({
    log,
    tracker,
    dedupe,
    current: () => live.current,
    busyRetryAfterMs: opts.busyRetryAfterMs,
    health: () => ({ workspace_id: config.workspaceId ?? null, adapter: adapter.name, max_concurrent_tasks: tracker.maxConcurrent }),
  });
  await registerInternalFiles(app, {
    configsDir: config.configsDir,
    workspaceDir: config.workspaceDir,
    readRoots: config.fileReadRoots,
    virtualRoots: [
      { virtual: '/configs', real: config.configsDir },
      { virtual: '/workspace', real: config.workspaceDir },
    ],
    log,
    fileRoots: [
      { virtual: '/configs', real: config.configsDir },
      { virtual: '/workspace', real: config.workspaceDir },
      { virtual: '/home', real: process.env.HOME ?? homedir() },
    ],
    reloadPlugins: () => reloadPlugins(),
    terminal: { cwd: config.workspaceDir, env: config.terminal.env, idleMs: config.terminal.idleMs, log },
  });
  await app.listen({ host: config.host, port: config.port });
  const port = (app.server.address() as AddressInfo).port;
  const url = advertisedUrl(config, port);
  // Tasks outlive a card change (plugins reloaded): one store for every handler.
  const taskStore = new InMemoryTaskStore();
  const serve = () => {
    const card = buildAgentCard({ ...config.workspace, skills: withPluginSkills(config.workspace.skills, plugins) }, url);
    live.current = { handler: new DefaultRequestHandler(card.core, taskStore, executor), card: card.json };
    return card.json;
  };
  serve();
  const currentCard = () => live.current!.card;
  let reloading: Promise<string[]> = Promise.resolve([]);
  const reloadPlugins = () =>
    (reloading = reloading.then(async () => {
      plugins = await loadPlugins(config.configsDir, log);
      adapter.set(plugins);
      const card = serve();
      log.info({ plugins: plugins.map((p) => p.name) }, 'plugins loaded');
      await platform?.updateCard(card);
      return plugins.map((p) => p.name);
    }));

  if (config.platformUrl && config.workspaceId && config.token) {
    const workspaceId = config.workspaceId;
    platform = new PlatformClient({
      platformUrl: config.platformUrl,
      workspaceId,
      configsDir: config.configsDir,
      token: config.token,
      tokenSource: config.tokenSource,
      // Connected agents need no reachable URL: they register as poll and are pushed over their socket.
      registerBody: () => (config.connect ? { id: workspaceId, url: '', agent_card: currentCard(), delivery_mode: 'poll' } : { id: workspaceId, url, agent_card: currentCard(), delivery_mode: 'push' }),
      heartbeatBody: () => buildHeartbeat({ workspaceId, tracker, startedAt, adapter, workspace: config.workspace, log }),
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? config.heartbeatIntervalMs,
      registerBackoff: opts.registerBackoff,
      requestTimeoutMs: opts.requestTimeoutMs,
      log,
    });
    platform.start();
    if (config.connect) {
      const client = platform;
      const local = `http://${WILDCARD_HOSTS.has(config.host) ? '127.0.0.1' : config.host.includes(':') && !config.host.startsWith('[') ? `[${config.host}]` : config.host}:${port}/`;
      socket = new AgentSocketClient({
        platformUrl: config.platformUrl,
        workspaceId,
        token: () => client.tokens.current(),
        log,
        // Each pushed request goes through this agent's own A2A server, as if it came over HTTP.
        // When the platform gives up on it, the task it started is cancelled (the adapter's signal aborts).
        handle: async (request, { signal }) => {
          const messageId = pushedMessageId(request);
          const onCancel = () => {
            if (messageId !== undefined) executor.cancelMessage(messageId, 'The platform cancelled the request.');
          };
          signal.addEventListener('abort', onCancel, { once: true });
          const res = await fetch(local, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(request) }).finally(() =>
            signal.removeEventListener('abort', onCancel),
          );
          const text = await res.text();
          return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
        },
      });
      socket.start();
    }
    tools = new McpPlatformTools({ platformUrl: config.platformUrl, workspaceId, token: platform.tokens, log });
  } else {
    log.info('no PLATFORM_URL: running standalone (no register, no heartbeat)');
  }
  if (!config.configFileFound) log.warn({ configs_dir: config.configsDir }, 'no config.yaml in the configs dir: running with defaults (echo adapter)');
  log.info(
    { url, adapter: adapter.name, plugins: plugins.map((p) => p.name), max_concurrent_tasks: tracker.maxConcurrent, platform_url: config.platformUrl ?? null, config_file: config.configFileFound },
    'molecule-agent listening',
  );

  let closing: Promise<void> | undefined;
  const close = (closeOpts: { graceMs?: number } = {}) =>
    (closing ??= (async () => {
      socket?.stop();
      await platform?.stop();
      const serverClosed = app.close();
      if (!(await tracker.waitIdle(closeOpts.graceMs ?? 10_000))) {
        log.warn({ in_flight: tracker.inFlight }, 'shutdown grace elapsed; canceling running tasks');
        executor.abortAll('The agent is shutting down.');
        // Adapters see the abort at their next await; give them a moment to unwind.
        await tracker.waitIdle(2000);
      }
      // Streams of canceled tasks end on their own; anything still open after that is cut.
      const cut = setTimeout(() => app.server.closeAllConnections(), 1000);
      await serverClosed;
      clearTimeout(cut);
      await adapter.close?.();
      await tools?.close();
      await dedupe.flush();
      log.info('molecule-agent stopped');
    })());

  return {
    url,
    port,
    get card() {
      return currentCard();
    },
    tracker,
    platform,
    get socket() {
      return socket;
    },
    tools,
    reloadPlugins,
    close,
  };
}
