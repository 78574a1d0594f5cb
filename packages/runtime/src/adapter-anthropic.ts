import Anthropic from '@anthropic-ai/sdk';
import type { Adapter, AdapterContext, AdapterEvent, AdapterInput } from './adapter.js';
import { conversation, type LlmAdapterOptions } from './adapter-llm.js';

export type AnthropicAdapterOptions = LlmAdapterOptions;

/**
 * Anthropic's Messages API through the official client, streaming: each text delta is a reply
 * chunk. Canceling aborts the request.
 */
export class AnthropicAdapter implements Adapter {
  readonly name = 'anthropic';
  private readonly client: Anthropic;

  constructor(private readonly opts: AnthropicAdapterOptions) {
    this.client = new Anthropic({ apiKey: opts.apiKey, baseURL: opts.baseUrl, maxRetries: 2 });
  }

  async *run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    const stream = await this.client.messages.create(
      {
        model: this.opts.model,
        max_tokens: this.opts.maxTokens,
        ...(this.opts.systemPrompt ? { system: this.opts.systemPrompt } : {}),
        messages: conversation(input),
        stream: true,
      },
      { signal: ctx.signal },
    );
    for await (const ev of stream) {
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta' && ev.delta.text) yield { type: 'text', text: ev.delta.text };
    }
  }
}
