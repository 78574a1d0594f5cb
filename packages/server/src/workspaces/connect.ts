import { fileURLToPath } from 'node:url';
import type { ConnectSnippets } from '@molecule/contracts';

/** Where the platform serves the `molecule-mcp` bridge as one file (Node 20+, no install). */
export const BRIDGE_PATH = '/connect/molecule-mcp.mjs';
/** The bundle it serves, written by the build's postbuild step (scripts/bundle-runtime.mjs). */
export const BRIDGE_BUNDLE = fileURLToPath(new URL('../../../runtime/dist/molecule-mcp.mjs', import.meta.url));

/** What `GET /workspaces/:id/connection` stamps where the token goes: tokens are hashed at rest and cannot be shown again. */
export const CONNECTION_TOKEN_PLACEHOLDER = '<MOLECULE_WORKSPACE_TOKEN>';

export interface ConnectFields {
  workspace_id: string;
  platform_url: string;
  /** The token to stamp in; a placeholder when the caller asked for snippets without minting one. */
  auth_token: string;
}

/** A value as a POSIX shell single-quoted word. */
const sh = (v: string) => `'${v.replaceAll("'", `'\\''`)}'`;
/** A value as a TOML basic string (also valid YAML and JSON for the URL, UUID and token alphabets we put in). */
const q = (v: string) => JSON.stringify(v);

/**
 * The paste-ready ways to connect an agent run elsewhere (C268-C272), stamped with its id, the
 * platform URL and its token. The env contract is `WORKSPACE_ID`, `PLATFORM_URL` and
 * `MOLECULE_WORKSPACE_TOKEN`, never `MOLECULE_ORG_ID` (C269). MCP hosts launch `molecule-mcp`, which
 * registers and heartbeats by itself (C270); the platform serves it as one file, so nothing needs
 * publishing or installing beyond Node. No snippet appends to a user's config file: config blocks are
 * shown to paste by hand (C272).
 */
export function connectSnippets(f: ConnectFields): ConnectSnippets {
  const base = f.platform_url.replace(/\/+$/, '');
  const bridge = '~/.molecule/molecule-mcp.mjs';
  const fetchBridge = `mkdir -p ~/.molecule && curl -fsSL ${sh(`${base}${BRIDGE_PATH}`)} -o ${bridge}`;
  const env = { WORKSPACE_ID: f.workspace_id, PLATFORM_URL: base, MOLECULE_WORKSPACE_TOKEN: f.auth_token };
  const exportEnv = Object.entries(env)
    .map(([k, v]) => `export ${k}=${sh(v)}`)
    .join('\n');
  const mcpJson = JSON.stringify({ mcpServers: { molecule: { command: 'node', args: [bridge.replace('~', '$HOME')], env } } }, null, 2);

  const universal = [
    '# 1. Fetch the bridge (Node.js 20 or newer):',
    fetchBridge,
    '',
    '# 2. Add it to your MCP host (Claude Desktop, Cursor, Cline, ...) as a stdio server.',
    '#    Replace $HOME with your home directory if your host does not expand it:',
    mcpJson,
    '',
    '# molecule-mcp registers the workspace and keeps its heartbeat by itself; the canvas shows it',
    '# online as soon as the host starts it. Its tools: the platform tools (delegate, peers, memory,',
    '# files) and an inbox (wait_for_messages, get_messages, reply).',
  ].join('\n');

  const python = `# Python 3.9+, standard library only: registers, keeps the heartbeat, prints inbound messages.
import json, time, urllib.request

PLATFORM_URL = ${q(base)}
WORKSPACE_ID = ${q(f.workspace_id)}
TOKEN = ${q(f.auth_token)}

