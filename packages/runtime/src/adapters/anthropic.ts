import Anthropic from '@anthropic-ai/sdk';
import type { Adapter, AdapterContext, AdapterEvent, AdapterInput } from './types.js';
import { conversation, inputTokensOf, MAX_TOOL_ROUNDS, runToolCall, toolsForModel, type LlmAdapterOptions } from './llm.js';

export type AnthropicAdapterOptions = LlmAdapterOptions;

/**
 * Anthropic's Messages API through the official client, streaming: each text delta is a reply
 * chunk. With a platform, the platform tools are offered to the model; its `tool_use` blocks run
 * through them, the results go back as `tool_result` blocks, and each call is reported as a tool
 * use, for up to {@link MAX_TOOL_ROUNDS} model requests. Canceling aborts the request.
 */
export class AnthropicAdapter implements Adapter {
  readonly name = 'anthropic';
  private readonly client: Anthropic;

  constructor(private readonly opts: AnthropicAdapterOptions) {
    this.client = new Anthropic({ apiKey: opts.apiKey, baseURL: opts.baseUrl, maxRetries: 2 });
  }

  async *run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    const messages: Anthropic.MessageParam[] = conversation(input);
    const tools: Anthropic.Tool[] = (await toolsForModel(ctx)).map((t) => ({
      name: t.name,
      description: t.description,
      input_schema: { ...t.inputSchema, type: 'object' },
    }));
    let spoke = false;
    for (let round = 1; round <= MAX_TOOL_ROUNDS; round++) {
      const last = round === MAX_TOOL_ROUNDS;
      const stream = this.client.messages.stream(
        {
          model: this.opts.model,
          max_tokens: this.opts.maxTokens,
          ...(this.opts.systemPrompt ? { system: this.opts.systemPrompt } : {}),
          messages,
          ...(tools.length > 0 ? { tools, ...(last ? { tool_choice: { type: 'none' as const } } : {}) } : {}),
        },
        { signal: ctx.signal },
      );
      let spokeThisRound = false;
      for await (const ev of stream) {
        if (ev.type !== 'content_block_delta' || ev.delta.type !== 'text_delta' || !ev.delta.text) continue;
        // Text after a tool round starts a new paragraph of the reply.
        yield { type: 'text', text: spoke && !spokeThisRound ? `\n\n${ev.delta.text}` : ev.delta.text };
        spokeThisRound = true;
      }
      spoke ||= spokeThisRound;
      const final = await stream.finalMessage();
      yield { type: 'usage', inputTokens: inputTokensOf(final.usage), outputTokens: final.usage.output_tokens };
      const uses = final.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
      if (uses.length === 0) return;
      if (last) break;
      const said: Anthropic.ContentBlockParam[] = final.content.flatMap((b): Anthropic.ContentBlockParam[] =>
        b.type === 'text' ? [{ type: 'text', text: b.text }] : b.type === 'tool_use' ? [{ type: 'tool_use', id: b.id, name: b.name, input: b.input }] : [],
      );
      messages.push({ role: 'assistant', content: said });
      const results: Anthropic.ToolResultBlockParam[] = [];
      for (const use of uses) {
        const r = await runToolCall(ctx, use.name, use.input);
        yield { type: 'tool', ...r.use };
        results.push({ type: 'tool_result', tool_use_id: use.id, content: r.text, ...(r.isError ? { is_error: true } : {}) });
      }
      messages.push({ role: 'user', content: results });
    }
    throw new Error(`the model still asked for tools after ${MAX_TOOL_ROUNDS} requests; giving up on this message`);
  }
}
