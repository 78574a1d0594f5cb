import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BridgeConfigError, bridgeHeartbeat, bridgeRegisterBody, loadBridgeConfig } from './mcp-bridge.js';

const ID = '6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b';
const base = { WORKSPACE_ID: ID, PLATFORM_URL: 'http://localhost:8080/', MOLECULE_WORKSPACE_TOKEN: 'mol_ws_x' };

describe('molecule-mcp configuration', () => {
  it('reads the env contract (WORKSPACE_ID, PLATFORM_URL, MOLECULE_WORKSPACE_TOKEN) with defaults for the rest', () => {
    const cfg = loadBridgeConfig(base);
    expect(cfg).toMatchObject({ workspaceId: ID, platformUrl: 'http://localhost:8080', token: 'mol_ws_x', agentName: 'molecule-mcp-6f1c2a8e', registerAndBeat: true, skills: [] });
    expect(cfg.configsDir).toBe(path.join(os.homedir(), '.molecule-workspace', ID));
    expect(loadBridgeConfig({ ...base, MOLECULE_AGENT_SKILLS: 'review, ,code', CONFIGS_DIR: '/tmp/c' })).toMatchObject({ skills: ['review', 'code'], configsDir: '/tmp/c' });
  });

  it('C036 MOLECULE_MCP_DISABLE_HEARTBEAT=1 turns off register and heartbeat', () => {
    expect(loadBridgeConfig({ ...base, MOLECULE_MCP_DISABLE_HEARTBEAT: '1' }).registerAndBeat).toBe(false);
    // molecule-agent's launch for the agents it runs: no inbox, and so no socket either.
    expect(loadBridgeConfig({ ...base, MOLECULE_MCP_INBOX: '0' })).toMatchObject({ inbox: false, socket: false });
    expect(loadBridgeConfig(base)).toMatchObject({ inbox: true, socket: true });
  });

  it.each([
    ['nothing set', {}, /WORKSPACE_ID is not set.*PLATFORM_URL is not set.*MOLECULE_WORKSPACE_TOKEN is not set/],
    ['a workspace id that is not a UUID', { ...base, WORKSPACE_ID: '../etc' }, /WORKSPACE_ID must be a workspace id \(a UUID\), got "..\/etc"/],
    ['a platform URL that is not http(s)', { ...base, PLATFORM_URL: 'file:///etc/passwd' }, /PLATFORM_URL must be an http\(s\) URL/],
    ['a platform URL that does not parse', { ...base, PLATFORM_URL: 'localhost 8080' }, /PLATFORM_URL must be an http\(s\) URL/],
    ['a blank token', { ...base, MOLECULE_WORKSPACE_TOKEN: '   ' }, /MOLECULE_WORKSPACE_TOKEN is not set/],
  ])('refuses %s, naming the variable', (_what, env, message) => {
    expect(() => loadBridgeConfig(env)).toThrow(BridgeConfigError);
    expect(() => loadBridgeConfig(env)).toThrow(message);
  });

  it('registers as an external poll agent with no URL, and beats as alive with no tasks', () => {
    const cfg = loadBridgeConfig({ ...base, MOLECULE_AGENT_NAME: 'laptop', MOLECULE_AGENT_SKILLS: 'review' });
    expect(bridgeRegisterBody(cfg)).toEqual({
      id: ID,
      url: '',
      delivery_mode: 'poll',
      agent_card: { name: 'laptop', description: 'An agent connected through molecule-mcp', version: '0.1.0', skills: [{ id: 'review', name: 'review', description: 'review', tags: [] }] },
    });
    expect(bridgeHeartbeat(cfg, 1_000, 61_500)).toMatchObject({ workspace_id: ID, active_tasks: 0, uptime_seconds: 60, error_rate: 0 });
  });
});
