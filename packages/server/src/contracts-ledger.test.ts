import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LEDGER, readContracts, renderLedger, testsNaming } from '../../../scripts/contracts-ledger.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SPEC = fileURLToPath(new URL('../../../../shared/spec/contracts.md', import.meta.url));

describe('the contracts ledger (docs/contracts.md)', () => {
  it('finds the spec beside the repository', () => {
    expect(existsSync(SPEC), `${SPEC} is missing: the repository expects ../shared beside it`).toBe(true);
  });

  const contracts = existsSync(SPEC) ? readContracts(SPEC) : [];
  const tested = testsNaming(ROOT);

  it('reads every contract of the spec', () => {
    expect(contracts.length).toBe(283);
    expect(new Set(contracts.map((c) => c.id)).size).toBe(contracts.length);
  });

  it('gives every contract a state: tested, different, not applicable, or not built yet', () => {
    const missing = contracts.filter((c) => !tested.has(c.id) && !LEDGER[c.id]).map((c) => c.id);
    expect(missing).toEqual([]);
  });

  it('keeps the hand-kept table current: no "not built" id is named by a test, no entry names an unknown id', () => {
    const known = new Set(contracts.map((c) => c.id));
    expect(Object.keys(LEDGER).filter((id) => !known.has(id))).toEqual([]);
    const stale = Object.entries(LEDGER)
      .filter(([id, e]) => e.state !== 'different' && tested.has(id))
      .map(([id, e]) => `${id} is marked ${e.state} but named by ${tested.get(id)!.join(', ')}`);
    expect(stale).toEqual([]);
  });

  it('docs/contracts.md matches the tests and the table (regenerate with npm run docs:contracts)', () => {
    const doc = readFileSync(new URL('../../../docs/contracts.md', import.meta.url), 'utf8');
    expect(doc, 'docs/contracts.md is stale: run npm run docs:contracts').toBe(renderLedger(contracts, tested));
  });
});
