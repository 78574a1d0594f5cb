import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderMemoryOpenApi, MEMORY_OPENAPI_FILE } from '../../../scripts/docs-memory-contract.js';
import { MemoryWrite, NamespaceName, NamespacePatch, SearchRequest } from './memory.js';
import { parseScript } from './script.js';

describe('memory plugin contract v1', () => {
  it('C231 the committed OpenAPI document is the one the schemas make (npm run docs:memory-contract)', () => {
    expect(readFileSync(MEMORY_OPENAPI_FILE, 'utf8')).toBe(renderMemoryOpenApi());
  });

  it('C232 refuses a search with no namespace, an empty namespace patch, and blank content', () => {
    expect(SearchRequest.safeParse({ namespaces: [] }).error?.issues[0]?.message).toBe('namespaces must name at least one namespace');
    expect(NamespacePatch.safeParse({}).error?.issues[0]?.message).toBe('a namespace patch needs expires_at or metadata');
    for (const content of ['', '   ', '\n\t']) expect(MemoryWrite.safeParse({ content }).error?.issues[0]?.message).toBe('content is empty');
    expect(MemoryWrite.safeParse({ content: 'x', expires_at: 'tomorrow' }).error?.issues[0]?.message).toBe('invalid expires_at: must be RFC3339');
    expect(MemoryWrite.parse({ content: 'x', expires_at: '2027-01-01T00:00:00Z' })).toMatchObject({ kind: 'fact', source: 'agent' });
  });

  it('C234 namespace names: workspace, team and org of an id, custom names of plain characters', () => {
    const id = '6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b';
    for (const ok of [`workspace:${id}`, `team:${id}`, `org:${id}`, 'custom:research', 'custom:a.b_c-1']) expect(NamespaceName.safeParse(ok).success, ok).toBe(true);
    for (const bad of ['workspace:abc', `team:${id.toUpperCase()}`, 'custom:', 'custom:Has Space', 'custom:../x', 'custom:-x', `custom:${'x'.repeat(65)}`, 'global:x', 'org', '']) {
      expect(NamespaceName.safeParse(bad).success, bad).toBe(false);
    }
  });

  it('script steps remember and recall: defaults to the message and the workspace scope; an unknown scope is refused', () => {
    expect(parseScript([{ remember: {} }, { recall: { scope: 'team' } }], 'script').rules![0]!.steps).toEqual([
      { remember: { content: '{{input}}', scope: 'workspace' } },
      { recall: { query: '{{input}}', scope: 'team' } },
    ]);
    expect(parseScript([{ remember: { scope: 'everyone' } }], 'script').issues[0]!.field).toBe('script.0.remember.scope');
  });
});