def call(method, path, body=None):
    req = urllib.request.Request(PLATFORM_URL + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json", "Origin": PLATFORM_URL})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
        return json.loads(text) if text else None

call("POST", "/registry/register", {"id": WORKSPACE_ID, "delivery_mode": "poll",
     "agent_card": {"name": "my-agent", "description": "an agent run elsewhere", "skills": []}})
inbox = "/workspaces/%s/activity?type=a2a_receive" % WORKSPACE_ID
newest = call("GET", inbox + "&limit=1") or []
last = newest[0]["id"] if newest else None
while True:
    call("POST", "/registry/heartbeat", {"workspace_id": WORKSPACE_ID, "current_task": "", "active_tasks": 0})
    # After a cursor the rows come oldest first; without one, newest first.
    rows = call("GET", inbox + "&since_id=" + last) if last else list(reversed(call("GET", inbox) or []))
    for row in rows or []:
        last = row["id"]
        print("message:", json.dumps(row.get("request_body")), flush=True)
    time.sleep(10)`;

  const claude = `# Claude Code, through the Molecule channel plugin (polling: no tunnel, no open port).
# 1. Prerequisite: Bun (the plugin runs on it).
command -v bun >/dev/null || curl -fsSL https://bun.sh/install | bash

# 2. In Claude Code, add the marketplace and install the plugin:
/plugin marketplace add Molecule-AI/molecule-mcp-claude-channel
/plugin install molecule@molecule-mcp-claude-channel

# 3. Start Claude Code with this workspace's credentials and the channel loaded:
${exportEnv}
claude --dangerously-load-development-channels

# Common errors
# - "plugin not installed": run the two /plugin lines of step 2 again, then restart Claude Code.
# - "not on the approved channels allowlist": start Claude Code with --dangerously-load-development-channels (step 3).`;

  const hermes = `# Hermes: fetch the bridge, then paste this block into ~/.hermes/config.yaml yourself
# (under mcp_servers; nothing here edits the file for you).
${fetchBridge}

mcp_servers:
  molecule:
    command: node
    args: [${q(bridge.replace('~', '<your home dir>'))}]
    env:
      WORKSPACE_ID: ${q(f.workspace_id)}
      PLATFORM_URL: ${q(base)}
      MOLECULE_WORKSPACE_TOKEN: ${q(f.auth_token)}`;

  const codex = `# Codex: fetch the bridge, then paste this block into ~/.codex/config.toml yourself
# (nothing here edits the file for you).
${fetchBridge}

[mcp_servers.molecule]
command = "node"
args = [${q(bridge.replace('~', '<your home dir>'))}]
env = { WORKSPACE_ID = ${q(f.workspace_id)}, PLATFORM_URL = ${q(base)}, MOLECULE_WORKSPACE_TOKEN = ${q(f.auth_token)} }

# Inbound messages while Codex is idle: the codex channel bridge, installed from git, run with nohup.
pip install 'git+https://github.com/Molecule-AI/codex-channel-molecule'
${exportEnv}
nohup codex-channel-molecule > ~/.molecule/codex-channel.log 2>&1`;

  const openclaw = `# OpenClaw: fetch the bridge, add it as an MCP server, and keep the gateway running.
${fetchBridge}
${exportEnv}
openclaw mcp add molecule -- node ${bridge}
nohup openclaw gateway > ~/.molecule/openclaw-gateway.log 2>&1 &
disown`;

  const curl = `# One-shot register (poll delivery), then heartbeat every 30 s or less to stay online.
curl -fsS -X POST ${sh(`${base}/registry/register`)} \\
  -H ${sh(`Authorization: Bearer ${f.auth_token}`)} -H ${sh(`Origin: ${base}`)} -H 'Content-Type: application/json' \\
  -d ${sh(JSON.stringify({ id: f.workspace_id, delivery_mode: 'poll', agent_card: { name: 'my-agent', skills: [] } }))}
curl -fsS -X POST ${sh(`${base}/registry/heartbeat`)} \\
  -H ${sh(`Authorization: Bearer ${f.auth_token}`)} -H ${sh(`Origin: ${base}`)} -H 'Content-Type: application/json' \\
  -d ${sh(JSON.stringify({ workspace_id: f.workspace_id, current_task: '', active_tasks: 0 }))}`;

  return {
    universal_mcp_snippet: universal,
    python_snippet: python,
    claude_code_channel_snippet: claude,
    hermes_snippet: hermes,
    codex_snippet: codex,
    openclaw_snippet: openclaw,
    curl_register_template: curl,
  };
}
