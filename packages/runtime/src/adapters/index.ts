import { DEFAULT_MODELS, DEFAULTS } from '../config.js';
import { EchoAdapter } from './echo.js';
import { modelName, type LlmAdapterOptions } from './llm.js';
import { ScriptAdapter } from './script.js';
import type { Adapter, AdapterConfig } from './types.js';

export type { Adapter, AdapterConfig, AdapterContext, AdapterEvent, AdapterFile, AdapterInput, ToolUse } from './types.js';

/**
 * The adapter `config.yaml` names (`auto` already settled by loadConfig). The LLM clients load only
 * when an LLM adapter is used: they double an echo agent's start time otherwise.
 */
export async function createAdapter(config: AdapterConfig): Promise<Adapter> {
  const { workspace: ws, llm } = config;
  switch (ws.adapter) {
    case 'echo':
      return new EchoAdapter();
    case 'script':
      return new ScriptAdapter(ws.script ?? []);
    case 'openai':
    case 'anthropic': {
      const provider = ws.adapter;
      const opts: LlmAdapterOptions = {
        apiKey: (provider === 'openai' ? llm.openaiApiKey : llm.anthropicApiKey) ?? '',
        baseUrl: (provider === 'openai' ? llm.openaiBaseUrl : llm.anthropicBaseUrl) ?? ws.base_url,
        model: modelName(ws.model ?? DEFAULT_MODELS[provider], provider),
        systemPrompt: ws.system_prompt,
        maxTokens: ws.max_tokens,
      };
      if (provider === 'openai') return new (await import('./openai.js')).OpenAIAdapter(opts);
      return new (await import('./anthropic.js')).AnthropicAdapter(opts);
    }
    case 'claude-code':
      // The SDK itself loads on the first message (the adapter imports it lazily).
      return new (await import('./claude-code.js')).ClaudeCodeAdapter({
        workspaceDir: config.workspaceDir ?? DEFAULTS.workspaceDir,
        apiKey: llm.anthropicApiKey ?? '',
        baseUrl: llm.anthropicBaseUrl ?? ws.base_url,
        model: ws.model ? modelName(ws.model, 'anthropic') : undefined,
        systemPrompt: ws.system_prompt,
      });
    case 'openai-agents':
    case 'codex':
    case 'langgraph':
    case 'acp':
      return (await import('./sdk.js')).createSdkAdapter(config);
  }
}
