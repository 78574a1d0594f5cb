import { describe, expect, it } from 'vitest';
import { PROVIDER_OF_PREFIX, providerFromModel } from './secrets.js';

describe('providers from model slugs', () => {
  it('C127 maps each known prefix to its provider; openai/ and nousresearch/ mean openrouter; no or unknown prefix gives ""', () => {
    const cases: [string, string][] = [
      ['anthropic/claude-sonnet-4-5', 'anthropic'],
      ['xai/grok-4', 'xai'],
      ['grok/grok-4', 'xai'],
      ['bedrock/anthropic.claude-v2', 'bedrock'],
      ['aws/claude', 'bedrock'],
      ['tencent/hy3', 'tencent-tokenhub'],
      ['tencent-tokenhub/hy3-preview', 'tencent-tokenhub'],
      ['gmi/llama', 'gmi'],
      ['qwen-oauth/qwen3.5-plus', 'qwen-oauth'],
      ['qwen/qwen-max', 'alibaba'],
      ['dashscope/qwen-max', 'alibaba'],
      ['lmstudio/local', 'lmstudio'],
      ['lm-studio/local', 'lmstudio'],
      ['minimax-oauth/m2', 'minimax-oauth'],
      ['alibaba-coding-plan/qwen-coder', 'alibaba-coding-plan'],
      ['google-gemini-cli/gemini-2.5-pro', 'google-gemini-cli'],
      ['openai-codex/gpt-5', 'openai-codex'],
      ['copilot-acp/gpt-5', 'copilot-acp'],
      ['copilot/gpt-5', 'copilot'],
      ['openai/gpt-4o', 'openrouter'],
      ['nousresearch/hermes-4', 'openrouter'],
      ['hf/some-model', 'huggingface'],
      ['nim/llama', 'nvidia'],
      ['gpt-4o', ''],
      ['/leading-slash', ''],
      ['', ''],
      ['nobody-knows/model', ''],
      ['constructor/model', ''],
      ['__proto__/model', ''],
    ];
    for (const [slug, provider] of cases) expect(providerFromModel(slug), slug).toBe(provider);
    // Every provider named is a slug.
    for (const p of Object.values(PROVIDER_OF_PREFIX)) expect(p).toMatch(/^[a-z0-9][a-z0-9-]*$/);
  });
});
