import { OrgTemplate } from '@molecule/contracts';
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { invalid, notFound } from '../errors.js';
import type { Logger } from '../log.js';

/** The repository's `org-templates/` folder: one folder per org, each with an `org.yaml`. */
export const DEFAULT_ORG_TEMPLATES_DIR = fileURLToPath(new URL('../../../../org-templates/', import.meta.url));

/** An org.yaml larger than this is refused (a 500-workspace org fits in far less). */
export const MAX_ORG_YAML_BYTES = 1024 * 1024;

const DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface ProblemDetail {
  path: string;
  message: string;
}

/** zod's issues as the API's `details` (`/workspaces/0/children/1/name`, like a body's). */
export function issueDetails(error: z.ZodError): ProblemDetail[] {
  return error.issues.slice(0, 50).map((i) => ({ path: `/${i.path.map(String).join('/')}`, message: i.message }));
}

/**
 * Checks a parsed document against the org template schema: the template, or a 400 naming every
 * problem with its path (a typo in a key is an unknown-key error, never silently ignored).
 */
export function parseOrgTemplate(doc: unknown): OrgTemplate {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('invalid org template: it must be a YAML mapping (name, workspaces, ...)');
  const r = OrgTemplate.safeParse(doc);
  if (!r.success) throw invalid(`invalid org template: ${r.error.issues[0]!.message} at /${r.error.issues[0]!.path.map(String).join('/')}`, { details: issueDetails(r.error) });
  return r.data;
}

/** Parses org.yaml text: YAML errors and non-mappings are a 400, never a crash. */
export function parseOrgYaml(text: string): OrgTemplate {
  if (Buffer.byteLength(text) > MAX_ORG_YAML_BYTES) throw invalid(`invalid org template: larger than ${MAX_ORG_YAML_BYTES} bytes`);
  let doc: unknown;
  try {
    // Aliases are expanded lazily by the yaml library with a cap, so an alias bomb is an error.
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw invalid(`invalid org template: the YAML does not parse (${err instanceof Error ? err.message.split('\n')[0] : 'syntax error'})`);
  }
  return parseOrgTemplate(doc);
}

/**
 * The org template in folder `dir`: 400 when `dir` is not a plain folder name inside the org
 * templates directory, 404 when it has no org.yaml (or org.yml), 400 when the file is invalid.
 */
export async function readOrgTemplate(orgTemplatesDir: string, dir: string): Promise<OrgTemplate> {
  if (!DIR_NAME.test(dir) || dir.includes('..')) throw invalid('invalid org directory');
  for (const file of ['org.yaml', 'org.yml']) {
    const full = path.join(orgTemplatesDir, dir, file);
    let st;
    try {
      st = await stat(full);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    if (st.size > MAX_ORG_YAML_BYTES) throw invalid(`invalid org template: larger than ${MAX_ORG_YAML_BYTES} bytes`);
    return parseOrgYaml(await readFile(full, 'utf8'));
  }
  throw notFound(`org template not found: ${dir}`);
}

/**
 * Every readable org template, by folder name. A folder whose org.yaml does not parse or validate
 * is skipped and logged; a missing directory is an empty list. Never rejects.
 */
export async function readOrgTemplates(orgTemplatesDir: string, log: Logger): Promise<{ dir: string; template: OrgTemplate }[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(orgTemplatesDir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err, dir: orgTemplatesDir }, 'org templates dir unreadable');
    return [];
  }
  const out: { dir: string; template: OrgTemplate }[] = [];
  for (const e of entries.filter((e) => e.isDirectory() && DIR_NAME.test(e.name)).sort((a, b) => a.name.localeCompare(b.name))) {
    try {
      out.push({ dir: e.name, template: await readOrgTemplate(orgTemplatesDir, e.name) });
    } catch (err) {
      if ((err as { code?: string }).code === 'not_found') continue;
      log.warn({ dir: e.name, reason: err instanceof Error ? err.message : String(err) }, 'org template skipped');
    }
  }
  return out;
}
