import { z } from 'zod';
import { isRecord } from './json.js';

/**
 * JSON-RPC error code of an agent's busy answer: it already runs max_concurrent_tasks tasks. Sent
 * with HTTP 503 and Retry-After; `error.data` is `{busy: true, retry_after_ms, active_tasks,
 * max_concurrent_tasks}`. Outside the codes A2A defines (-32001..-32009). The platform proxy
 * queues a message refused this way (it never started work, so a later delivery is not a repeat).
 */
export const A2A_BUSY_CODE = -32050;

/**
 * The agent-card extension (in `capabilities.extensions`) by which an agent promises idempotent
 * `message/send`: a repeated messageId gets the first answer and is processed once. The platform
 * re-sends a queued delivery that its own crash interrupted only to agents that declare it.
 */
export const A2A_IDEMPOTENT_MESSAGES_EXTENSION = 'urn:molecule:a2a:idempotent-message-id';

/** Whether an agent card (either dialect) declares {@link A2A_IDEMPOTENT_MESSAGES_EXTENSION}. */
export function declaresIdempotentMessages(card: unknown): boolean {
  const caps = typeof card === 'object' && card !== null ? (card as { capabilities?: unknown }).capabilities : undefined;
  const exts = typeof caps === 'object' && caps !== null ? (caps as { extensions?: unknown }).extensions : undefined;
  return Array.isArray(exts) && exts.some((e: unknown) => typeof e === 'object' && e !== null && (e as { uri?: unknown }).uri === A2A_IDEMPOTENT_MESSAGES_EXTENSION);
}

/**
 * Which SDK transport handler answers: `v0.3` (slash method names: `message/send`...; v0.2 senders
 * use them too) or `v1` (`SendMessage`...). The reply is shaped in the caller's dialect.
 */
export type A2ADialect = 'v0.3' | 'v1';
/** `send` and `stream` start work and need a task slot; everything else is bookkeeping. */
export type A2AMethodKind = 'send' | 'stream' | 'other';

export type JsonRpcId = string | number | null;

export interface NormalizedA2ARequest {
  /** null for a method neither dialect defines (`tasks/list`, an agent's own): forwarded as it came. */
  dialect: A2ADialect | null;
  kind: A2AMethodKind;
  id: JsonRpcId;
  /** A JSON-RPC 2.0 request the SDK handler of `dialect` accepts as is. */
  request: { jsonrpc: '2.0'; id: JsonRpcId; method: string; params: Record<string, unknown> };
}

export interface A2ARequestError {
  id: JsonRpcId;
  /** JSON-RPC code: -32700 parse, -32600 invalid request, -32601 method not found, -32602 invalid params. */
  code: number;
  message: string;
  /** The offending field, e.g. `params.message.parts[0]`. */
  field?: string;
}

export type NormalizeResult = { ok: true; value: NormalizedA2ARequest } | { ok: false; error: A2ARequestError };

const SEND_METHODS = new Set(['message/send', 'SendMessage']);
const STREAM_METHODS = new Set(['message/stream', 'SendStreamingMessage']);
const TASK_ID_METHODS = new Set(['tasks/get', 'tasks/cancel', 'tasks/resubscribe', 'GetTask', 'CancelTask', 'SubscribeToTask']);
const RESUBSCRIBE_METHODS = new Set(['tasks/resubscribe', 'SubscribeToTask']);

/** Whether the agent answers a request as a stream (SSE): a streamed message, or a resubscription to a task. */
export function answersAsStream(r: Pick<NormalizedA2ARequest, 'kind' | 'request'>): boolean {
  return r.kind === 'stream' || RESUBSCRIBE_METHODS.has(r.request.method);
}

type Obj = Record<string, unknown>;
const isObj = isRecord;

