import { describe, expect, it } from 'vitest';
import { decideAccess, MAX_HIERARCHY_DEPTH, type ChainNode } from './access.js';

// The org used by the table:
//   root ── cto ── eng1 ── intern
//        │      └─ eng2
//        └─ cfo ── acct
//   other-root
const tree: Record<string, string | null> = {
  root: null,
  cto: 'root',
  cfo: 'root',
  eng1: 'cto',
  eng2: 'cto',
  intern: 'eng1',
  acct: 'cfo',
  'other-root': null,
};

function chain(id: string, removed: string[] = []): ChainNode[] {
  const out: ChainNode[] = [];
  let cur: string | null = id;
  while (cur !== null) {
    out.push({ id: cur, parent_id: tree[cur] ?? null, removed: removed.includes(cur) });
    cur = tree[cur] ?? null;
  }
  return out;
}

describe('hierarchy rule: may A talk to B', () => {
  it.each([
    ['eng1', 'eng1', true, 'self'],
    ['eng1', 'eng2', true, 'siblings'],
    ['root', 'other-root', true, 'root_peers'],
    ['eng1', 'cto', true, 'parent'],
    ['cto', 'eng1', true, 'child'],
    ['intern', 'root', true, 'ancestor'],
    ['root', 'intern', true, 'descendant'],
    ['intern', 'cto', true, 'ancestor'],
    ['eng1', 'acct', false, 'unrelated'],
    ['intern', 'eng2', false, 'unrelated'],
    ['cto', 'acct', false, 'unrelated'],
    ['acct', 'other-root', false, 'unrelated'],
  ])('%s -> %s: allowed=%s (%s)', (a, b, allowed, reason) => {
    expect(decideAccess(chain(a), chain(b))).toEqual({ allowed, reason });
  });

  it('a removed workspace on either side is denied, even for self', () => {
    expect(decideAccess(chain('eng1', ['eng1']), chain('eng2'))).toEqual({ allowed: false, reason: 'removed' });
    expect(decideAccess(chain('eng1'), chain('eng2', ['eng2']))).toEqual({ allowed: false, reason: 'removed' });
    expect(decideAccess(chain('eng1', ['eng1']), chain('eng1', ['eng1']))).toEqual({ allowed: false, reason: 'removed' });
  });

  it('an unknown workspace is denied', () => {
    expect(decideAccess([], chain('eng1'))).toEqual({ allowed: false, reason: 'unknown' });
    expect(decideAccess(chain('eng1'), [])).toEqual({ allowed: false, reason: 'unknown' });
  });

  it('a chain that hits the depth cap without reaching a root is denied', () => {
    const deep: ChainNode[] = Array.from({ length: MAX_HIERARCHY_DEPTH + 1 }, (_, i) => ({
      id: `n${i}`,
      parent_id: `n${i + 1}`,
      removed: false,
    }));
    expect(decideAccess(deep, chain('eng1'))).toEqual({ allowed: false, reason: 'too_deep' });
    const exactlyAtCap = deep.map((n, i) => (i === deep.length - 1 ? { ...n, parent_id: null } : n));
    expect(decideAccess(exactlyAtCap, [exactlyAtCap[0]!])).toEqual({ allowed: true, reason: 'self' });
  });
});
