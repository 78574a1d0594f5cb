import { homedir } from 'node:os';
import path from 'node:path';
import { DEFAULT_RUNTIME, LOG_LEVELS, runtimeSpec, type LogLevel } from '@molecule/contracts';
import { z } from 'zod';
import {
  ADAPTER_NAMES,
  CONFIG_FILE,
  FILE_DEFAULTS,
  loadWorkspaceFile,
  readOptional,
  type AdapterName,
  type ConfigIssue,
  type FileConfig,
  type WorkspaceConfig,
} from './config-file.js';
import { shellEnv } from './pty.js';

export {
  ADAPTER_CHOICES,
  ADAPTER_NAMES,
  CONFIG_FILE,
  DEFAULT_MODELS,
  parseScript,
  type AdapterName,
  type ConfigIssue,
  type ScriptDelegate,
  type ScriptRule,
  type ScriptStep,
  type ScriptTool,
  type SkillConfig,
  type WorkspaceConfig,
} from './config-file.js';

/** What `molecule-agent` reads from its environment, composed with `config.yaml` (config-file.ts) into one AgentConfig. */

/** Every default: the environment's, then config.yaml's. */
export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  configsDir: '/configs',
  workspaceDir: '/workspace',
  /** C014: the in-container runtime beats well inside the platform's liveness window. */
  heartbeatIntervalSeconds: 20,
  /**
   * A backstop for a platform that vanished without closing the socket: the platform's own idle
   * limit (MOLECULE_TERMINAL_IDLE_MS there, at most 24 h) always closes a quiet terminal first.
   */
  terminalIdleMs: 24 * 3600_000,
  logLevel: 'info' as LogLevel,
  ...FILE_DEFAULTS,
} as const;

export { LOG_LEVELS, type LogLevel };

export const AUTH_TOKEN_FILE = '.auth_token';
export const INBOUND_SECRET_FILE = '.platform_inbound_secret';

/** Credentials and endpoints of the LLM adapters, from the environment. */
export interface LlmEnv {
  openaiApiKey: string | undefined;
  openaiBaseUrl: string | undefined;
  anthropicApiKey: string | undefined;
  anthropicBaseUrl: string | undefined;
}

