import path from 'node:path';
import { AGENT_ENV_PASSTHROUGH } from '@molecule/contracts';
import type { Provisioner, StartSpec } from './port.js';

/** The passthrough variables (AGENT_ENV_PASSTHROUGH) the server's environment sets; nothing else of it reaches an agent. */
export function passthroughEnv(env: Record<string, string | undefined> = process.env): Record<string, string> {
  return Object.fromEntries(AGENT_ENV_PASSTHROUGH.flatMap((k) => (env[k] ? [[k, env[k]]] : [])));
}

/** What of the server's LLM provider settings `prov`'s agents get: all of `passthroughEnv` when it hands them on, else none. */
export function providerEnvOf(prov: Pick<Provisioner, 'passesProviderEnv'> | undefined): Record<string, string> {
  return prov?.passesProviderEnv ? passthroughEnv() : {};
}

/** Files that hold credentials: readable by their owner only. */
export const SECRET_FILES: ReadonlySet<string> = new Set(['.auth_token', '.platform_inbound_secret']);

export interface ConfigFile {
  /** Relative to the configs dir, '/'-separated, never escaping it. */
  path: string;
  content: string;
  mode: 0o600 | 0o644;
}

/**
 * The one rule every backend follows for what lands in an agent's configs dir on a start: the
 * template's files only when the configs hold no config.yaml (a first start, an emptied volume,
 * C129) or the template is being applied again (C130, the backend empties the configs first), then
 * the secret files on every start, mode 0600. Throws when a template path is absolute or escapes the
 * configs dir.
 */
export function configFilesToWrite(spec: Pick<StartSpec, 'templateFiles' | 'secretFiles' | 'applyTemplate'>, hasConfig: boolean): ConfigFile[] {
  assertTemplatePaths(spec.templateFiles);
  const files = { ...(hasConfig && !spec.applyTemplate ? {} : spec.templateFiles), ...spec.secretFiles };
  return Object.entries(files).map(([rel, content]) => ({
    path: rel.split(path.sep).join('/'),
    content,
    mode: SECRET_FILES.has(rel) ? 0o600 : 0o644,
  }));
}

/** Throws when a template file path is empty, absolute or escapes the configs dir. */
export function assertTemplatePaths(templateFiles: Record<string, string>): void {
  for (const rel of Object.keys(templateFiles)) assertInsideConfigs(rel);
}

function assertInsideConfigs(rel: string): void {
  const norm = path.posix.normalize(rel.split(path.sep).join('/'));
  if (rel === '' || path.posix.isAbsolute(norm) || norm === '..' || norm.startsWith('../') || norm === '.') {
    throw new Error(`template file escapes the configs dir: ${rel}`);
  }
}
