import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AgentInputItem } from '@openai/agents';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSession, lastTurns, SESSION_MAX_USER_TURNS } from './openai-agents.js';

const user = (n: number) => ({ type: 'message', role: 'user', content: `question ${n}` }) as AgentInputItem;
const call = (n: number) => ({ type: 'function_call', callId: `c${n}`, name: 'list_peers', arguments: '{}' }) as AgentInputItem;
const output = (n: number) => ({ type: 'function_call_result', callId: `c${n}`, name: 'list_peers', status: 'completed', output: '[]' }) as AgentInputItem;
const answer = (n: number) => ({ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: `answer ${n}` }] }) as AgentInputItem;
const turn = (n: number) => [user(n), call(n), output(n), answer(n)];

describe('openai-agents sessions', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'oa-session-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('keep whole turns: from the start of the last kept user message, tool calls with their outputs', () => {
    const items = [...turn(1), ...turn(2), ...turn(3)];
    expect(lastTurns(items, 2)).toEqual([...turn(2), ...turn(3)]);
    expect(lastTurns(items, 3)).toEqual(items);
    expect(lastTurns(items, 10)).toEqual(items);
  });

  it(`a session file keeps the last ${SESSION_MAX_USER_TURNS} user turns, so a long conversation never outgrows the model's context`, async () => {
    const s = FileSession.forContext(dir, 'ctx-long');
    for (let n = 1; n <= SESSION_MAX_USER_TURNS + 5; n++) await s.addItems(turn(n));
    const kept = await s.getItems();
    expect(kept).toHaveLength(SESSION_MAX_USER_TURNS * 4);
    expect(kept[0]).toEqual(user(6));
    expect(kept.at(-1)).toEqual(answer(SESSION_MAX_USER_TURNS + 5));
    // What a restarted agent reads is the same file.
    const again = await FileSession.forContext(dir, 'ctx-long').getItems(4);
    expect(again).toEqual(turn(SESSION_MAX_USER_TURNS + 5));
    const [file] = await readdir(path.join(dir, '.molecule', 'openai-agents', 'sessions'));
    expect(JSON.parse(await readFile(path.join(dir, '.molecule', 'openai-agents', 'sessions', file!), 'utf8'))).toMatchObject({ context_id: 'ctx-long' });
  });
});
