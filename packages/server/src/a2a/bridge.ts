import { Readable } from 'node:stream';
import { AgentCard, formatSSEErrorEvent, formatSSEEvent } from '@a2a-js/sdk';
import { JsonRpcTransportFactory, type Transport } from '@a2a-js/sdk/client';
import { LegacyJsonRpcTransport, parseLegacyAgentCard } from '@a2a-js/sdk/compat/v0_3/client';
import { LegacyJsonRpcTransportHandler } from '@a2a-js/sdk/compat/v0_3/server';
import { A2AError, InvalidAgentResponseError, JsonRpcTransportError } from '@a2a-js/sdk/errors';
import { JsonRpcTransportHandler, ServerCallContext, UnauthenticatedUser, type A2ARequestHandler } from '@a2a-js/sdk/server';
import { isRecord, normalizeA2ARequest, type A2ADialect, type NormalizedA2ARequest } from '@molecule/contracts';
import type { ProxyOutcome } from './outcome.js';

/**
 * The A2A dialects an agent card says its agent speaks over JSON-RPC: v1 when `supportedInterfaces`
 * lists a JSON-RPC interface of protocol version 1.x, v0.3 when the card's own `protocolVersion` is
 * 0.x (a v0.3 card, or a card written for both). Empty when the card says neither (no card yet, or
 * another shape): the proxy then forwards as it always did, untranslated.
 */
export function cardDialects(card: unknown): Set<A2ADialect> {
  const out = new Set<A2ADialect>();
  if (!isRecord(card)) return out;
  if (typeof card.protocolVersion === 'string' && card.protocolVersion.startsWith('0.')) out.add('v0.3');
  if (Array.isArray(card.supportedInterfaces)) {
    for (const i of card.supportedInterfaces) {
      if (!isRecord(i) || typeof i.protocolVersion !== 'string') continue;
      if (typeof i.protocolBinding === 'string' && i.protocolBinding.toUpperCase() !== 'JSONRPC') continue;
      if (i.protocolVersion.startsWith('1')) out.add('v1');
      else if (i.protocolVersion.startsWith('0.')) out.add('v0.3');
    }
  }
  return out;
}

/**
 * The dialect a request must be translated to for `card`'s agent, or undefined when it can go as
 * it came: the method is one neither dialect defines (forwarded unchanged), the agent speaks the
 * caller's dialect, or its card does not say what it speaks.
 */
export function bridgeTo(rpc: NormalizedA2ARequest, card: unknown): A2ADialect | undefined {
  if (rpc.dialect === null) return undefined;
  const speaks = cardDialects(card);
  if (speaks.size === 0 || speaks.has(rpc.dialect)) return undefined;
  return rpc.dialect === 'v1' ? 'v0.3' : 'v1';
}

/** Sends one request, already in the agent's dialect, and says what became of it. */
export type RawDispatch = (translated: NormalizedA2ARequest) => Promise<ProxyOutcome>;

/**
 * Carries an outcome that is not an agent's answer (queued, busy, restarting, failed...) out of the
 * SDK, which would otherwise turn it into a JSON-RPC error: such outcomes are the proxy's own and
 * mean the same in every dialect.
 */
class NotAnAnswer extends Error {
  constructor(readonly outcome: ProxyOutcome) {
    super('the agent did not answer');
  }
}

/**
 * A fetch for the SDK's client transports that goes through the proxy's own dispatch (SSRF checks,
 * idle timers, the size cap, activity rows, busy and dead-agent handling): the SDK serialises the
 * request in the agent's dialect, `send` delivers it, and the SDK parses the agent's answer. An
 * outcome that is not an answer is kept in `held` and thrown past the SDK.
 */
function bridgeFetch(send: RawDispatch, held: { outcome?: ProxyOutcome }): typeof fetch {
  return async (_input, init) => {
    const normalized = normalizeA2ARequest(JSON.parse(String(init?.body ?? 'null')) as unknown);
    if (!normalized.ok) throw new Error(`the translated request is not valid A2A: ${normalized.error.message}`);
    const o = await send(normalized.value);
    if (o.kind === 'answered') return new Response(new Uint8Array(o.raw), { status: o.status, headers: { 'content-type': 'application/json' } });
    if (o.kind === 'streaming') {
      return new Response(Readable.toWeb(o.body) as ReadableStream<Uint8Array>, { status: o.status, headers: { 'content-type': o.contentType } });
    }
    held.outcome = o;
    throw new NotAnAnswer(o);
  };
}

/**
 * What the SDK's client threw, as the caller will see it: the agent's own A2A errors keep their
 * codes; anything else (the answer did not parse as the agent's dialect) is the agent's answer being
 * invalid: InvalidAgentResponseError (-32006), whatever the caller's dialect.
 */
function asA2AError(err: unknown): unknown {
  if (err instanceof A2AError || err instanceof JsonRpcTransportError || err instanceof NotAnAnswer) return err;
  return new InvalidAgentResponseError(`the agent's answer is not valid A2A: ${err instanceof Error ? err.message : String(err)}`);
}

async function call<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw asA2AError(err);
  }
}

async function* stream<T>(g: AsyncGenerator<T, void, undefined>): AsyncGenerator<T, void, undefined> {
  try {
    yield* g;
  } catch (err) {
    throw asA2AError(err);
  }
}

