import OpenAI from 'openai';
import type { Adapter, AdapterContext, AdapterEvent, AdapterInput } from './types.js';
import { conversation, MAX_TOOL_ROUNDS, runToolCall, toolsForModel, type LlmAdapterOptions } from './llm.js';

export type OpenAIAdapterOptions = LlmAdapterOptions;

/**
 * Any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, OpenRouter...) through the
 * official client, streaming: each content delta is a reply chunk. With a platform, the platform
 * tools are offered as functions; the model's tool calls run through them, their results go back
 * to the model, and each call is reported as a tool use, for up to {@link MAX_TOOL_ROUNDS} model
 * requests. Canceling aborts the request.
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
    const tools: OpenAI.Chat.ChatCompletionTool[] = (await toolsForModel(ctx)).map((t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.inputSchema },
    }));
    let spoke = false;
    for (let round = 1; round <= MAX_TOOL_ROUNDS; round++) {
      const last = round === MAX_TOOL_ROUNDS;
      const stream = this.client.chat.completions.stream(
        {
          model: this.opts.model,
          messages,
          max_completion_tokens: this.opts.maxTokens,
          // The last chunk then carries the request's token counts (budgets).
          stream_options: { include_usage: true },
          ...(tools.length > 0 ? { tools, ...(last ? { tool_choice: 'none' as const } : {}) } : {}),
        },
        { signal: ctx.signal },
      );
      let spokeThisRound = false;
      for await (const chunk of stream) {
        const text = chunk.choices[0]?.delta?.content;
        if (!text) continue;
        // Text after a tool round starts a new paragraph of the reply.
        yield { type: 'text', text: spoke && !spokeThisRound ? `\n\n${text}` : text };
        spokeThisRound = true;
      }
      spoke ||= spokeThisRound;
      const completion = await stream.finalChatCompletion();
      if (completion.usage) yield { type: 'usage', inputTokens: completion.usage.prompt_tokens, outputTokens: completion.usage.completion_tokens };
      const message = completion.choices[0]?.message;
      const calls = (message?.tool_calls ?? []).filter((c) => c.type === 'function');
      if (calls.length === 0) return;
      if (last) break;
      messages.push({ role: 'assistant', content: message?.content ?? null, tool_calls: calls });
      for (const call of calls) {
        const r = await runToolCall(ctx, call.function.name, call.function.arguments);
        yield { type: 'tool', ...r.use };
        messages.push({ role: 'tool', tool_call_id: call.id, content: r.isError ? `Error: ${r.text}` : r.text });
      }
    }
    throw new Error(`the model still asked for tools after ${MAX_TOOL_ROUNDS} requests; giving up on this message`);
  }
}
