import path from 'node:path';
import { DEFAULT_DATA_DIR, LOG_LEVELS, RUNTIME_NAMES, runtimeImageEnv, type LogLevel } from '@molecule/contracts';

export const PROVISIONER_BACKENDS = ['process', 'docker', 'controlplane', 'none'] as const;
export type ProvisionerBackend = (typeof PROVISIONER_BACKENDS)[number];
export const MOLECULE_ENVS = ['development', 'production'] as const;
export type MoleculeEnv = (typeof MOLECULE_ENVS)[number];
export { LOG_LEVELS, type LogLevel };

export interface Config {
  port: number;
  host: string;
  adminToken: string | undefined;
  /** SECRETS_ENCRYPTION_KEY: seals secret values (required in production; generated into the data dir in development). */
  secretsEncryptionKey: string | undefined;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  dataDir: string;
  env: MoleculeEnv;
  provisioner: ProvisionerBackend;
  gitSha: string;
  /** Public URL handed to external agents; derived from the request when unset. */
  externalPlatformUrl: string | undefined;
  /** Maximum request body in bytes; larger bodies get 413. */
  bodyLimitBytes: number;
  /** Org-token mints allowed per client IP per hour. */
  orgTokenMintPerHour: number;
  /** Canvas session lifetime in seconds. */
  sessionTtlSeconds: number;
  logLevel: LogLevel;
  /** How long a single-workspace read may be served from memory (0 disables the cache). */
  workspaceCacheTtlMs: number;
  /** The heartbeat write-behind tick (0 writes every beat before answering it). */
  heartbeatFlushMs: number;
  /** The A2A activity write-behind tick (MOLECULE_ACTIVITY_FLUSH_MS); 0 writes as each exchange ends. */
  activityFlushMs: number;
  /**
   * How long a queued message for a poll agent with no URL waits for the agent's socket to come
   * back before it is handed to the agent's poll inbox (MOLECULE_AGENT_SOCKET_GRACE_SECONDS).
   */
  agentSocketGraceSeconds: number;
  /** A workspace not heard from (register or heartbeat) for this long goes offline / awaiting_agent. */
  livenessTtlSeconds: number;
  /** The URL agents use to reach the platform; derived from the listen address when unset. */
  platformUrl: string | undefined;
  /** Where workspace templates live (folders holding config.yaml). */
  templatesDir: string | undefined;
  /** Where org templates live (`<dir>/org.yaml`); undefined: the repository's `org-templates/`. */
  orgTemplatesDir: string | undefined;
  /** The plugin registry (one folder per plugin, each with a plugin.yaml); undefined: the repository's `plugins/`. */
  pluginsDir: string | undefined;
  /** Folders a `file:///...` plugin source may point into (MOLECULE_PLUGIN_SOURCE_DIRS, `:`-separated); empty: no file sources. */
  pluginSourceDirs: string[];
  /** Whether git plugin sources may omit a tag or commit (PLUGIN_ALLOW_UNPINNED=true). */
  pluginAllowUnpinned: boolean;
  /** An external memory plugin (memory-plugin-v1); unset: the built-in store (C237, see `memoryOff`). */
  memoryPluginUrl: string | undefined;
  /** MEMORY_PLUGIN_URL=off: no memory at all (routes 501, tools say so); otherwise unset runs the built-in store. */
  memoryOff: boolean;
  /** The embedder memories and memory searches are embedded with (MEMORY_EMBEDDINGS_*); undefined: no embeddings. */
  memoryEmbeddings: MemoryEmbeddingsConfig | undefined;
  /** Concurrent provisions allowed (C123). */
  provisionConcurrency: number;
  /** When set, how long any workspace may stay provisioning (overrides the per-runtime defaults, C165). */
  provisionTimeoutSeconds: number | undefined;
  /** An A2A dispatch is cancelled after this long without any event from its target (C039, C041). */
  a2aIdleTimeoutSeconds: number;
  /** Activity rows older than this many days are purged (upstream ACTIVITY_RETENTION_DAYS). */
  activityRetentionDays: number;
  /** How often the activity purge runs. */
  activityCleanupIntervalHours: number;
  /** The control plane that runs instances when MOLECULE_PROVISIONER=controlplane. */
  controlPlaneUrl: string | undefined;
  /** Bearer token for the control plane's `/cp/workspaces` calls; never logged. */
  controlPlaneToken: string | undefined;
  /** This platform's org id, sent to the control plane as `org_id` when set. */
  orgId: string | undefined;
  /** The Docker engine the docker backend talks to (DOCKER_HOST: unix://, tcp:// or http(s)://). */
  dockerHost: string;
  /** The Docker network workspace containers join: `host`, `bridge`, or a user network's name. */
  dockerNetwork: string;
  /** The image the `molecule` runtime (and any runtime without its own image) runs (C135). */
  runtimeImage: string;
  /** WORKSPACE_IMAGE_LOCAL_OVERRIDE=1: ignore runtime_image_pins, use the local tags (C134). */
  imageLocalOverride: boolean;
  /** WORKSPACE_IMAGE_<RUNTIME>: the Docker image each mapped runtime runs (runtime -> reference; issue #16). */
  runtimeImages: Record<string, string>;
  /** A workspace terminal with no input from its client for this long is closed (MOLECULE_TERMINAL_IDLE_MS). */
  terminalIdleMs: number;
  /** MOLECULE_ENABLE_TEST_TOKENS=1 turns on GET /admin/workspaces/:id/test-token (never in production). */
  enableTestTokens: boolean;
}