/** The JSON-RPC method names of A2A v0.3 (v0.2 senders use them too), and their v1 names. */
export const V03_TO_V1_METHODS: Readonly<Record<string, string>> = Object.freeze({
  'message/send': 'SendMessage',
  'message/stream': 'SendStreamingMessage',
  'tasks/get': 'GetTask',
  'tasks/cancel': 'CancelTask',
  'tasks/resubscribe': 'SubscribeToTask',
  'tasks/pushNotificationConfig/set': 'CreateTaskPushNotificationConfig',
  'tasks/pushNotificationConfig/get': 'GetTaskPushNotificationConfig',
  'tasks/pushNotificationConfig/list': 'ListTaskPushNotificationConfigs',
  'tasks/pushNotificationConfig/delete': 'DeleteTaskPushNotificationConfig',
  'agent/getAuthenticatedExtendedCard': 'GetExtendedAgentCard',
});
const V1_METHODS: ReadonlySet<string> = new Set([...Object.values(V03_TO_V1_METHODS), 'ListTasks']);
const isLegacyJsonRpcMethod = (m: unknown): boolean => typeof m === 'string' && Object.hasOwn(V03_TO_V1_METHODS, m);
const isV1JsonRpcMethod = (m: unknown): boolean => typeof m === 'string' && V1_METHODS.has(m);

class Invalid extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** A part in neither dialect's spelling yet. */
type CanonicalPart =
  | { t: 'text'; text: string; metadata?: Obj }
  | { t: 'file'; uri?: string; bytes?: string; name?: string; mimeType?: string; metadata?: Obj }
  | { t: 'data'; data: unknown; metadata?: Obj };

/**
 * The one place incoming A2A JSON-RPC is made acceptable to the SDK. It accepts:
 * - v0.3 and v0.2 requests (`message/send`, `message/stream`, `tasks/get`, `tasks/cancel`...);
 * - v1 requests (`SendMessage`, `SendStreamingMessage`, `GetTask`, `CancelTask`...);
 * - a body without `jsonrpc` (wrapped, as the platform proxy does) or without `id` (one is generated);
 * - any other method name (`tasks/list`, an agent's own): dialect null, forwarded unchanged;
 * - message content in any dialect: v0.2 `content` as a string or a list (C054), parts tagged
 *   with `type` or `kind`, v1 untagged parts (`{text}`, `{url}`, `{raw}`, `{data}`), bare strings
 *   as parts, a string `message`, `ROLE_USER`/`user` roles, a missing messageId (generated),
 *   `blocking` vs `returnImmediately`;
 * and rewrites the message into the dialect its method name belongs to. A message with neither
 * content nor parts, or with a number/boolean content, is rejected naming the field (C055).
 */
export function normalizeA2ARequest(body: unknown): NormalizeResult {
  if (!isObj(body)) return fail(null, -32600, 'the request must be a JSON object');
  // A body without an id (a bare method/params, C056) gets one: without it the request would be a
  // notification, which no one answers.
  const id = !('id' in body) ? globalThis.crypto.randomUUID() : validId(body.id) ? body.id : null;
  if ('jsonrpc' in body && body.jsonrpc !== '2.0') return fail(id, -32600, 'jsonrpc must be "2.0"', 'jsonrpc');
  const method = body.method;
  if (typeof method !== 'string' || method === '') return fail(id, -32600, 'method must be a non-empty string', 'method');
  const dialect: A2ADialect | null = isLegacyJsonRpcMethod(method) ? 'v0.3' : isV1JsonRpcMethod(method) ? 'v1' : null;
  const kind: A2AMethodKind = SEND_METHODS.has(method) ? 'send' : STREAM_METHODS.has(method) ? 'stream' : 'other';

  let params: Obj;
  if (body.params === undefined || body.params === null) params = {};
  else if (isObj(body.params)) params = { ...body.params };
  else return fail(id, -32602, 'params must be an object', 'params');
  // A method neither dialect defines carries no message to check (C055): it passes through as sent.
  if (dialect === null) return { ok: true, value: { dialect, kind, id, request: { jsonrpc: '2.0', id, method, params } } };

  try {
    if (kind !== 'other') {
      params.message = normalizeMessage(params.message, dialect);
      if (params.configuration !== undefined) params.configuration = normalizeConfiguration(params.configuration, dialect);
    } else if (TASK_ID_METHODS.has(method) && params.id === undefined && typeof params.taskId === 'string') {
      params.id = params.taskId;
      delete params.taskId;
    }
    checkBounds(params);
  } catch (err) {
    if (err instanceof Invalid) return fail(id, -32602, err.message, err.field);
    throw err;
  }
  return { ok: true, value: { dialect, kind, id, request: { jsonrpc: '2.0', id, method, params } } };
}

