import type { RuntimeCapability } from '@molecule/contracts';
import type { AgentConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { PlatformTools } from '../platform-tools.js';

/** One file attached to the incoming message. */
export interface AdapterFile {
  uri?: string;
  /** Inline content, base64. */
  bytes?: string;
  name: string;
  mimeType: string;
}

/** What an adapter is asked to do: one user turn of one A2A task. */
export interface AdapterInput {
  /** The message's text parts, joined with newlines. */
  text: string;
  files: AdapterFile[];
  /** Structured (`data`) parts, as sent. */
  data: unknown[];
  taskId: string;
  contextId: string;
  messageId: string;
  /** `params.metadata` merged over `params.message.metadata` (history, parent_task_id...). */
  metadata: Record<string, unknown>;
}

export interface AdapterContext {
  /** Aborted when the task is canceled or the agent shuts down; adapters stop promptly. */
  signal: AbortSignal;
  log: Logger;
  /** The platform's agent tools (list_peers, delegate_task...); absent when the agent runs standalone. */
  tools?: PlatformTools;
}

/** A tool the adapter used during a turn; the agent reports each one to the platform's activity log (C037). */
export interface ToolUse {
  name: string;
  input?: string;
  output?: string;
  /** Set when the tool failed. */
  error?: string;
  durationMs?: number;
}

/** Model tokens one model request (or a whole SDK turn) used, as the model server counted them. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

/**
 * What an adapter streams: `text` is a piece of the reply (the reply is the concatenation of every
 * `text` event, in order); `tool` records a tool use and adds nothing to the reply; `usage` adds
 * model tokens to the turn's count (the answer carries the sum, and the platform charges it to the
 * workspace's budget).
 */
export type AdapterEvent = { type: 'text'; text: string } | ({ type: 'tool' } & ToolUse) | ({ type: 'usage' } & TokenUsage);

/**
 * What every adapter implements. `run` either streams events (each `text` event becomes an
 * artifact chunk on the task) or resolves to the whole reply; throwing fails the task with the
 * error's message.
 */
export interface Adapter {
  readonly name: string;
  run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> | Promise<string>;
  /** Concerns this adapter owns natively (C030); the heartbeat declares them. Default: none. */
  capabilities?(): Partial<Record<RuntimeCapability, boolean>>;
  /** Seconds of silence the platform's A2A proxy should tolerate per dispatch (C032). */
  idleTimeoutSeconds?(): number | undefined;
  /** A reason when the adapter knows it is stuck and needs a restart (`runtime_state: wedged`). */
  wedgedReason?(): string | undefined;
  close?(): Promise<void>;
}

/** What adapters are built from; the SDK adapters also need the agent's directories and platform. */
export type AdapterConfig = Pick<AgentConfig, 'workspace' | 'llm'> &
  Partial<Pick<AgentConfig, 'workspaceDir' | 'configsDir' | 'platformUrl' | 'workspaceId' | 'token'>> & { log?: Logger };
