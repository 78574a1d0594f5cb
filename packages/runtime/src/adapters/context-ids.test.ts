import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureLogger } from '../test-support/agent.js';
import { ContextIds } from './context-ids.js';

describe('ContextIds (the context -> session map the session-owning adapters keep)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'context-ids-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('keeps ids across instances (a restart) in a 0600 file, creating its folder; a delete is kept too', async () => {
    const file = path.join(dir, '.molecule', 'x', 'ids.json');
    const a = new ContextIds(file, 'the test map', captureLogger().logger);
    expect(await a.get('ctx-1')).toBeUndefined();
    await a.set('ctx-1', 's-1');
    await a.set('ctx-2', 's-2');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const b = new ContextIds(file, 'the test map', captureLogger().logger);
    expect([await b.get('ctx-1'), await b.get('ctx-2')]).toEqual(['s-1', 's-2']);
    await b.delete('ctx-1');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ 'ctx-2': 's-2' });
  });

  it('an unreadable file starts every context afresh and says so in the log; entries that are not ids are dropped', async () => {
    const broken = path.join(dir, 'broken.json');
    await writeFile(broken, '{not json');
    const log = captureLogger();
    expect(await new ContextIds(broken, 'the test map', log.logger).get('ctx-1')).toBeUndefined();
    expect(log.lines().map((l) => l.msg)).toEqual(['the test map could not be read; starting new ones']);

    const odd = path.join(dir, 'odd.json');
    await writeFile(odd, JSON.stringify({ good: 's-1', bad: 42 }));
    const ids = new ContextIds(odd, 'the test map', captureLogger().logger);
    expect([await ids.get('good'), await ids.get('bad')]).toEqual(['s-1', undefined]);
  });
});