function validId(v: unknown): v is JsonRpcId {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
}

function fail(id: JsonRpcId, code: number, message: string, field?: string): NormalizeResult {
  return { ok: false, error: { id, code, message, ...(field ? { field } : {}) } };
}

function normalizeMessage(raw: unknown, dialect: A2ADialect): Obj {
  const f = 'params.message';
  if (raw === undefined || raw === null) throw new Invalid(f, 'params.message is required');
  if (typeof raw === 'string') raw = { parts: [raw] };
  if (!isObj(raw)) throw new Invalid(f, 'params.message must be an object');
  const msg: Obj = { ...raw };

  let rawParts: unknown[];
  if (msg.parts !== undefined) {
    if (!Array.isArray(msg.parts)) throw new Invalid(`${f}.parts`, 'params.message.parts must be a list');
    rawParts = msg.parts;
  } else if (msg.content !== undefined) {
    if (typeof msg.content === 'string') rawParts = [msg.content];
    else if (Array.isArray(msg.content)) rawParts = msg.content;
    else throw new Invalid(`${f}.content`, 'params.message.content must be a string or a list of parts');
  } else {
    throw new Invalid(`${f}.parts`, 'params.message needs parts (or a v0.2 content)');
  }
  const partsField = msg.parts !== undefined ? `${f}.parts` : `${f}.content`;
  if (rawParts.length === 0) throw new Invalid(partsField, `${partsField} must hold at least one part`);
  const parts = rawParts.map((p, i) => toCanonicalPart(p, `${partsField}[${i}]`));
  delete msg.content;
  delete msg.type;

  const role = msg.role ?? 'user';
  let agent: boolean;
  if (role === 'user' || role === 'ROLE_USER' || role === 1) agent = false;
  else if (role === 'agent' || role === 'ROLE_AGENT' || role === 2) agent = true;
  else throw new Invalid(`${f}.role`, 'params.message.role must be "user" or "agent"');

  if (msg.messageId === undefined || msg.messageId === null || msg.messageId === '') msg.messageId = globalThis.crypto.randomUUID();
  else if (typeof msg.messageId !== 'string') throw new Invalid(`${f}.messageId`, 'params.message.messageId must be a string');

  if (dialect === 'v0.3') {
    msg.kind = 'message';
    msg.role = agent ? 'agent' : 'user';
    msg.parts = parts.map(toV03Part);
  } else {
    delete msg.kind;
    msg.role = agent ? 'ROLE_AGENT' : 'ROLE_USER';
    msg.parts = parts.map(toV1Part);
  }
  return msg;
}