/** Everything `molecule-agent` reads at boot, resolved once. */
export interface AgentConfig {
  /** Required when a platform is configured; optional for a standalone agent. */
  workspaceId: string | undefined;
  /** Without it the agent runs standalone: it serves A2A but never registers. */
  platformUrl: string | undefined;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * `--connect` or MOLECULE_CONNECT=1: the agent registers with no URL (poll mode) and takes its
   * requests over an outbound socket to the platform (#15), so it needs no reachable address.
   */
  connect: boolean;
  /** MOLECULE_WORKSPACE_URL: the URL to advertise verbatim (a tunnel, a container name). */
  publicUrl: string | undefined;
  token: string | undefined;
  /** Where the token came from; a file-sourced token is re-read after a 401. */
  tokenSource: 'env' | 'file' | 'none';
  parentId: string | undefined;
  configsDir: string;
  workspaceDir: string;
  /** Roots the platform may read files from (`GET /internal/file/read`); default configs + workspace dirs. */
  fileReadRoots: string[];
  heartbeatIntervalMs: number;
  /** `GET /internal/terminal`: the idle limit (MOLECULE_TERMINAL_IDLE_MS) and the shell's whole environment (pty.ts `shellEnv`). */
  terminal: { idleMs: number; env: Record<string, string> };
  logLevel: LogLevel;
  llm: LlmEnv;
  workspace: WorkspaceConfig;
  /** False when config.yaml was missing and defaults were used. */
  configFileFound: boolean;
}

/** A startup error that names every bad field; `molecule-agent` prints it and exits 2. */
export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid molecule-agent configuration:\n${issues.map((i) => `  - ${i.field}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads the workspace token: the env var wins, then `<configs dir>/.auth_token`. */
export async function readToken(
  env: Env,
  configsDir: string,
): Promise<{ token: string | undefined; source: AgentConfig['tokenSource'] }> {
  const fromEnv = env.MOLECULE_WORKSPACE_TOKEN?.trim();
  if (fromEnv) return { token: fromEnv, source: 'env' };
  const fromFile = (await readOptional(path.join(configsDir, AUTH_TOKEN_FILE)))?.trim();
  return fromFile ? { token: fromFile, source: 'file' } : { token: undefined, source: 'none' };
}

/**
 * Reads every setting `molecule-agent` uses, once: the environment plus `config.yaml` in the configs
 * dir. A missing config.yaml means defaults (the echo adapter). Every bad value is collected and
 * thrown as one {@link ConfigError} naming each field: the agent refuses to start half-configured.
 */
export async function loadConfig(env: Env = process.env): Promise<AgentConfig> {
  const issues: ConfigIssue[] = [];
  const bad = (field: string, message: string) => issues.push({ field, message });
  const str = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const uuid = (name: string): string | undefined => {
    const v = str(name);
    if (v !== undefined && !z.uuid().safeParse(v).success) bad(name, `must be a UUID (got ${JSON.stringify(v)})`);
    return v;
  };
  const httpUrl = (name: string): string | undefined => {
    const v = str(name);
    if (v === undefined) return undefined;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      bad(name, `must be an http(s) URL (got ${JSON.stringify(v)})`);
      return undefined;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      bad(name, `must be an http(s) URL (got ${JSON.stringify(v)})`);
      return undefined;
    }
    return v.replace(/\/+$/, '');
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = str(name);
    if (v === undefined) return def;
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      bad(name, `must be a whole number from ${min} to ${max} (got ${JSON.stringify(v)})`);
      return def;
    }
    return n;
  };

  const platformUrl = httpUrl('PLATFORM_URL');
  const workspaceId = uuid('WORKSPACE_ID');
  if (platformUrl && workspaceId === undefined) bad('WORKSPACE_ID', 'is required when PLATFORM_URL is set');
  const parentId = uuid('PARENT_ID');
  const port = int('PORT', DEFAULTS.port, 0, 65535);
  const host = str('HOST') ?? DEFAULTS.host;
  const publicUrl = httpUrl('MOLECULE_WORKSPACE_URL');
  const rawConnect = str('MOLECULE_CONNECT') ?? '0';
  if (!['0', '1', 'true', 'false'].includes(rawConnect)) bad('MOLECULE_CONNECT', `must be 1 or 0 (got ${JSON.stringify(rawConnect)})`);
  const connect = rawConnect === '1' || rawConnect === 'true';
  if (connect && !platformUrl) bad('MOLECULE_CONNECT', 'needs PLATFORM_URL (the platform the agent connects to)');
  const heartbeatIntervalMs = int('MOLECULE_HEARTBEAT_INTERVAL_SECONDS', DEFAULTS.heartbeatIntervalSeconds, 1, 3600) * 1000;
  const configsDir = path.resolve(str('MOLECULE_CONFIGS_DIR') ?? DEFAULTS.configsDir);
  const workspaceDir = path.resolve(str('MOLECULE_WORKSPACE_DIR') ?? DEFAULTS.workspaceDir);
  const fileReadRoots = (str('MOLECULE_FILE_READ_ROOTS')?.split(':').filter(Boolean) ?? [configsDir, workspaceDir]).map((r) => {
    if (!path.isAbsolute(r)) bad('MOLECULE_FILE_READ_ROOTS', `must be absolute paths separated by ':' (got ${JSON.stringify(r)})`);
    return path.resolve(r);
  });
  const terminal = {
    idleMs: int('MOLECULE_TERMINAL_IDLE_MS', DEFAULTS.terminalIdleMs, 1000, DEFAULTS.terminalIdleMs),
    env: shellEnv({ home: str('HOME') ?? homedir(), configsDir, workspaceDir, workspaceId }, env),
  };
  const rawLevel = str('LOG_LEVEL') ?? DEFAULTS.logLevel;
  const logLevel = (LOG_LEVELS as readonly string[]).includes(rawLevel) ? (rawLevel as LogLevel) : DEFAULTS.logLevel;
  if (logLevel !== rawLevel) bad('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(rawLevel)})`);

  let token: string | undefined;
  let tokenSource: AgentConfig['tokenSource'] = 'none';
  try {
    ({ token, source: tokenSource } = await readToken(env, configsDir));
    if (platformUrl && token === undefined) {
      bad('MOLECULE_WORKSPACE_TOKEN', `is required when PLATFORM_URL is set (or write the token to ${path.join(configsDir, AUTH_TOKEN_FILE)})`);
    }
  } catch (err) {
    bad(path.join(configsDir, AUTH_TOKEN_FILE), `cannot be read (${(err as Error).message})`);
  }

  const llm: LlmEnv = {
    openaiApiKey: str('OPENAI_API_KEY'),
    openaiBaseUrl: httpUrl('OPENAI_BASE_URL'),
    anthropicApiKey: str('ANTHROPIC_API_KEY'),
    anthropicBaseUrl: httpUrl('ANTHROPIC_BASE_URL'),
  };
  const { workspace: file, found } = await loadWorkspaceFile(configsDir, str('MODEL'), issues);
  // The platform passes the workspace row's task slots: they win over config.yaml, so both count the same.
  const slots = str('MOLECULE_MAX_CONCURRENT_TASKS') === undefined ? undefined : int('MOLECULE_MAX_CONCURRENT_TASKS', 1, 1, 1000);
  const workspace: WorkspaceConfig | undefined = file && {
    ...file,
    adapter: runtimeAdapter(str('MOLECULE_RUNTIME'), str, issues) ?? resolveAdapter(file, llm, issues),
    ...(slots !== undefined ? { max_concurrent_tasks: slots } : {}),
  };

  if (issues.length > 0 || !workspace) throw new ConfigError(issues);
  return {
    workspaceId,
    platformUrl,
    host,
    port,
    connect,
    publicUrl,
    token,
    tokenSource,
    parentId,
    configsDir,
    workspaceDir,
    fileReadRoots,
    heartbeatIntervalMs,
    terminal,
    logLevel,
    llm,
    workspace,
    configFileFound: found,
  };
}

/**
 * The adapter the platform's runtime name selects (MOLECULE_RUNTIME, issue #16): a runtime with an
 * adapter of its own runs that one whatever config.yaml says, so no runtime name comes online as
 * something else; `molecule` (or no runtime) leaves the choice to config.yaml. A runtime this agent
 * cannot run is a config issue: the agent refuses to start, naming it.
 */
function runtimeAdapter(runtime: string | undefined, str: (name: string) => string | undefined, issues: ConfigIssue[]): AdapterName | undefined {
  if (runtime === undefined || runtime === DEFAULT_RUNTIME) return undefined;
  const spec = runtimeSpec(runtime);
  if (!spec) {
    issues.push({ field: 'MOLECULE_RUNTIME', message: `names an unknown runtime (got ${JSON.stringify(runtime.slice(0, 64))})` });
    return undefined;
  }
  if (!spec.adapter || spec.external) {
    issues.push({ field: 'MOLECULE_RUNTIME', message: `runtime "${runtime}" has no molecule-agent adapter: run it from an image that provides it` });
    return undefined;
  }
  if (!(ADAPTER_NAMES as readonly string[]).includes(spec.adapter)) {
    issues.push({ field: 'MOLECULE_RUNTIME', message: `runtime "${runtime}" needs the ${spec.adapter} adapter, which this molecule-agent does not include` });
    return undefined;
  }
  for (const key of spec.requiredEnv) if (!str(key)) issues.push({ field: key, message: `is required for the ${runtime} runtime` });
  return spec.adapter as AdapterName;
}

/**
 * Settles `auto` and checks an LLM adapter has what it needs: `auto` follows the model's provider
 * prefix, else the keys present (Anthropic first); openai needs a key or a base URL (keyless local
 * endpoints), anthropic a key.
 */
function resolveAdapter(ws: FileConfig, llm: LlmEnv, issues: ConfigIssue[]): AdapterName {
  let adapter = ws.adapter;
  const openaiReachable = Boolean(llm.openaiApiKey || llm.openaiBaseUrl || ws.base_url);
  if (adapter === 'auto') {
    if (ws.model?.startsWith('anthropic:')) adapter = 'anthropic';
    else if (ws.model?.startsWith('openai:')) adapter = 'openai';
    else if (llm.anthropicApiKey) adapter = 'anthropic';
    else if (openaiReachable) adapter = 'openai';
    else {
      issues.push({ field: `${CONFIG_FILE} adapter`, message: 'auto needs ANTHROPIC_API_KEY or OPENAI_API_KEY (or OPENAI_BASE_URL for a keyless endpoint)' });
      return 'echo';
    }
  }
  if ((adapter === 'openai' || adapter === 'openai-agents' || adapter === 'langgraph') && !openaiReachable) {
    issues.push({ field: 'OPENAI_API_KEY', message: `is required for the ${adapter} adapter (or set OPENAI_BASE_URL / base_url for a keyless OpenAI-compatible endpoint)` });
  }
  if (adapter === 'anthropic' && !llm.anthropicApiKey) issues.push({ field: 'ANTHROPIC_API_KEY', message: 'is required for the anthropic adapter' });
  return adapter;
}
