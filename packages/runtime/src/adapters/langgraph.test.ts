import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startAgent } from '../agent.js';
import { loadConfig } from '../config.js';
import { captureLogger } from '../test-support/agent.js';

/** Starts an agent on a configs dir holding `config.yaml` and `files`; the promise of its start. */
async function start(yaml: string, files: Record<string, string> = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-agent-'));
  await writeFile(path.join(dir, 'config.yaml'), yaml);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  const config = await loadConfig({ PORT: '0', MOLECULE_CONFIGS_DIR: dir, MOLECULE_WORKSPACE_DIR: dir, OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
  return startAgent({ config, logger: captureLogger().logger });
}

const yaml = (graph: string) => `adapter: langgraph\nlanggraph:\n  graph: ${JSON.stringify(graph)}\n`;

describe('langgraph adapter: the graph module', () => {
  it.each([
    ['outside the configs dir', '../elsewhere.mjs', {}, 'config.yaml langgraph.graph must be a file inside the configs dir (got ../elsewhere.mjs)'],
    ['an absolute path elsewhere', '/etc/passwd', {}, 'config.yaml langgraph.graph must be a file inside the configs dir (got /etc/passwd)'],
    ['missing', 'graph.mjs', {}, 'config.yaml langgraph.graph: graph.mjs does not exist in the configs dir'],
    ['not valid JavaScript', 'graph.mjs', { 'graph.mjs': 'export default function (' }, 'config.yaml langgraph.graph: graph.mjs could not be loaded'],
    ['exporting no function', 'graph.mjs', { 'graph.mjs': 'export const graph = 1;\n' }, 'must export a function (default or createGraph) that builds the graph'],
  ] as const)('a module %s stops the agent at startup, naming the file', async (_what, graph, files, message) => {
    await expect(start(yaml(graph), files)).rejects.toThrow(message);
  });

  it('config.yaml: adapter langgraph needs langgraph.graph, and unknown keys under it are refused', async () => {
    for (const [text, field] of [
      ['adapter: langgraph\n', 'langgraph.graph'],
      ['adapter: langgraph\nlanggraph:\n  graph: g.mjs\n  checkpointer: sqlite\n', 'checkpointer'],
      ['adapter: openai-agents\nopenai_agents:\n  api: assistants\n', 'openai_agents.api'],
    ] as const) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-agent-'));
      await writeFile(path.join(dir, 'config.yaml'), text);
      await expect(loadConfig({ MOLECULE_CONFIGS_DIR: dir, OPENAI_API_KEY: 'k' })).rejects.toThrow(field);
    }
  });

  it('openai-agents and langgraph need an OpenAI key or base URL, named in the error', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-agent-'));
    await writeFile(path.join(dir, 'config.yaml'), 'adapter: openai-agents\n');
    await expect(loadConfig({ MOLECULE_CONFIGS_DIR: dir })).rejects.toThrow('OPENAI_API_KEY: is required for the openai-agents adapter');
  });
});
