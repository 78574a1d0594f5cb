import { textOfParts } from '@molecule/contracts';
import type { AdapterContext, AdapterFile, AdapterInput, ToolUse } from './types.js';
import type { PlatformToolInfo } from '../platform-tools.js';

/** How many prior turns from `metadata.history` (sent by the canvas) an LLM adapter replays. */
export const MAX_HISTORY = 20;

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

/**
 * The conversation an LLM sees for one turn: up to {@link MAX_HISTORY} prior turns from
 * `metadata.history` (`{role: "user"|"agent", parts}`), then this message's text with a list of
 * its attached files. Empty turns are dropped, consecutive turns of one role merged, and a leading
 * assistant turn dropped.
 */
export function conversation(input: AdapterInput): Turn[] {
  const history = Array.isArray(input.metadata.history) ? input.metadata.history.slice(-MAX_HISTORY) : [];
  const turns: Turn[] = [];
  for (const h of history) {
    if (typeof h !== 'object' || h === null) continue;
    const { role, parts } = h as { role?: unknown; parts?: unknown };
    const content = textOfParts(parts, '\n') ?? '';
    if (content && (role === 'user' || role === 'agent')) turns.push({ role: role === 'user' ? 'user' : 'assistant', content });
  }
  const text = withAttachedFiles(input.text, input.files);
  turns.push({ role: 'user', content: text || '(empty message)' });
  // Providers want user/assistant alternation starting with the user: merge runs, drop a leading reply.
  const merged: Turn[] = [];
  for (const t of turns) {
    const last = merged.at(-1);
    if (last && last.role === t.role) last.content = `${last.content}\n\n${t.content}`;
    else if (merged.length > 0 || t.role === 'user') merged.push({ ...t });
  }
  return merged;
}

/** `openai:gpt-4o` -> `gpt-4o`; other colons (Ollama's `llama3:8b`) are part of the name. */
export function modelName(model: string, provider: 'openai' | 'anthropic'): string {
  return model.startsWith(`${provider}:`) ? model.slice(provider.length + 1) : model;
}

/** What both LLM adapters are built from. `apiKey` is empty for keyless OpenAI-compatible endpoints. */
export interface LlmAdapterOptions {
  apiKey: string;
  baseUrl: string | undefined;
  model: string;
  systemPrompt: string | undefined;
  maxTokens: number;
}

/**
 * Model requests one turn may make while the model keeps calling tools. The last one forbids tool
 * calls, so the model has to answer with what it has.
 */
export const MAX_TOOL_ROUNDS = 8;

/**
 * The platform tools to offer the model: none when the agent runs standalone. Fail-open: a
 * platform that cannot list its tools right now leaves the model without them (logged) rather than
 * failing a turn that may not need them.
 */
export async function toolsForModel(ctx: AdapterContext): Promise<PlatformToolInfo[]> {
  if (!ctx.tools) return [];
  try {
    return await ctx.tools.list(ctx.signal);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    ctx.log.warn({ err }, 'answering without the platform tools: they could not be listed');
    return [];
  }
}

/** The outcome of one tool call the model asked for: what goes back to the model, and the tool use to report (C037). */
export interface ToolCallOutcome {
  /** The tool's answer, or why it failed; the model reads it either way. */
  text: string;
  isError: boolean;
  use: ToolUse;
}

/**
 * Runs one tool call of the model through the platform tools. `rawArgs` is the model's arguments:
 * a JSON text (OpenAI) or an object (Anthropic). Bad arguments, a refusing tool or an unreachable
 * platform come back as an error outcome for the model to read; only an abort throws.
 */
export async function runToolCall(ctx: AdapterContext, name: string, rawArgs: unknown): Promise<ToolCallOutcome> {
  const started = performance.now();
  const input = typeof rawArgs === 'string' ? rawArgs : JSON.stringify(rawArgs ?? {});
  const done = (text: string, isError: boolean): ToolCallOutcome => ({
    text,
    isError,
    use: { name, input, ...(isError ? { error: text } : { output: text }), durationMs: performance.now() - started },
  });
  let args: unknown = rawArgs ?? {};
  if (typeof rawArgs === 'string') {
    try {
      args = rawArgs.trim() === '' ? {} : JSON.parse(rawArgs);
    } catch {
      return done('the tool arguments are not valid JSON', true);
    }
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return done('the tool arguments must be a JSON object', true);
  if (!ctx.tools) return done('no platform tools are available to this agent', true);
  try {
    const r = await ctx.tools.call(name, args as Record<string, unknown>, ctx.signal);
    return done(r.text, r.isError);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    return done(err instanceof Error ? err.message : String(err), true);
  }
}

/** Every input token an Anthropic request was billed for: fresh, written to the prompt cache, and read from it. */
export function inputTokensOf(u: { input_tokens: number; cache_creation_input_tokens?: number | null; cache_read_input_tokens?: number | null }): number {
  return u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
}

/** The message text followed by the list of its attached files; `where` says where each one is (default: its URI). */
export function withAttachedFiles(text: string, files: readonly AdapterFile[], where: (f: AdapterFile) => string | undefined = (f) => f.uri): string {
  if (files.length === 0) return text;
  const list = files
    .map((f) => {
      const at = where(f);
      return `- ${f.name || 'file'}${at ? ` (${at})` : ''}${f.mimeType ? ` [${f.mimeType}]` : ''}`;
    })
    .join('\n');
  return `${text}\n\nAttached files:\n${list}`.trim();
}
