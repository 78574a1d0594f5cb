import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('..', import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourceFiles(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.suite.ts')) out.push(p);
  }
  return out;
}

/** SQL that compares or assigns `status` to a quoted literal, e.g. `SET status = 'failed'`. */
export const STATUS_LITERAL = /\bstatus\s*(=|<>|!=)\s*'[a-z_]+'|\bstatus\s+(NOT\s+)?IN\s*\(\s*'/i;

describe('status writes are typed (C016)', () => {
  it('the gate pattern catches the shapes it forbids', () => {
    for (const bad of ["SET status = 'failed'", "WHERE status <> 'removed'", "status IN ('online', 'degraded')", "status NOT IN ('removed')"]) {
      expect(STATUS_LITERAL.test(bad), bad).toBe(true);
    }
    expect(STATUS_LITERAL.test('SET status = $2')).toBe(false);
  });

  it('C016 no server SQL embeds a status literal: statuses are bound parameters from contracts', async () => {
    const offenders: string[] = [];
    for (const f of await sourceFiles(SRC)) {
      const text = await readFile(f, 'utf8');
      text.split('\n').forEach((line, i) => {
        if (STATUS_LITERAL.test(line)) offenders.push(`${path.relative(SRC, f)}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders, 'pass Status.X from @molecule/contracts as a bound parameter instead').toEqual([]);
  });
});
