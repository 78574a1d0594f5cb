#!/usr/bin/env node
// A small ACP agent for tests, on the official SDK's agent side, over stdio. Sessions persist in
// <cwd>/.fake-acp/<id>.json (as real agents keep theirs), so session/load works after a restart.
// Prompts: "read <x>" runs a read tool (asks permission), "edit <x>" an edit tool (asks), "peers"
// calls list_peers on the first MCP server it was given, "hang" never answers until canceled,
// "crash" exits; anything else answers "acp: <text> (turn <n>)", n counting the session's prompts.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { agent, ndJsonStream, PROTOCOL_VERSION } from '@agentclientprotocol/sdk';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const dir = path.join(process.cwd(), '.fake-acp');
const sessions = new Map();
const file = (id) => path.join(dir, `${id}.json`);
const save = (s) => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(file(s.id), JSON.stringify({ id: s.id, turns: s.turns }));
};

async function tool(client, sessionId, kind, title, input) {
  const toolCallId = randomUUID();
  await client.notify('session/update', { sessionId, update: { sessionUpdate: 'tool_call', toolCallId, title, kind, status: 'pending', rawInput: input } });
  const answer = await client.request('session/request_permission', {
    sessionId,
    toolCall: { toolCallId, title, kind },
    options: [
      { optionId: 'yes', name: 'Allow', kind: 'allow_once' },
      { optionId: 'no', name: 'Reject', kind: 'reject_once' },
    ],
  });
  const allowed = answer.outcome.outcome === 'selected' && answer.outcome.optionId === 'yes';
  await client.notify('session/update', {
    sessionId,
    update: { sessionUpdate: 'tool_call_update', toolCallId, status: allowed ? 'completed' : 'failed', content: [{ type: 'content', content: { type: 'text', text: allowed ? `did ${title}` : 'permission denied' } }] },
  });
  return allowed;
}

async function peers(client, sessionId, mcp) {
  const toolCallId = randomUUID();
  await client.notify('session/update', { sessionId, update: { sessionUpdate: 'tool_call', toolCallId, title: 'list_peers', kind: 'other', status: 'in_progress', rawInput: {} } });
  const c = new Client({ name: 'fake-acp', version: '1' });
  await c.connect(new StdioClientTransport({ command: mcp.command, args: mcp.args, env: { PATH: process.env.PATH ?? '', ...Object.fromEntries(mcp.env.map((e) => [e.name, e.value])) } }));
  try {
    const r = await c.callTool({ name: 'list_peers', arguments: {} });
    const text = r.content.filter((p) => p.type === 'text').map((p) => p.text).join('\n');
    await client.notify('session/update', { sessionId, update: { sessionUpdate: 'tool_call_update', toolCallId, status: r.isError ? 'failed' : 'completed', content: [{ type: 'content', content: { type: 'text', text } }] } });
    return text;
  } finally {
    await c.close();
  }
}

agent({ name: 'fake-acp' })
  .onRequest('initialize', () => ({ protocolVersion: PROTOCOL_VERSION, agentCapabilities: { loadSession: true }, agentInfo: { name: 'fake-acp', version: '1' } }))
  .onRequest('session/new', ({ params }) => {
    const s = { id: randomUUID(), turns: 0, mcp: params.mcpServers, cwd: params.cwd };
    sessions.set(s.id, s);
    save(s);
    return { sessionId: s.id };
  })
  .onRequest('session/load', async ({ params, client }) => {
    const saved = JSON.parse(readFileSync(file(params.sessionId), 'utf8'));
    sessions.set(saved.id, { ...saved, mcp: params.mcpServers, cwd: params.cwd });
    await client.notify('session/update', { sessionId: saved.id, update: { sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: '(replayed history)' } } });
    return {};
  })
  .onRequest('session/prompt', async ({ params, client, signal }) => {
    const s = sessions.get(params.sessionId);
    if (!s) throw new Error('unknown session');
    const text = params.prompt.filter((b) => b.type === 'text').map((b) => b.text).join('');
    s.turns++;
    save(s);
    const say = (t) => client.notify('session/update', { sessionId: s.id, update: { sessionUpdate: 'agent_message_chunk', content: { type: 'text', text: t } } });
    if (text === 'crash') process.exit(1);
    if (text === 'hang') {
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return { stopReason: 'cancelled' };
    }
    if (text.startsWith('read ') || text.startsWith('edit ')) {
      const [kind, target] = text.split(' ');
      const ok = await tool(client, s.id, kind, `${kind} ${target}`, { path: target });
      await say(ok ? `${kind} done` : `${kind} was not allowed`);
      return { stopReason: 'end_turn' };
    }
    if (text === 'peers') {
      if (!s.mcp[0]) {
        await say('no MCP server');
        return { stopReason: 'end_turn' };
      }
      await say(`peers: ${await peers(client, s.id, s.mcp[0])}`);
      return { stopReason: 'end_turn' };
    }
    await say('acp: ');
    await say(`${text} (turn ${s.turns})`);
    return { stopReason: 'end_turn' };
  })
  .onNotification('session/cancel', () => undefined)
  .connect(ndJsonStream(Writable.toWeb(process.stdout), Readable.toWeb(process.stdin)));
