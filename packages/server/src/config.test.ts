import { describe, expect, it } from 'vitest';
import { DEFAULTS, describeConfig, isLoopbackHost, loadConfig } from './config.js';

describe('config', () => {
  it('uses the documented defaults when nothing is set', () => {
    const { config, warnings } = loadConfig({});
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      adminToken: undefined,
      databaseUrl: undefined,
      redisUrl: undefined,
      env: 'development',
      provisioner: 'process',
      gitSha: 'dev',
    });
    expect(config.dataDir.endsWith('.molecule')).toBe(true);
  });

  it('reads valid values', () => {
    const { config, warnings } = loadConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      ADMIN_TOKEN: 'x'.repeat(32),
      DATABASE_URL: 'postgres://u:p@db:5432/m',
      REDIS_URL: 'redis://cache:6379',
      MOLECULE_ENV: 'prod',
      MOLECULE_PROVISIONER: 'docker',
      GIT_SHA: 'abc',
    });
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({ port: 9000, host: '0.0.0.0', env: 'production', provisioner: 'docker', gitSha: 'abc' });
  });

  it.each([
    ['PORT', 'eighty', DEFAULTS.port],
    ['PORT', '70000', DEFAULTS.port],
    ['PORT', '80.5', DEFAULTS.port],
    ['MOLECULE_PROVISIONER', 'kubernetes', DEFAULTS.provisioner],
    ['MOLECULE_ENV', 'staging', DEFAULTS.env],
    ['MOLECULE_BODY_LIMIT_BYTES', '1mb', DEFAULTS.bodyLimitBytes],
    ['ACTIVITY_RETENTION_DAYS', '0', DEFAULTS.activityRetentionDays],
    ['ACTIVITY_RETENTION_DAYS', '7d', DEFAULTS.activityRetentionDays],
    ['ACTIVITY_RETENTION_DAYS', '-1', DEFAULTS.activityRetentionDays],
    ['ACTIVITY_CLEANUP_INTERVAL_HOURS', '1.5', DEFAULTS.activityCleanupIntervalHours],
    ['ACTIVITY_CLEANUP_INTERVAL_HOURS', '0', DEFAULTS.activityCleanupIntervalHours],
    ['DOCKER_HOST', 'ftp://engine', DEFAULTS.dockerHost],
    ['DOCKER_HOST', '/var/run/docker.sock', DEFAULTS.dockerHost],
    ['MOLECULE_DOCKER_NETWORK', 'my net', DEFAULTS.dockerNetwork],
    ['MOLECULE_RUNTIME_IMAGE', 'Molecule/Agent:latest', DEFAULTS.runtimeImage],
    ['MOLECULE_RUNTIME_IMAGE', 'molecule/agent:latest; rm -rf /', DEFAULTS.runtimeImage],
    ['WORKSPACE_IMAGE_LOCAL_OVERRIDE', 'maybe', DEFAULTS.imageLocalOverride],
  ])('a bad %s=%s names the variable, the value and the default applied, then uses the default', (name, value, def) => {
    const { config, warnings } = loadConfig({ [name]: value });
    expect(warnings).toEqual([expect.objectContaining({ variable: name, value, applied: String(def) })]);
    expect(Object.values(config)).toContain(def);
  });

  it.each(['0', '-5', 'abc', '1.5', '30s'])('C039 A2A_IDLE_TIMEOUT_SECONDS=%s falls back to 300 s with a warning naming it', (value) => {
    const { config, warnings } = loadConfig({ A2A_IDLE_TIMEOUT_SECONDS: value });
    expect(config.a2aIdleTimeoutSeconds).toBe(300);
    expect(warnings).toEqual([expect.objectContaining({ variable: 'A2A_IDLE_TIMEOUT_SECONDS', value, applied: '300' })]);
  });

  it('C039 A2A_IDLE_TIMEOUT_SECONDS: unset or empty is 300 s (5 min), a positive integer is taken', () => {
    expect(loadConfig({}).config.a2aIdleTimeoutSeconds).toBe(300);
    expect(loadConfig({ A2A_IDLE_TIMEOUT_SECONDS: '' }).config.a2aIdleTimeoutSeconds).toBe(300);
    expect(loadConfig({ A2A_IDLE_TIMEOUT_SECONDS: '45' }).config.a2aIdleTimeoutSeconds).toBe(45);
  });

  it('C124 the logged configuration carries the resolved provision-concurrency cap', () => {
    expect(describeConfig(loadConfig({ MOLECULE_PROVISION_CONCURRENCY: '7' }).config).provision_concurrency).toBe(7);
    expect(describeConfig(loadConfig({ MOLECULE_PROVISION_CONCURRENCY: '0' }).config).provision_concurrency).toBe('unlimited');
  });

  it('activity retention: 7 days purged every 6 hours by default; valid values are taken', () => {
    expect(loadConfig({}).config).toMatchObject({ activityRetentionDays: 7, activityCleanupIntervalHours: 6 });
    const { config, warnings } = loadConfig({ ACTIVITY_RETENTION_DAYS: '30', ACTIVITY_CLEANUP_INTERVAL_HOURS: '1' });
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({ activityRetentionDays: 30, activityCleanupIntervalHours: 1 });
  });

  it('MOLECULE_AGENT_SOCKET_GRACE_SECONDS: 60 s by default; a valid value is taken; a bad one warns and keeps 60', () => {
    expect(loadConfig({}).config.agentSocketGraceSeconds).toBe(60);
    expect(loadConfig({ MOLECULE_AGENT_SOCKET_GRACE_SECONDS: '5' })).toMatchObject({ config: { agentSocketGraceSeconds: 5 }, warnings: [] });
    for (const bad of ['0', '-1', 'soon', '1.5', '100000']) {
      const { config, warnings } = loadConfig({ MOLECULE_AGENT_SOCKET_GRACE_SECONDS: bad });
      expect(config.agentSocketGraceSeconds, bad).toBe(60);
      expect(warnings.map((w) => w.variable), bad).toEqual(['MOLECULE_AGENT_SOCKET_GRACE_SECONDS']);
    }
  });

  it('reads the docker backend settings', () => {
    const { config, warnings } = loadConfig({
      DOCKER_HOST: 'tcp://engine:2375',
      MOLECULE_DOCKER_NETWORK: 'host',
      MOLECULE_RUNTIME_IMAGE: `registry.local:5000/molecule/agent@sha256:${'a'.repeat(64)}`,
      WORKSPACE_IMAGE_LOCAL_OVERRIDE: '1',
    });
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({
      dockerHost: 'tcp://engine:2375',
      dockerNetwork: 'host',
      runtimeImage: `registry.local:5000/molecule/agent@sha256:${'a'.repeat(64)}`,
      imageLocalOverride: true,
    });
    expect(loadConfig({}).config).toMatchObject({ dockerHost: 'unix:///var/run/docker.sock', dockerNetwork: 'bridge', runtimeImage: 'molecule/agent:latest', imageLocalOverride: false });
  });

  it('C212 MOLECULE_ENABLE_TEST_TOKENS turns the test-token route on, except in production, where it is refused with a warning', () => {
    expect(loadConfig({}).config.enableTestTokens).toBe(false);
    expect(loadConfig({ MOLECULE_ENABLE_TEST_TOKENS: '1' }).config.enableTestTokens).toBe(true);
    const prod = loadConfig({ MOLECULE_ENABLE_TEST_TOKENS: '1', MOLECULE_ENV: 'production', ADMIN_TOKEN: 'x'.repeat(32) });
    expect(prod.config.enableTestTokens).toBe(false);
    expect(prod.warnings).toContainEqual(expect.objectContaining({ variable: 'MOLECULE_ENABLE_TEST_TOKENS', applied: 'false' }));
  });

  it('a malformed DATABASE_URL is rejected without echoing its password', () => {
    const { config, warnings } = loadConfig({ DATABASE_URL: 'mysql://u:secret@db/m' });
    expect(config.databaseUrl).toBeUndefined();
    expect(JSON.stringify(warnings)).not.toContain('secret');
  });

  it('the logged configuration never contains credentials', () => {
    const { config } = loadConfig({ ADMIN_TOKEN: 'super-secret-admin-token', DATABASE_URL: 'postgres://u:pw123@db/m', REDIS_URL: 'redis://:pw456@r:6379' });
    const text = JSON.stringify(describeConfig(config));
    for (const secret of ['super-secret-admin-token', 'pw123', 'pw456']) expect(text).not.toContain(secret);
  });

  it('reads the control plane settings, accepting the upstream variable names too', () => {
    const { config, warnings } = loadConfig({
      MOLECULE_PROVISIONER: 'controlplane',
      CP_URL: 'https://cp.example.com',
      MOLECULE_CP_SHARED_SECRET: 'cp-secret-value',
      MOLECULE_ORG_ID: 'org-7',
    });
    expect(warnings).toEqual([]);
    expect(config).toMatchObject({ controlPlaneUrl: 'https://cp.example.com', controlPlaneToken: 'cp-secret-value', orgId: 'org-7' });
    expect(loadConfig({ CP_PROVISION_URL: 'http://cp-a:9000', MOLECULE_CP_URL: 'http://cp-b' }).config.controlPlaneUrl).toBe('http://cp-a:9000');
    expect(loadConfig({ MOLECULE_CP_URL: 'http://cp-b' }).config.controlPlaneUrl).toBe('http://cp-b');
    expect(loadConfig({ PROVISION_SHARED_SECRET: 'old-name' }).config.controlPlaneToken).toBe('old-name');
    // Nothing defaults to a hosted control plane.
    expect(loadConfig({}).config.controlPlaneUrl).toBeUndefined();
  });

  it('a bad CP_URL is refused without echoing credentials, and controlplane without a URL warns', () => {
    const bad = loadConfig({ CP_URL: 'ftp://u:pw789@cp' });
    expect(bad.config.controlPlaneUrl).toBeUndefined();
    expect(bad.warnings).toEqual([expect.objectContaining({ variable: 'CP_URL', applied: 'unset' })]);
    expect(JSON.stringify(bad.warnings)).not.toContain('pw789');
    const missing = loadConfig({ MOLECULE_PROVISIONER: 'controlplane' });
    expect(missing.warnings).toEqual([expect.objectContaining({ variable: 'CP_URL', applied: 'unset', reason: expect.stringMatching(/every workspace start will fail/) })]);
  });

  it('the logged configuration never contains the control plane token', () => {
    const { config } = loadConfig({ CP_URL: 'https://user:pw321@cp.example.com', MOLECULE_CP_SHARED_SECRET: 'cp-token-xyz' });
    const text = JSON.stringify(describeConfig(config));
    for (const secret of ['cp-token-xyz', 'pw321']) expect(text).not.toContain(secret);
    expect(describeConfig(config)).toMatchObject({ control_plane_token: 'set' });
  });

  it('memory embeddings: off by default; URL + model (+ key) turn them on; the key is never in the logged configuration', () => {
    expect(loadConfig({}).config.memoryEmbeddings).toBeUndefined();
    expect(describeConfig(loadConfig({}).config)).toMatchObject({ memory_embeddings_url: 'unset (no embeddings)', memory_embeddings_api_key: 'unset' });
    const { config, warnings } = loadConfig({ MEMORY_EMBEDDINGS_URL: 'https://api.example.com/v1', MEMORY_EMBEDDINGS_MODEL: 'text-embedding-3-small', MEMORY_EMBEDDINGS_API_KEY: 'sk-embed-secret-123' });
    expect(warnings).toEqual([]);
    expect(config.memoryEmbeddings).toEqual({ url: 'https://api.example.com/v1', model: 'text-embedding-3-small', apiKey: 'sk-embed-secret-123' });
    const described = describeConfig(config);
    expect(described).toMatchObject({ memory_embeddings_url: 'https://api.example.com/v1', memory_embeddings_model: 'text-embedding-3-small', memory_embeddings_api_key: 'set' });
    expect(JSON.stringify(described)).not.toContain('sk-embed-secret-123');
    for (const model of ['nomic-embed-text:latest', 'BAAI/bge-small-en-v1.5', 'mxbai-embed-large@q8']) {
      expect(loadConfig({ MEMORY_EMBEDDINGS_URL: 'http://127.0.0.1:11434/v1', MEMORY_EMBEDDINGS_MODEL: model }).config.memoryEmbeddings).toEqual({ url: 'http://127.0.0.1:11434/v1', model, apiKey: undefined });
    }
  });

  it.each([
    ['a URL without a model', { MEMORY_EMBEDDINGS_URL: 'http://127.0.0.1:11434/v1' }, 'MEMORY_EMBEDDINGS_MODEL', /required when MEMORY_EMBEDDINGS_URL is set/],
    ['a URL with a blank model', { MEMORY_EMBEDDINGS_URL: 'http://127.0.0.1:11434/v1', MEMORY_EMBEDDINGS_MODEL: '   ' }, 'MEMORY_EMBEDDINGS_MODEL', /required when MEMORY_EMBEDDINGS_URL is set/],
    ['a model that is not a name', { MEMORY_EMBEDDINGS_URL: 'http://127.0.0.1:11434/v1', MEMORY_EMBEDDINGS_MODEL: 'text embedding; rm -rf /' }, 'MEMORY_EMBEDDINGS_MODEL', /not a model name/],
    ['a model name over 200 characters', { MEMORY_EMBEDDINGS_URL: 'http://127.0.0.1:11434/v1', MEMORY_EMBEDDINGS_MODEL: 'm'.repeat(201) }, 'MEMORY_EMBEDDINGS_MODEL', /not a model name/],
    ['an unparseable URL', { MEMORY_EMBEDDINGS_URL: 'not a url', MEMORY_EMBEDDINGS_MODEL: 'm' }, 'MEMORY_EMBEDDINGS_URL', /not a URL/],
    ['a URL of another scheme', { MEMORY_EMBEDDINGS_URL: 'grpc://127.0.0.1:9000', MEMORY_EMBEDDINGS_MODEL: 'm' }, 'MEMORY_EMBEDDINGS_URL', /scheme must be one of http: https:/],
    ['credentials in the URL', { MEMORY_EMBEDDINGS_URL: 'https://user:pw-in-url-555@api.example.com/v1', MEMORY_EMBEDDINGS_MODEL: 'm' }, 'MEMORY_EMBEDDINGS_URL', /put the key in MEMORY_EMBEDDINGS_API_KEY/],
    ['a key with spaces', { MEMORY_EMBEDDINGS_URL: 'https://api.example.com/v1', MEMORY_EMBEDDINGS_MODEL: 'm', MEMORY_EMBEDDINGS_API_KEY: 'sk-key with-space-777' }, 'MEMORY_EMBEDDINGS_API_KEY', /spaces or control characters/],
    ['a model without a URL', { MEMORY_EMBEDDINGS_MODEL: 'text-embedding-3-small' }, 'MEMORY_EMBEDDINGS_MODEL', /MEMORY_EMBEDDINGS_URL is unset/],
    ['a key without a URL', { MEMORY_EMBEDDINGS_API_KEY: 'sk-lonely-key-888' }, 'MEMORY_EMBEDDINGS_API_KEY', /MEMORY_EMBEDDINGS_URL is unset/],
  ])('memory embeddings with %s: one warning naming the variable, embeddings off, no credential echoed', (_what, env, variable, reason) => {
    const { config, warnings } = loadConfig(env);
    expect(config.memoryEmbeddings).toBeUndefined();
    expect(warnings).toEqual([expect.objectContaining({ variable, reason: expect.stringMatching(reason) })]);
    const text = JSON.stringify([warnings, describeConfig(config)]);
    for (const secret of ['pw-in-url-555', 'with-space-777', 'sk-lonely-key-888']) expect(text).not.toContain(secret);
  });

  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1', 'localhost', '::1', '[::1]', '127.1.2.3']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'example.com']) expect(isLoopbackHost(h)).toBe(false);
  });
});
