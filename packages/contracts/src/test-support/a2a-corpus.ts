import { readFileSync } from 'node:fs';

/** One case of the A2A request corpus (packages/contracts/testdata/a2a-corpus.json). */
export interface A2ACorpusCase {
  name: string;
  version: '0.2' | '0.3' | '1.0';
  body: unknown;
  expect: { ok: true; text?: string } | { ok: false; code: number; field: string };
}

/** Loads the corpus; tests in every package replay it (the test-only helper is not built). */
export function loadA2ACorpus(): A2ACorpusCase[] {
  const doc = JSON.parse(readFileSync(new URL('../../testdata/a2a-corpus.json', import.meta.url), 'utf8')) as { cases: A2ACorpusCase[] };
  return doc.cases;
}