/** An OpenAI-compatible embeddings endpoint: `POST {url}/embeddings {model, input}`. */
export interface MemoryEmbeddingsConfig {
  /** The base URL (`http://host:port/v1`), without credentials. */
  url: string;
  model: string;
  /** Sent as `Authorization: Bearer`; never logged. */
  apiKey: string | undefined;
}

/** A model name as embedding servers spell them (`text-embedding-3-small`, `nomic-embed-text:latest`, `BAAI/bge-small-en-v1.5`). */
const EMBEDDING_MODEL = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$/;
/** What an HTTP header value may hold (no spaces, no control characters). */
const HEADER_TOKEN = /^[\x21-\x7e]+$/;

/** One diagnostic produced while reading the environment. */
export interface ConfigWarning {
  variable: string;
  value: string;
  applied: string;
  reason: string;
}

export const DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  secretsEncryptionKey: undefined as string | undefined,
  dataDir: DEFAULT_DATA_DIR,
  env: 'development' as MoleculeEnv,
  provisioner: 'process' as ProvisionerBackend,
  gitSha: 'dev',
  bodyLimitBytes: 1024 * 1024,
  orgTokenMintPerHour: 10,
  sessionTtlSeconds: 7 * 24 * 3600,
  logLevel: 'info' as LogLevel,
  workspaceCacheTtlMs: 1000,
  heartbeatFlushMs: 100,
  activityFlushMs: 50,
  agentSocketGraceSeconds: 60,
  // Agents beat every 20-30 s (C014): 90 s tolerates two missed beats before a workspace goes offline.
  livenessTtlSeconds: 90,
  provisionConcurrency: 3,
  a2aIdleTimeoutSeconds: 300,
  activityRetentionDays: 7,
  activityCleanupIntervalHours: 6,
  dockerHost: 'unix:///var/run/docker.sock',
  dockerNetwork: 'bridge',
  runtimeImage: 'molecule/agent:latest',
  imageLocalOverride: false,
  runtimeImages: {} as Record<string, string>,
  enableTestTokens: false,
  terminalIdleMs: 30 * 60_000,
} as const;

