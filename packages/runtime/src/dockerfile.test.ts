import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('the runtime image (packages/runtime/Dockerfile)', () => {
  it('C283 runs as a non-root USER, set before the ENTRYPOINT of the final stage', () => {
    const lines = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8').split('\n').map((l) => l.trim());
    const lastFrom = lines.map((l) => /^FROM\b/i.test(l)).lastIndexOf(true);
    const stage = lines.slice(lastFrom);
    const user = stage.findIndex((l) => /^USER\s+/i.test(l));
    const entry = stage.findIndex((l) => /^ENTRYPOINT\b/i.test(l));
    expect(user).toBeGreaterThan(-1);
    expect(stage[user]).not.toMatch(/^USER\s+(root|0)(:|\s|$)/i);
    expect(entry).toBeGreaterThan(user);
  });
});