/** The A2A request handler the SDK's server side calls, answered by a client transport to the agent. */
function forwardingHandler(t: Transport, card: AgentCard): A2ARequestHandler {
  return {
    // The SDK's server side reads it (streaming, push support): the agent's own card.
    getAgentCard: async () => card,
    getAuthenticatedExtendedAgentCard: (p) => call(t.getExtendedAgentCard(p)),
    sendMessage: (p) => call(t.sendMessage(p)),
    sendMessageStream: (p) => stream(t.sendMessageStream(p)),
    getTask: (p) => call(t.getTask(p)),
    cancelTask: (p) => call(t.cancelTask(p)),
    createTaskPushNotificationConfig: (p) => call(t.createTaskPushNotificationConfig(p)),
    getTaskPushNotificationConfig: (p) => call(t.getTaskPushNotificationConfig(p)),
    listTaskPushNotificationConfigs: (p) => call(t.listTaskPushNotificationConfig(p)),
    deleteTaskPushNotificationConfig: (p) => call(t.deleteTaskPushNotificationConfig(p)),
    resubscribe: (p) => stream(t.resubscribeTask(p)),
    listTasks: (p) => call(t.listTasks(p)),
  };
}

const BRIDGE_ENDPOINT = 'http://agent.invalid/';

/** The agent's card as the SDK's types (a v0.3 card converted by the SDK). */
function sdkCard(card: unknown): AgentCard {
  if (isRecord(card) && typeof card.protocolVersion === 'string' && card.protocolVersion.startsWith('0.')) return parseLegacyAgentCard(card);
  return AgentCard.fromJSON(card);
}

/**
 * One exchange between a caller and an agent that speak different A2A dialects, translated both
 * ways by the official SDK: the caller's request is read by the SDK's server side of its dialect,
 * handed to the SDK's client of the agent's dialect, which `send`s it; the agent's answer comes back
 * the same way, so answers, streamed events and errors reach the caller in its own dialect. An agent
 * answer that does not fit the A2A types fails in the SDK's parsing and reaches the caller as a
 * JSON-RPC error, never as a half-translated result.
 */
export async function bridgeExchange(rpc: NormalizedA2ARequest & { dialect: A2ADialect }, to: A2ADialect, agentCard: unknown, send: RawDispatch): Promise<ProxyOutcome> {
  const held: { outcome?: ProxyOutcome } = {};
  const fetchImpl = bridgeFetch(send, held);
  const card = sdkCard(agentCard);
  const client = to === 'v1' ? await new JsonRpcTransportFactory({ fetchImpl }).create(BRIDGE_ENDPOINT, card) : new LegacyJsonRpcTransport({ endpoint: BRIDGE_ENDPOINT, fetchImpl });
  const handler = forwardingHandler(client, card);
  const server = rpc.dialect === 'v1' ? new JsonRpcTransportHandler(handler) : new LegacyJsonRpcTransportHandler(handler);
  const context = new ServerCallContext({ user: new UnauthenticatedUser(), requestedVersion: rpc.dialect === 'v1' ? '1.0' : '0.3' });
  const out = await server.handle(withBlockingKept(rpc, to) as unknown as Record<string, unknown>, context);
  if (!isAsyncGenerator(out)) {
    if (held.outcome) return held.outcome;
    return answered(out);
  }
  // A stream dials the agent when it is first read: read one event to know whether it answered.
  const first = await out.next();
  if (held.outcome) return held.outcome;
  if (first.done) return answered({ jsonrpc: '2.0', id: rpc.id, result: null });
  return { kind: 'streaming', status: 200, contentType: 'text/event-stream', body: Readable.from(sse(first.value, out, rpc.dialect)) };
}

/**
 * A v1 send without a configuration waits for the task (returnImmediately is false by default); the
 * SDK's v0.3 translation then leaves `blocking` out, which v0.3 servers may read as not blocking. An
 * empty configuration makes the translation say `blocking: true`, as the caller meant.
 */
function withBlockingKept(rpc: NormalizedA2ARequest, to: A2ADialect): NormalizedA2ARequest['request'] {
  if (to !== 'v0.3' || rpc.kind === 'other' || rpc.request.params.configuration !== undefined) return rpc.request;
  return { ...rpc.request, params: { ...rpc.request.params, configuration: {} } };
}

function answered(body: unknown): ProxyOutcome {
  const raw = Buffer.from(JSON.stringify(body));
  return { kind: 'answered', status: 200, answer: body, raw };
}

function isAsyncGenerator(v: unknown): v is AsyncGenerator<unknown, void, undefined> {
  return typeof v === 'object' && v !== null && Symbol.asyncIterator in v;
}

/** The translated events as SSE frames; a failure after the first event is an `error` event. */
async function* sse(first: unknown, rest: AsyncGenerator<unknown, void, undefined>, dialect: A2ADialect): AsyncGenerator<string> {
  yield formatSSEEvent(first);
  try {
    for await (const e of rest) yield formatSSEEvent(e);
  } catch (err) {
    yield formatSSEErrorEvent(dialect === 'v1' ? JsonRpcTransportHandler.mapToJSONRPCError(err) : LegacyJsonRpcTransportHandler.mapToLegacyJSONRPCError(err));
  }
}
