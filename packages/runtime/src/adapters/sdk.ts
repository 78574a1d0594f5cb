import { DEFAULTS } from '../config.js';
import { createLogger } from '../log.js';
import { DEFAULT_MODELS } from '../config-file.js';
import type { AdapterConfig } from './types.js';
import { modelName } from './llm.js';
import type { Adapter } from './types.js';

/**
 * Builds the adapters that drive an agent SDK (openai-agents, langgraph, codex) or an ACP agent process.
 * Each SDK is imported only here, when its adapter is the one configured.
 */
export async function createSdkAdapter(config: AdapterConfig): Promise<Adapter> {
  const { workspace: ws, llm } = config;
  const workspaceDir = config.workspaceDir ?? DEFAULTS.workspaceDir;
  const configsDir = config.configsDir ?? DEFAULTS.configsDir;
  const idleMs = ws.model_timeout_seconds * 1000;
  const openai = {
    apiKey: llm.openaiApiKey ?? '',
    baseUrl: llm.openaiBaseUrl ?? ws.base_url,
    model: modelName(ws.model ?? DEFAULT_MODELS.openai, 'openai'),
  };
  switch (ws.adapter) {
    case 'openai-agents': {
      const { OpenAIAgentsAdapter } = await import('./openai-agents.js');
      return new OpenAIAgentsAdapter({
        ...openai,
        name: ws.name,
        instructions: ws.system_prompt,
        workspaceDir,
        idleMs,
        agent: ws.openai_agents ?? { api: 'chat_completions', max_turns: 10 },
      });
    }
    case 'langgraph': {
      const { LangGraphAdapter } = await import('./langgraph.js');
      if (!ws.langgraph) throw new Error('config.yaml langgraph.graph is required when adapter is langgraph');
      return await LangGraphAdapter.load({ ...openai, systemPrompt: ws.system_prompt, maxTokens: ws.max_tokens, workspaceDir, configsDir, idleMs, graph: ws.langgraph });
    }
    case 'codex': {
      const { CodexAdapter } = await import('./codex.js');
      return new CodexAdapter({ ...openai, workspaceDir, configsDir, idleMs, platformUrl: config.platformUrl, workspaceId: config.workspaceId, token: config.token, log: config.log ?? createLogger({ level: 'info' }) });
    }
    case 'acp': {
      const { AcpAdapter } = await import('./acp.js');
      if (!ws.acp) throw new Error('config.yaml acp.command is required when adapter is acp');
      return await AcpAdapter.start({ ...ws.acp, workspaceDir, configsDir, idleMs, platformUrl: config.platformUrl, workspaceId: config.workspaceId, token: config.token, log: config.log ?? createLogger({ level: 'info' }) });
    }
    default:
      throw new Error(`${ws.adapter} is not an SDK adapter`);
  }
}