function toCanonicalPart(raw: unknown, field: string): CanonicalPart {
  if (typeof raw === 'string') return { t: 'text', text: raw };
  if (!isObj(raw)) throw new Invalid(field, `${field} must be an object or a string`);
  const metadata = isObj(raw.metadata) ? { metadata: raw.metadata } : {};
  const tag = raw.kind ?? raw.type;
  if (tag === 'text' || (tag === undefined && 'text' in raw)) {
    const text = raw.text ?? (tag !== undefined ? raw.content : undefined);
    if (typeof text !== 'string') throw new Invalid(`${field}.text`, `${field}.text must be a string`);
    return { t: 'text', text, ...metadata };
  }
  if (tag === 'file') {
    const file = isObj(raw.file) ? raw.file : raw;
    return fileOf(
      { uri: file.uri ?? file.url, bytes: file.bytes ?? file.raw, name: file.name ?? file.filename, mimeType: file.mimeType ?? file.mediaType },
      field,
      metadata,
    );
  }
  if (tag === undefined && ('url' in raw || 'raw' in raw)) {
    return fileOf({ uri: raw.url, bytes: raw.raw, name: raw.filename, mimeType: raw.mediaType }, field, metadata);
  }
  if (tag === 'data' || (tag === undefined && 'data' in raw)) {
    if (raw.data === undefined) throw new Invalid(`${field}.data`, `${field}.data is required`);
    return { t: 'data', data: raw.data, ...metadata };
  }
  throw new Invalid(field, tag === undefined ? `${field} is not a text, file or data part` : `${field} has an unknown kind ${JSON.stringify(tag)}`);
}

function fileOf(f: { uri: unknown; bytes: unknown; name: unknown; mimeType: unknown }, field: string, metadata: { metadata?: Obj }): CanonicalPart {
  const uri = typeof f.uri === 'string' && f.uri !== '' ? f.uri : undefined;
  const bytes = typeof f.bytes === 'string' && f.bytes !== '' ? f.bytes : undefined;
  if (!uri && !bytes) throw new Invalid(`${field}.file`, `${field}.file needs a uri or bytes`);
  return {
    t: 'file',
    ...(uri ? { uri } : { bytes }),
    ...(typeof f.name === 'string' && f.name ? { name: f.name } : {}),
    ...(typeof f.mimeType === 'string' && f.mimeType ? { mimeType: f.mimeType } : {}),
    ...metadata,
  };
}

function toV03Part(p: CanonicalPart): Obj {
  const metadata = p.metadata ? { metadata: p.metadata } : {};
  switch (p.t) {
    case 'text':
      return { kind: 'text', text: p.text, ...metadata };
    case 'file':
      return {
        kind: 'file',
        file: { ...(p.uri ? { uri: p.uri } : { bytes: p.bytes }), ...(p.name ? { name: p.name } : {}), ...(p.mimeType ? { mimeType: p.mimeType } : {}) },
        ...metadata,
      };
    case 'data':
      return { kind: 'data', data: p.data, ...metadata };
  }
}

function toV1Part(p: CanonicalPart): Obj {
  const metadata = p.metadata ? { metadata: p.metadata } : {};
  switch (p.t) {
    case 'text':
      return { text: p.text, ...metadata };
    case 'file':
      return {
        ...(p.uri ? { url: p.uri } : { raw: p.bytes }),
        ...(p.name ? { filename: p.name } : {}),
        ...(p.mimeType ? { mediaType: p.mimeType } : {}),
        ...metadata,
      };
    case 'data':
      return { data: p.data, ...metadata };
  }
}

/** An RFC 3339 timestamp (what A2A's ISO 8601 filters mean), with a date that exists. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * The numeric and time parameters of the known methods, where a wrong value would otherwise be
 * ignored or misread by the agent: `historyLength` (here or in `configuration`) is a whole number
 * >= 0, `pageSize` a whole number from 1 to 100, `statusTimestampAfter` an RFC 3339 timestamp.
 */
function checkBounds(params: Obj): void {
  const whole = (v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (v === undefined || v === null) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new Invalid(field, `${field} must be a whole number${max === Number.MAX_SAFE_INTEGER ? ` >= ${min}` : ` from ${min} to ${max}`}`);
    }
  };
  whole(params.historyLength, 'params.historyLength', 0);
  if (isObj(params.configuration)) whole(params.configuration.historyLength, 'params.configuration.historyLength', 0);
  whole(params.pageSize, 'params.pageSize', 1, 100);
  const after = params.statusTimestampAfter;
  if (after !== undefined && after !== null && (typeof after !== 'string' || !RFC3339.test(after) || Number.isNaN(Date.parse(after)) || !sameDate(after))) {
    throw new Invalid('params.statusTimestampAfter', 'params.statusTimestampAfter must be an RFC 3339 timestamp, e.g. 2026-01-31T10:00:00Z');
  }
}

