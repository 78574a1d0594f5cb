import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * deploy/compose.yaml and deploy/haproxy.cfg agree: the compose file is not run here (no registry
 * for its base images), but the HAProxy config it mounts is the one the two-replica test runs.
 */
const dir = (f: string) => fileURLToPath(new URL(`../../../../deploy/${f}`, import.meta.url));

describe('deploy files', () => {
  const compose = parse(readFileSync(dir('compose.yaml'), 'utf8')) as {
    services: Record<string, { environment?: Record<string, string>; volumes?: string[]; build?: { dockerfile: string }; depends_on?: unknown }>;
  };
  const cfg = readFileSync(dir('haproxy.cfg'), 'utf8');

  it('HAProxy gets exactly the variables its config reads, naming the platform services', () => {
    const read = [...cfg.matchAll(/"\$\{(\w+)\}"/g)].map((m) => m[1]).sort();
    const lb = compose.services.haproxy!;
    expect(Object.keys(lb.environment ?? {}).sort()).toEqual(read);
    expect(lb.volumes).toContain('./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
    for (const [k, v] of Object.entries(lb.environment ?? {})) {
      if (k.startsWith('MOLECULE_REPLICA_')) expect(Object.keys(compose.services)).toContain(v.split(':')[0]);
    }
  });

  it('both replicas share one PostgreSQL and one Redis, require an admin token, and build from a file that exists', () => {
    const a = compose.services['platform-a']!;
    expect(compose.services['platform-b']).toEqual(a);
    expect(a.environment).toMatchObject({ DATABASE_URL: expect.stringContaining('@postgres:'), REDIS_URL: 'redis://redis:6379', ADMIN_TOKEN: expect.stringMatching(/^\$\{ADMIN_TOKEN:\?/) });
    expect(existsSync(fileURLToPath(new URL(`../../../../${a.build!.dockerfile}`, import.meta.url)))).toBe(true);
    expect(readFileSync(dir('Dockerfile'), 'utf8')).toMatch(/CMD \["node", "packages\/server\/dist\/bin\.js"\]/);
  });
});
