import OpenAI from 'openai';
import type { Adapter, AdapterContext, AdapterEvent, AdapterInput } from './adapter.js';
import { conversation, type LlmAdapterOptions } from './adapter-llm.js';

export type OpenAIAdapterOptions = LlmAdapterOptions;

/**
 * Any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, OpenRouter...) through the
 * official client, streaming: each content delta is a reply chunk. Canceling aborts the request.
 */
export class OpenAIAdapter implements Adapter {
  readonly name = 'openai';
  private readonly client: OpenAI;

  constructor(private readonly opts: OpenAIAdapterOptions) {
    // The client insists on a key; keyless local endpoints ignore whatever is sent.
    this.client = new OpenAI({ apiKey: opts.apiKey || 'not-needed', baseURL: opts.baseUrl, maxRetries: 2 });
  }

  async *run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      ...(this.opts.systemPrompt ? [{ role: 'system' as const, content: this.opts.systemPrompt }] : []),
      ...conversation(input),
    ];
    const stream = await this.client.chat.completions.create(
      { model: this.opts.model, messages, stream: true, max_completion_tokens: this.opts.maxTokens },
      { signal: ctx.signal },
    );
    for await (const chunk of stream) {
      const text = chunk.choices[0]?.delta?.content;
      if (text) yield { type: 'text', text };
    }
  }
}
