import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AgentCard, Role, TaskState, type Message, type Part } from '@a2a-js/sdk';
import { LegacyJsonRpcTransportHandler } from '@a2a-js/sdk/compat/v0_3/server';
import {
  AgentEvent,
  DefaultRequestHandler,
  InMemoryTaskStore,
  JsonRpcTransportHandler,
  ServerCallContext,
  UnauthenticatedUser,
  type AgentExecutor,
  type ExecutionEventBus,
  type RequestContext,
} from '@a2a-js/sdk/server';
import { isLegacyJsonRpcMethod, isV1JsonRpcMethod } from '@a2a-js/sdk/compat/v0_3';
import type { A2ADialect } from '@molecule/contracts';

const now = () => new Date().toISOString();
const textPart = (text: string): Part => ({ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' });
const agentMessage = (taskId: string, contextId: string, text: string): Message => ({
  messageId: randomUUID(),
  contextId,
  taskId,
  role: Role.ROLE_AGENT,
  parts: [textPart(text)],
  metadata: undefined,
  extensions: [],
  referenceTaskIds: [],
});

/**
 * Answers "echo: <text>" through a task's lifecycle (submitted, working, an artifact, completed);
 * "fail..." fails the task; "wait..." stays working until canceled.
 */
class EchoExecutor implements AgentExecutor {
  readonly #waiting = new Map<string, { contextId: string; bus: ExecutionEventBus; done: () => void }>();

  async execute(rc: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const { taskId, contextId } = rc;
    const text = rc.userMessage.parts.map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('');
    const status = (state: TaskState, message?: Message) => bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: { state, message, timestamp: now() }, metadata: undefined }));
    bus.publish(AgentEvent.task({ id: taskId, contextId, status: { state: TaskState.TASK_STATE_SUBMITTED, message: undefined, timestamp: now() }, artifacts: [], history: [rc.userMessage], metadata: undefined }));
    status(TaskState.TASK_STATE_WORKING);
    if (text.startsWith('wait')) {
      // Works until canceled.
      await new Promise<void>((done) => this.#waiting.set(taskId, { contextId, bus, done }));
      return;
    }
    if (text.startsWith('fail')) {
      status(TaskState.TASK_STATE_FAILED, agentMessage(taskId, contextId, 'Agent error: asked to fail'));
      bus.finished();
      return;
    }
    bus.publish(
      AgentEvent.artifactUpdate({
        taskId,
        contextId,
        artifact: { artifactId: `${taskId}-response`, name: 'response', description: '', parts: [textPart(`echo: ${text}`)], metadata: undefined, extensions: [] },
        append: false,
        lastChunk: true,
        metadata: undefined,
      }),
    );
    status(TaskState.TASK_STATE_COMPLETED, agentMessage(taskId, contextId, `echo: ${text}`));
    bus.finished();
  }

  async cancelTask(taskId: string, bus: ExecutionEventBus): Promise<void> {
    const w = this.#waiting.get(taskId);
    this.#waiting.delete(taskId);
    const target = w?.bus ?? bus;
    target.publish(AgentEvent.statusUpdate({ taskId, contextId: w?.contextId ?? '', status: { state: TaskState.TASK_STATE_CANCELED, message: undefined, timestamp: now() }, metadata: undefined }));
    target.finished();
    w?.done();
  }
}

/** The card of an agent that speaks one dialect: v0.3 fields only, or v1 fields only. */
function cardJson(dialect: A2ADialect, url: string): Record<string, unknown> {
  const common = { name: `${dialect}-only agent`, description: 'Speaks one A2A dialect.', version: '1.0.0', capabilities: { streaming: true }, defaultInputModes: ['text/plain'], defaultOutputModes: ['text/plain'], skills: [] };
  return dialect === 'v1'
    ? { ...common, supportedInterfaces: [{ url, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }] }
    : { ...common, protocolVersion: '0.3.0', url, preferredTransport: 'JSONRPC' };
}

export interface OneDialectAgent {
  url: string;
  card: Record<string, unknown>;
  /** The JSON-RPC methods it received, in order (the other dialect's are refused with -32601). */
  methods: string[];
  /** When set, the next message/send or SendMessage is answered with this body instead. */
  nextRaw: unknown;
  close(): Promise<void>;
}

/**
 * An A2A agent built on the official SDK that speaks only `dialect` over JSON-RPC: its card says
 * so, and a method of the other dialect gets -32601. For the dialect bridge's tests.
 */
export async function startOneDialectAgent(dialect: A2ADialect): Promise<OneDialectAgent> {
  const state: { card?: Record<string, unknown> } = {};
  const executor = new EchoExecutor();
  const holder: { handler?: DefaultRequestHandler } = {};
  const agent: OneDialectAgent = {
    url: '',
    card: {},
    methods: [],
    nextRaw: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (req.method === 'GET') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(state.card));
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; method?: string };
        agent.methods.push(String(body.method));
        const mine = dialect === 'v1' ? isV1JsonRpcMethod(body.method) : isLegacyJsonRpcMethod(body.method);
        if (!mine) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: body.id ?? null, error: { code: -32601, message: `method not found: ${String(body.method)}` } }));
          return;
        }
        if (agent.nextRaw !== undefined && (body.method === 'message/send' || body.method === 'SendMessage')) {
          const raw = agent.nextRaw;
          agent.nextRaw = undefined;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(raw));
          return;
        }
        const transport = dialect === 'v1' ? new JsonRpcTransportHandler(holder.handler!) : new LegacyJsonRpcTransportHandler(holder.handler!);
        const context = new ServerCallContext({ user: new UnauthenticatedUser(), requestedVersion: dialect === 'v1' ? '1.0' : '0.3' });
        const out = await transport.handle(body as Record<string, unknown>, context);
        if (typeof out === 'object' && out !== null && Symbol.asyncIterator in out) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          for await (const e of out as AsyncGenerator<unknown>) res.write(`data: ${JSON.stringify(e)}\n\n`);
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
      })().catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  agent.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  state.card = cardJson(dialect, agent.url);
  agent.card = state.card;
  // The SDK's handler wants its card in v1 form whatever the dialect on the wire.
  holder.handler = new DefaultRequestHandler(AgentCard.fromJSON(cardJson('v1', agent.url)), new InMemoryTaskStore(), executor);
  return agent;
}
