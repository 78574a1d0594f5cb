import { hostname } from 'node:os';
import type { App } from '../http/types.js';

/** The part of a JSON Schema (as `/openapi.json` prints it) that tests read. */
export interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  format?: string;
  anyOf?: Schema[];
  oneOf?: Schema[];
  minimum?: number;
  minLength?: number;
  default?: unknown;
}

/** One documented operation. `path` is in OpenAPI form (`/workspaces/{id}`). */
export interface Operation {
  method: string;
  path: string;
  pathParams: string[];
  query: Record<string, Schema>;
  body?: Schema;
  /** The access class the route declared (`app.accessTable`). */
  access: string;
}

/** Operations that hold the connection open once accepted (event streams): request/answer checks skip them. */
export const LONG_LIVED_OPERATIONS: ReadonlySet<string> = new Set(['GET /ws', 'GET /workspaces/{id}/events/stream']);

/** Every operation the app documents in `/openapi.json`, with its declared access class. */
export async function documentedOperations(app: App): Promise<Operation[]> {
  const spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, Record<string, Record<string, unknown>>> }>();
  const accessOf = new Map(app.accessTable.map((r) => [`${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`, r.access]));
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [m, op] of Object.entries(methods)) {
      const method = m.toUpperCase();
      const params = (op.parameters ?? []) as { in: string; name: string; schema: Schema }[];
      const body = (op.requestBody as { content?: Record<string, { schema: Schema }> } | undefined)?.content?.['application/json']?.schema;
      ops.push({
        method,
        path,
        pathParams: params.filter((x) => x.in === 'path').map((x) => x.name),
        query: Object.fromEntries(params.filter((x) => x.in === 'query').map((x) => [x.name, x.schema])),
        ...(body ? { body } : {}),
        access: accessOf.get(`${method} ${path}`) ?? 'unknown',
      });
    }
  }
  return ops;
}

/** A plausible value for a schema: its default, first enum value, or the smallest valid value of its type. */
export function sample(s: Schema | undefined, depth = 0): unknown {
  if (!s || depth > 4) return null;
  if (s.default !== undefined) return s.default;
  if (s.enum?.length) return s.enum[0];
  const alt = s.anyOf ?? s.oneOf;
  if (alt?.length) return sample(alt.find((x) => x.type !== 'null') ?? alt[0], depth + 1);
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const k of s.required ?? []) out[k] = sample(s.properties?.[k], depth + 1);
      return out;
    }
    case 'array':
      return [];
    case 'integer':
    case 'number':
      return Math.max(1, s.minimum ?? 1);
    case 'boolean':
      return true;
    case 'string':
      if (s.format === 'uuid') return '00000000-0000-4000-8000-000000000000';
      if (s.format === 'uri') return 'https://example.com/a';
      if (s.format === 'date-time') return '2026-01-01T00:00:00Z';
      return 'x'.repeat(Math.max(1, s.minLength ?? 1));
    default:
      return null;
  }
}

/** The operation's path with each `{param}` replaced. */
export function urlOf(op: Pick<Operation, 'path' | 'pathParams'>, values: readonly string[]): string {
  let url = op.path;
  op.pathParams.forEach((name, i) => (url = url.replace(`{${name}}`, values[i]!)));
  return url;
}

/** Internals a response must never show. */
const LEAKS: [string, RegExp][] = [
  ['a stack trace', /\bat [\w.<>]+ \(?[^()\s]*:\d+:\d+\)?/],
  ['SQL', /\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b[\s\S]{0,80}\b(FROM|VALUES|SET|WHERE)\b/],
  ['a database error', /\b(syntax error at or near|violates (foreign key|unique|check) constraint|relation "\w+"|ECONNREFUSED|Connection terminated|terminating connection)/i],
  ['a file path', /(\/(home|root|work|usr|etc\/(?!passwd))\/|node_modules|\.ts:\d+)/],
  ['the host name', new RegExp(`\\b${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`)],
];

/**
 * What internals (stack, SQL, database error, path, host name) a response body shows; empty when
 * none. A program the platform serves (`text/javascript`: the molecule-mcp bundle) is code, not an
 * answer that could leak, and is not read.
 */
export function leaksIn(body: string, contentType?: unknown): string[] {
  if (String(contentType ?? '').startsWith('text/javascript')) return [];
  return LEAKS.filter(([, re]) => re.test(body)).map(([what]) => what);
}
