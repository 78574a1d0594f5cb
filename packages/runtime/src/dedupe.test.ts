import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEDUPE_JOURNAL_FILE, MessageDedupe, messageFingerprint } from './dedupe.js';
import { captureLogger } from './test-support/agent.js';

const answerOf = (text: string) => async () => ({ status: 200, body: { jsonrpc: '2.0', id: 1, result: { text } } });

async function journalIn(): Promise<string> {
  return path.join(await mkdtemp(path.join(os.tmpdir(), 'molecule-dedupe-')), DEDUPE_JOURNAL_FILE);
}

describe('answered messageIds kept on disk', () => {
  it('reads back what was answered; a torn or foreign line is skipped, the rest kept', async () => {
    const file = await journalIn();
    const { logger } = captureLogger();
    const d = await MessageDedupe.open(file, logger);
    await d.run('m1', 'f1', answerOf('one'));
    await appendFile(file, '{"m":"torn","f":');
    await appendFile(file, '\n["not a line"]\n');
    await d.run('m2', 'f2', answerOf('two'));
    const again = await MessageDedupe.open(file, logger);
    expect(await again.replay('m1', 9, 'f1')).toEqual({ status: 200, body: { jsonrpc: '2.0', id: 9, result: { text: 'one' } } });
    expect(await again.replay('m2', 9, 'f2')).toMatchObject({ body: { result: { text: 'two' } } });
    expect(again.replay('m1', 9, 'other')).toBe('conflict');
    expect(again.replay('torn', 9, 'f1')).toBeUndefined();
  });

  it('work that failed is not kept: its messageId is free again, before and after a restart', async () => {
    const file = await journalIn();
    const { logger } = captureLogger();
    const d = await MessageDedupe.open(file, logger);
    await expect(d.run('m', 'f', () => Promise.reject(new Error('crashed')))).rejects.toThrow('crashed');
    expect(d.replay('m', 1, 'f')).toBeUndefined();
    expect((await MessageDedupe.open(file, logger)).replay('m', 1, 'f')).toBeUndefined();
  });

  it('the journal is rewritten to what is remembered once it holds twice as many lines; the newest are kept', async () => {
    const file = await journalIn();
    const { logger } = captureLogger();
    const d = await MessageDedupe.open(file, logger, 3);
    for (let i = 0; i < 7; i++) await d.run(`m${i}`, 'f', answerOf(String(i)));
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    // Six lines triggered a rewrite to the three newest, then the seventh was appended.
    expect(lines.map((l) => (JSON.parse(l) as { m: string }).m)).toEqual(['m3', 'm4', 'm5', 'm6']);
    const again = await MessageDedupe.open(file, logger, 3);
    expect(again.replay('m2', 1, 'f')).toBeUndefined();
    expect(await again.replay('m6', 1, 'f')).toMatchObject({ body: { result: { text: '6' } } });
  });

  it('a configs dir it cannot write to leaves the agent remembering in memory only', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-dedupe-'));
    await writeFile(path.join(dir, '.molecule'), 'a file where the directory would go');
    const { logger, lines } = captureLogger();
    const d = await MessageDedupe.open(path.join(dir, DEDUPE_JOURNAL_FILE), logger);
    await d.run('m', 'f', answerOf('x'));
    expect(await d.replay('m', 2, 'f')).toMatchObject({ body: { id: 2 } });
    expect(lines().some((l) => String(l.msg).includes('memory only'))).toBe(true);
  });

  it('the fingerprint ignores the envelope and key order, not the message', () => {
    const a = messageFingerprint({ jsonrpc: '2.0', id: 1, params: { message: { messageId: 'm', parts: [{ kind: 'text', text: 'hi' }] } } });
    expect(messageFingerprint({ id: 2, params: { message: { parts: [{ text: 'hi', kind: 'text' }], messageId: 'm' } } })).toBe(a);
    expect(messageFingerprint({ id: 1, params: { message: { messageId: 'm', parts: [{ kind: 'text', text: 'ho' }] } } })).not.toBe(a);
  });
});