/** An image reference: [registry[:port]/]name[:tag][@sha256:digest], lower-case name components. */
export const IMAGE_REF = /^(?:[A-Za-z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;

/** "0" means effectively unlimited (C123). */
export const UNLIMITED_PROVISIONS = 1 << 20;

type Env = Record<string, string | undefined>;

/**
 * Reads every environment variable the server uses, once. A bad value never stops the boot:
 * it is recorded as a warning naming the variable, the bad value and the default applied
 * (the seeds' rule, as C039 states it for A2A_IDLE_TIMEOUT_SECONDS), and the default is used.
 * The parsers stay small hand-written functions rather than zod schemas: each must fall back to its
 * own default with an operator-readable reason per variable (never reject the whole environment),
 * which is what safeParse plus an issue-to-reason mapping per variable would rebuild at more length.
 */
export function loadConfig(env: Env = process.env): { config: Config; warnings: ConfigWarning[] } {
  const warnings: ConfigWarning[] = [];
  const warn = (variable: string, value: string, applied: unknown, reason: string) =>
    warnings.push({ variable, value, applied: String(applied), reason });

  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };

  const int = (name: string, def: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === undefined) return def;
    if (!/^\d+$/.test(raw)) {
      warn(name, raw, def, 'not a whole number');
      return def;
    }
    const n = Number(raw);
    if (n < min || n > max) {
      warn(name, raw, def, `out of range ${min}..${max}`);
      return def;
    }
    return n;
  };

  const oneOf = <T extends string>(name: string, allowed: readonly T[], def: T, aliases: Record<string, T> = {}): T => {
    const raw = str(name);
    if (raw === undefined) return def;
    const lower = raw.toLowerCase();
    if ((allowed as readonly string[]).includes(lower)) return lower as T;
    const alias = aliases[lower];
    if (alias !== undefined) return alias;
    warn(name, raw, def, `expected one of ${allowed.join('|')}`);
    return def;
  };

  const url = (name: string, schemes: readonly string[]): string | undefined => {
    const raw = str(name);
    if (raw === undefined) return undefined;
    try {
      const u = new URL(raw);
      if (!schemes.includes(u.protocol)) {
        warn(name, redactUrl(raw), 'unset', `scheme must be one of ${schemes.join(' ')}`);
        return undefined;
      }
      return raw;
    } catch {
      warn(name, redactUrl(raw), 'unset', 'not a URL');
      return undefined;
    }
  };

  /** The first of several names (the current one, then upstream's) that is set. */
  const firstSet = (...names: string[]): string | undefined => names.find((n) => str(n) !== undefined);

  const cpUrlVar = firstSet('CP_URL', 'CP_PROVISION_URL', 'MOLECULE_CP_URL');
  const cpTokenVar = firstSet('MOLECULE_CP_SHARED_SECRET', 'PROVISION_SHARED_SECRET');
  const matching = (name: string, re: RegExp, def: string, reason: string): string => {
    const raw = str(name);
    if (raw === undefined) return def;
    if (re.test(raw)) return raw;
    warn(name, raw, def, reason);
    return def;
  };

  const bool = (name: string, def: boolean): boolean => {
    const raw = str(name);
    if (raw === undefined) return def;
    const lower = raw.toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
    if (['0', 'false', 'no', 'off'].includes(lower)) return false;
    warn(name, raw, def, 'expected 1 or 0');
    return def;
  };

  /**
   * MEMORY_EMBEDDINGS_URL + MEMORY_EMBEDDINGS_MODEL (+ MEMORY_EMBEDDINGS_API_KEY): all or nothing. Any
   * bad part turns embeddings off with a warning (memory itself works, text search only); the key's
   * value never appears in a warning.
   */
  const embeddings = (): MemoryEmbeddingsConfig | undefined => {
    const base = url('MEMORY_EMBEDDINGS_URL', ['http:', 'https:']);
    const model = str('MEMORY_EMBEDDINGS_MODEL');
    const apiKey = str('MEMORY_EMBEDDINGS_API_KEY');
    const off = 'embeddings off';
    if (base === undefined) {
      if (str('MEMORY_EMBEDDINGS_URL') === undefined && (model !== undefined || apiKey !== undefined)) {
        const name = model !== undefined ? 'MEMORY_EMBEDDINGS_MODEL' : 'MEMORY_EMBEDDINGS_API_KEY';
        warn(name, model ?? '<redacted>', off, 'MEMORY_EMBEDDINGS_URL is unset, so nothing is embedded');
      }
      return undefined;
    }
    const u = new URL(base);
    if (u.username !== '' || u.password !== '') {
      warn('MEMORY_EMBEDDINGS_URL', redactUrl(base), off, 'credentials in the URL are refused; put the key in MEMORY_EMBEDDINGS_API_KEY');
      return undefined;
    }
    if (model === undefined) {
      warn('MEMORY_EMBEDDINGS_MODEL', '', off, 'required when MEMORY_EMBEDDINGS_URL is set; memories are stored and searched without embeddings');
      return undefined;
    }
    if (!EMBEDDING_MODEL.test(model)) {
      warn('MEMORY_EMBEDDINGS_MODEL', model.slice(0, 200), off, 'not a model name (letters, digits and . _ : / @ + -, at most 200)');
      return undefined;
    }
    if (apiKey !== undefined && !HEADER_TOKEN.test(apiKey)) {
      warn('MEMORY_EMBEDDINGS_API_KEY', '<redacted>', off, 'contains spaces or control characters');
      return undefined;
    }
    return { url: base, model, apiKey };
  };

  const config: Config = {
    port: int('PORT', DEFAULTS.port, 0, 65535),
    host: str('HOST') ?? DEFAULTS.host,
    adminToken: str('ADMIN_TOKEN'),
    secretsEncryptionKey: str('SECRETS_ENCRYPTION_KEY'),
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:']),
    redisUrl: url('REDIS_URL', ['redis:', 'rediss:']),
    dataDir: path.resolve(str('MOLECULE_DATA_DIR') ?? DEFAULTS.dataDir),
    env: oneOf('MOLECULE_ENV', MOLECULE_ENVS, DEFAULTS.env, { dev: 'development', prod: 'production' }),
    provisioner: oneOf('MOLECULE_PROVISIONER', PROVISIONER_BACKENDS, DEFAULTS.provisioner),
    gitSha: str('GIT_SHA') ?? DEFAULTS.gitSha,
    externalPlatformUrl: url('EXTERNAL_PLATFORM_URL', ['http:', 'https:']),
    bodyLimitBytes: int('MOLECULE_BODY_LIMIT_BYTES', DEFAULTS.bodyLimitBytes, 1024, 1024 * 1024 * 1024),
    orgTokenMintPerHour: int('ORG_TOKEN_MINT_PER_HOUR', DEFAULTS.orgTokenMintPerHour, 1, 100000),
    sessionTtlSeconds: int('MOLECULE_SESSION_TTL_SECONDS', DEFAULTS.sessionTtlSeconds, 60, 365 * 24 * 3600),
    logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, DEFAULTS.logLevel),
    workspaceCacheTtlMs: int('WORKSPACE_CACHE_TTL_MS', DEFAULTS.workspaceCacheTtlMs, 0, 60_000),
    heartbeatFlushMs: int('MOLECULE_HEARTBEAT_FLUSH_MS', DEFAULTS.heartbeatFlushMs, 0, 5_000),
    activityFlushMs: int('MOLECULE_ACTIVITY_FLUSH_MS', DEFAULTS.activityFlushMs, 0, 5_000),
    agentSocketGraceSeconds: int('MOLECULE_AGENT_SOCKET_GRACE_SECONDS', DEFAULTS.agentSocketGraceSeconds, 1, 24 * 3600),
    livenessTtlSeconds: int('MOLECULE_LIVENESS_TTL_SECONDS', DEFAULTS.livenessTtlSeconds, 5, 24 * 3600),
    platformUrl: url('MOLECULE_PLATFORM_URL', ['http:', 'https:']),
    templatesDir: str('MOLECULE_TEMPLATES_DIR') === undefined ? undefined : path.resolve(str('MOLECULE_TEMPLATES_DIR')!),
    orgTemplatesDir: str('MOLECULE_ORG_TEMPLATES_DIR') === undefined ? undefined : path.resolve(str('MOLECULE_ORG_TEMPLATES_DIR')!),
    pluginsDir: str('MOLECULE_PLUGINS_DIR') === undefined ? undefined : path.resolve(str('MOLECULE_PLUGINS_DIR')!),
    pluginSourceDirs: (str('MOLECULE_PLUGIN_SOURCE_DIRS') ?? '')
      .split(':')
      .filter(Boolean)
      .map((d) => path.resolve(d)),
    pluginAllowUnpinned: str('PLUGIN_ALLOW_UNPINNED') === 'true',
    memoryPluginUrl: str('MEMORY_PLUGIN_URL')?.toLowerCase() === 'off' ? undefined : url('MEMORY_PLUGIN_URL', ['http:', 'https:']),
    memoryOff: str('MEMORY_PLUGIN_URL')?.toLowerCase() === 'off',
    memoryEmbeddings: embeddings(),
    provisionTimeoutSeconds: str('PROVISION_TIMEOUT_SECONDS') === undefined ? undefined : int('PROVISION_TIMEOUT_SECONDS', 600, 1, 7 * 24 * 3600),
    a2aIdleTimeoutSeconds: int('A2A_IDLE_TIMEOUT_SECONDS', DEFAULTS.a2aIdleTimeoutSeconds, 1, 24 * 3600),
    provisionConcurrency: ((n) => (n === 0 ? UNLIMITED_PROVISIONS : n))(
      int('MOLECULE_PROVISION_CONCURRENCY', DEFAULTS.provisionConcurrency, 0, UNLIMITED_PROVISIONS),
    ),
    activityRetentionDays: int('ACTIVITY_RETENTION_DAYS', DEFAULTS.activityRetentionDays, 1, 3650),
    activityCleanupIntervalHours: int('ACTIVITY_CLEANUP_INTERVAL_HOURS', DEFAULTS.activityCleanupIntervalHours, 1, 168),
    controlPlaneUrl: cpUrlVar === undefined ? undefined : url(cpUrlVar, ['http:', 'https:']),
    controlPlaneToken: cpTokenVar === undefined ? undefined : str(cpTokenVar),
    orgId: str('MOLECULE_ORG_ID'),
    dockerHost: matching('DOCKER_HOST', /^(unix:\/\/\/.+|(tcp|http|https):\/\/[^/\s]+\/?)$/, DEFAULTS.dockerHost, 'expected unix:///path or tcp://host:port'),
    dockerNetwork: matching('MOLECULE_DOCKER_NETWORK', /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, DEFAULTS.dockerNetwork, 'not a Docker network name'),
    runtimeImage: matching('MOLECULE_RUNTIME_IMAGE', IMAGE_REF, DEFAULTS.runtimeImage, 'not an image reference'),
    imageLocalOverride: bool('WORKSPACE_IMAGE_LOCAL_OVERRIDE', DEFAULTS.imageLocalOverride),
    runtimeImages: Object.fromEntries(
      RUNTIME_NAMES.flatMap((name) => {
        const key = runtimeImageEnv(name);
        const raw = str(key);
        if (raw === undefined) return [];
        if (IMAGE_REF.test(raw)) return [[name, raw]];
        warn(key, raw, 'unset', 'not an image reference');
        return [];
      }),
    ),
    enableTestTokens: bool('MOLECULE_ENABLE_TEST_TOKENS', DEFAULTS.enableTestTokens),
    terminalIdleMs: int('MOLECULE_TERMINAL_IDLE_MS', DEFAULTS.terminalIdleMs, 1000, 24 * 3600_000),
  };
  if (config.enableTestTokens && config.env === 'production') {
    warn('MOLECULE_ENABLE_TEST_TOKENS', '1', false, 'the test-token route is never enabled in production (MOLECULE_ENV=production)');
    config.enableTestTokens = false;
  }
  if (config.provisioner === 'controlplane' && config.controlPlaneUrl === undefined) {
    warn('CP_URL', '', 'unset', 'MOLECULE_PROVISIONER=controlplane needs the control plane URL; every workspace start will fail until it is set');
  }
  if (config.adminToken !== undefined && config.adminToken.length < 16) {
    warn('ADMIN_TOKEN', '<redacted>', 'unchanged', 'shorter than 16 characters; use a long random value');
  }
  return { config, warnings };
}

