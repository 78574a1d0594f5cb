import { randomUUID } from 'node:crypto';
import { Role, TaskState, type Message, type Part } from '@a2a-js/sdk';
import { AgentEvent, type AgentExecutor, type ExecutionEventBus, type RequestContext } from '@a2a-js/sdk/server';
import type { Adapter, AdapterEvent, AdapterInput, ToolUse } from './adapters/index.js';
import type { Logger } from './log.js';
import type { PlatformTools } from './platform-tools.js';
import type { TaskSlot, TaskTracker } from './tasks.js';

/** Key in the SDK's ServerCallContext.state under which the HTTP layer hands over the admitted slot. */
export const TASK_SLOT_STATE_KEY = 'molecule.taskSlot';
/** The id of the artifact that carries the reply text. */
export const RESPONSE_ARTIFACT_NAME = 'response';

interface RunningTask {
  contextId: string;
  /** The sender's messageId: the platform names a pushed request it gives up on by it. */
  messageId: string;
  abort: AbortController;
  bus: ExecutionEventBus;
  canceled: boolean;
}

const now = () => new Date().toISOString();

function textPart(text: string): Part {
  return { content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' };
}

function agentMessage(taskId: string, contextId: string, text: string, metadata?: Record<string, unknown>): Message {
  return {
    messageId: randomUUID(),
    contextId,
    taskId,
    role: Role.ROLE_AGENT,
    parts: [textPart(text)],
    metadata,
    extensions: [],
    referenceTaskIds: [],
  };
}

/** The adapter's view of the incoming message. */
export function adapterInput(rc: RequestContext): AdapterInput {
  const msg = rc.userMessage;
  const texts: string[] = [];
  const input: AdapterInput = {
    text: '',
    files: [],
    data: [],
    taskId: rc.taskId,
    contextId: rc.contextId,
    messageId: msg.messageId,
    metadata: { ...(msg.metadata ?? {}), ...(rc.request.metadata ?? {}) },
  };
  for (const p of msg.parts) {
    const c = p.content;
    if (!c) continue;
    if (c.$case === 'text') texts.push(c.value);
    else if (c.$case === 'url') input.files.push({ uri: c.value, name: p.filename, mimeType: p.mediaType });
    else if (c.$case === 'raw') input.files.push({ bytes: Buffer.from(c.value).toString('base64'), name: p.filename, mimeType: p.mediaType });
    else input.data.push(c.value);
  }
  input.text = texts.join('\n');
  return input;
}

/** A token count as reported, or 0 when it is not a sane count. */
const tokens = (n: number) => (Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);

async function* eventsOf(result: AsyncIterable<AdapterEvent> | Promise<string>): AsyncIterable<AdapterEvent> {
  if (Symbol.asyncIterator in result) yield* result;
  else yield { type: 'text', text: await result };
}

/**
 * Runs one adapter turn per A2A message as a task: `submitted` -> `working` -> reply chunks as
 * artifact updates -> `completed` with the whole reply as the status message (and as the final
 * `response` artifact), or `failed` with "Agent error: ...", or `canceled`. Never throws: every
 * outcome is a task state, and every outcome is recorded on the task tracker.
 */
export class AdapterExecutor implements AgentExecutor {
  private readonly running = new Map<string, RunningTask>();

  constructor(
    private readonly adapter: Adapter,
    private readonly tracker: TaskTracker,
    private readonly log: Logger,
    private readonly hooks: {
      /** Told about each tool use (the agent reports it to the platform); must not throw. */
      onToolUse?: (use: ToolUse, taskId: string) => void;
      /** The platform tools handed to the adapter, once the agent has a platform. */
      tools?: () => PlatformTools | undefined;
    } = {},
  ) {}

  execute = async (rc: RequestContext, bus: ExecutionEventBus): Promise<void> => {
    // Claim the slot synchronously, before any await, so the HTTP layer sees it started.
    const slot = (rc.context.state.get(TASK_SLOT_STATE_KEY) as TaskSlot | undefined) ?? this.tracker.forceReserve();
    const { taskId, contextId } = rc;
    const input = adapterInput(rc);
    slot.start(taskId, input.text);
    const task: RunningTask = { contextId, messageId: input.messageId, abort: new AbortController(), bus, canceled: false };
    this.running.set(taskId, task);
    const status = (state: TaskState, message?: Message) =>
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: { state, message, timestamp: now() }, metadata: undefined }));
    const artifact = (text: string, append: boolean, lastChunk: boolean) =>
      bus.publish(
        AgentEvent.artifactUpdate({
          taskId,
          contextId,
          artifact: { artifactId: `${taskId}-response`, name: RESPONSE_ARTIFACT_NAME, description: '', parts: [textPart(text)], metadata: undefined, extensions: [] },
          append,
          lastChunk,
          metadata: undefined,
        }),
      );

    try {
      bus.publish(
        AgentEvent.task(
          rc.task ?? {
            id: taskId,
            contextId,
            status: { state: TaskState.TASK_STATE_SUBMITTED, message: undefined, timestamp: now() },
            artifacts: [],
            history: [rc.userMessage],
            metadata: undefined,
          },
        ),
      );
      status(TaskState.TASK_STATE_WORKING);
      let reply = '';
      let chunks = 0;
      const usage = { input_tokens: 0, output_tokens: 0 };
      const tools = this.hooks.tools?.();
      const ctx = { signal: task.abort.signal, log: this.log.child({ task_id: taskId }), ...(tools ? { tools } : {}) };
      for await (const ev of eventsOf(this.adapter.run(input, ctx))) {
        if (task.canceled) break;
        if (ev.type === 'tool') {
          const { type: _type, ...use } = ev;
          try {
            this.hooks.onToolUse?.(use, taskId);
          } catch (err) {
            // Telemetry never fails the task.
            this.log.warn({ task_id: taskId, err }, 'could not hand a tool use over for reporting');
          }
          continue;
        }
        if (ev.type === 'usage') {
          usage.input_tokens += tokens(ev.inputTokens);
          usage.output_tokens += tokens(ev.outputTokens);
          continue;
        }
        if (ev.text === '') continue;
        reply += ev.text;
        artifact(ev.text, chunks++ > 0, false);
      }
      if (task.canceled) return slot.finish({ kind: 'canceled' });
      // The last update replaces the artifact with the whole reply, so any reader ends consistent.
      artifact(reply, false, true);
      // The turn's model tokens ride on the final message, where the platform's proxy reads them for budgets.
      const spent = usage.input_tokens + usage.output_tokens > 0 ? { usage } : undefined;
      status(TaskState.TASK_STATE_COMPLETED, agentMessage(taskId, contextId, reply, spent));
      slot.finish({ kind: 'completed' });
    } catch (err) {
      if (task.canceled) return slot.finish({ kind: 'canceled' });
      const error = err instanceof Error ? err.message : String(err);
      this.log.warn({ task_id: taskId, err }, 'task failed');
      status(TaskState.TASK_STATE_FAILED, agentMessage(taskId, contextId, `Agent error: ${error}`));
      slot.finish({ kind: 'failed', error });
    } finally {
      this.running.delete(taskId);
    }
  };

  /** Stops the adapter and ends the task `canceled`; the SDK answers tasks/cancel from that event. */
  cancelTask = async (taskId: string, bus: ExecutionEventBus): Promise<void> => {
    const task = this.running.get(taskId);
    if (!task || task.canceled) return;
    this.cancel(taskId, task, 'Task canceled on request.', bus);
  };

  /**
   * Cancels the running task of the message `messageId` (the platform gave up on a request it pushed
   * over the agent socket): its adapter's signal aborts and the task ends `canceled`. False when no
   * task runs for it.
   */
  cancelMessage(messageId: string, reason: string): boolean {
    for (const [taskId, task] of this.running) {
      if (task.messageId !== messageId || task.canceled) continue;
      this.cancel(taskId, task, reason, task.bus);
      return true;
    }
    return false;
  }

  /** Cancels every running task (shutdown). */
  abortAll(reason: string): void {
    for (const [taskId, task] of this.running) this.cancel(taskId, task, reason, task.bus);
  }

  private cancel(taskId: string, task: RunningTask, reason: string, bus: ExecutionEventBus): void {
    task.canceled = true;
    task.abort.abort(new Error(reason));
    bus.publish(
      AgentEvent.statusUpdate({
        taskId,
        contextId: task.contextId,
        status: { state: TaskState.TASK_STATE_CANCELED, message: agentMessage(taskId, task.contextId, reason), timestamp: now() },
        metadata: undefined,
      }),
    );
  }
}
