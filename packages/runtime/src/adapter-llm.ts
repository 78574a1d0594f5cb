import type { AdapterInput } from './adapter.js';

/** How many prior turns from `metadata.history` (sent by the canvas) an LLM adapter replays. */
export const MAX_HISTORY = 20;

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

function textOfParts(parts: unknown): string {
  if (!Array.isArray(parts)) return '';
  return parts
    .map((p) => (typeof p === 'string' ? p : typeof p === 'object' && p !== null && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
    .filter(Boolean)
    .join('\n');
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
    const content = textOfParts(parts);
    if (content && (role === 'user' || role === 'agent')) turns.push({ role: role === 'user' ? 'user' : 'assistant', content });
  }
  let text = input.text;
  if (input.files.length > 0) {
    const list = input.files.map((f) => `- ${f.name || 'file'}${f.uri ? ` (${f.uri})` : ''}${f.mimeType ? ` [${f.mimeType}]` : ''}`).join('\n');
    text = `${text}\n\nAttached files:\n${list}`.trim();
  }
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