/** True when HOST only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Where the built-in memory store keeps its records: the platform's PostgreSQL, or PGlite in the data dir. */
export const builtinMemoryDir = (config: Pick<Config, 'dataDir'>): string => path.join(config.dataDir, 'memory');
const describeBuiltinMemory = (config: Config): string =>
  `built-in (${config.databaseUrl ? 'the platform database' : `pglite:${builtinMemoryDir(config)}`}, started on first use)`;

/** The resolved configuration as it is safe to log: credentials never appear. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    port: config.port,
    host: config.host,
    admin_token: config.adminToken ? 'set' : 'unset',
    secrets_encryption_key: config.secretsEncryptionKey ? 'set' : 'unset (generated into the data dir in development)',
    database: config.databaseUrl ? redactUrl(config.databaseUrl) : `pglite:${path.join(config.dataDir, 'pgdata')}`,
    redis: config.redisUrl ? redactUrl(config.redisUrl) : 'in-process',
    data_dir: config.dataDir,
    env: config.env,
    provisioner: config.provisioner,
    git_sha: config.gitSha,
    external_platform_url: config.externalPlatformUrl ?? 'derived from request',
    body_limit_bytes: config.bodyLimitBytes,
    org_token_mint_per_hour: config.orgTokenMintPerHour,
    session_ttl_seconds: config.sessionTtlSeconds,
    log_level: config.logLevel,
    workspace_cache_ttl_ms: config.workspaceCacheTtlMs,
    heartbeat_flush_ms: config.heartbeatFlushMs,
    activity_flush_ms: config.activityFlushMs,
    agent_socket_grace_seconds: config.agentSocketGraceSeconds,
    liveness_ttl_seconds: config.livenessTtlSeconds,
    platform_url_for_agents: config.platformUrl ?? 'derived from the listen address',
    templates_dir: config.templatesDir ?? 'built-in',
    org_templates_dir: config.orgTemplatesDir ?? 'built-in',
    plugins_dir: config.pluginsDir ?? 'built-in',
    plugin_source_dirs: config.pluginSourceDirs.length > 0 ? config.pluginSourceDirs.join(':') : 'none',
    plugin_allow_unpinned: config.pluginAllowUnpinned,
    memory: config.memoryPluginUrl ? redactUrl(config.memoryPluginUrl) : config.memoryOff ? 'off' : describeBuiltinMemory(config),
    memory_embeddings_url: config.memoryEmbeddings ? redactUrl(config.memoryEmbeddings.url) : 'unset (no embeddings)',
    memory_embeddings_model: config.memoryEmbeddings?.model ?? 'unset',
    memory_embeddings_api_key: config.memoryEmbeddings?.apiKey ? 'set' : 'unset',
    provision_concurrency: config.provisionConcurrency === UNLIMITED_PROVISIONS ? 'unlimited' : config.provisionConcurrency,
    a2a_idle_timeout_seconds: config.a2aIdleTimeoutSeconds,
    activity_retention_days: config.activityRetentionDays,
    activity_cleanup_interval_hours: config.activityCleanupIntervalHours,
    provision_timeout_seconds: config.provisionTimeoutSeconds ?? 'per template or runtime (600, hermes 1800)',
    control_plane_url: config.controlPlaneUrl ? redactUrl(config.controlPlaneUrl) : 'unset',
    control_plane_token: config.controlPlaneToken ? 'set' : 'unset',
    org_id: config.orgId ?? 'unset',
    test_tokens: config.enableTestTokens,
    terminal_idle_ms: config.terminalIdleMs,
    ...(config.provisioner === 'docker'
      ? {
          docker_host: redactUrl(config.dockerHost),
          docker_network: config.dockerNetwork,
          runtime_image: config.runtimeImage,
          image_local_override: config.imageLocalOverride,
        }
      : {}),
  };
}

/** Removes user info from a URL so it can be logged. */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.username || u.password) {
      u.username = u.username ? '***' : '';
      u.password = u.password ? '***' : '';
    }
    return u.toString();
  } catch {
    return '<unparseable>';
  }
}