/** The calendar date of a timestamp exists (Date.parse rolls 2026-02-30 over to March). */
function sameDate(ts: string): boolean {
  const [y, m, d] = ts.slice(0, 10).split('-').map(Number) as [number, number, number];
  const probe = new Date(Date.UTC(y, m - 1, d));
  return probe.getUTCFullYear() === y && probe.getUTCMonth() === m - 1 && probe.getUTCDate() === d;
}

function normalizeConfiguration(raw: unknown, dialect: A2ADialect): unknown {
  if (!isObj(raw)) throw new Invalid('params.configuration', 'params.configuration must be an object');
  const c: Obj = { ...raw };
  if (dialect === 'v1' && typeof c.blocking === 'boolean' && c.returnImmediately === undefined) {
    c.returnImmediately = !c.blocking;
    delete c.blocking;
  } else if (dialect === 'v0.3' && typeof c.returnImmediately === 'boolean' && c.blocking === undefined) {
    c.blocking = !c.returnImmediately;
    delete c.returnImmediately;
  }
  return c;
}

/** Life of a queued A2A message (table a2a_queue; the CHECK there lists the same values). */
export const QUEUE_STATUSES = ['queued', 'dispatched', 'completed', 'failed', 'dropped', 'expired'] as const;
export type QueueStatus = (typeof QUEUE_STATUSES)[number];

/** A queued A2A message as `GET /workspaces/:id/a2a/queue/:queue_id` shows it. */
export const QueueItemView = z.object({
  id: z.string(),
  workspace_id: z.string(),
  caller_id: z.string().nullable(),
  message_id: z.string(),
  method: z.string(),
  status: z.enum(QUEUE_STATUSES),
  attempts: z.number().int(),
  last_error: z.string().nullable(),
  delegation_id: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  dispatched_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  response_status: z.number().int().nullable(),
  response_body: z.unknown().optional(),
});
export type QueueItemView = z.infer<typeof QueueItemView>;
export const QueueStatus = {
  Queued: 'queued',
  Dispatched: 'dispatched',
  Completed: 'completed',
  Failed: 'failed',
  Dropped: 'dropped',
  Expired: 'expired',
} as const satisfies Record<string, QueueStatus>;

/** Life of a delegation (table delegations). */
export const DELEGATION_STATUSES = ['pending', 'dispatched', 'queued', 'completed', 'failed', 'canceled'] as const;
export type DelegationStatus = (typeof DELEGATION_STATUSES)[number];
export const DelegationStatus = {
  Pending: 'pending',
  Dispatched: 'dispatched',
  Queued: 'queued',
  Completed: 'completed',
  Failed: 'failed',
  /** The target canceled its task (a `tasks/cancel` reached it); final, like completed and failed. */
  Canceled: 'canceled',
} as const satisfies Record<string, DelegationStatus>;

/**
 * The platform's tools for agents (`POST /workspaces/:id/mcp`), in the order `tools/list` shows
 * them. The runtime calls them by these names.
 */
export const PLATFORM_TOOLS = [
  'list_peers',
  'get_workspace_info',
  'delegate_task',
  'delegate_task_async',
  'check_task_status',
  'send_message_to_user',
  'chat_history',
  'commit_memory_v2',
  'commit_summary',
  'search_memory',
  'forget_memory',
  'list_readable_namespaces',
  'list_writable_namespaces',
  'commit_memory',
  'recall_memory',
] as const;
export type PlatformToolName = (typeof PLATFORM_TOOLS)[number];
