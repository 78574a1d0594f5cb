import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The seams ARCHITECTURE.md promises, checked over the source itself (a small import graph), so they
 * stay closed as routes are added: no import cycles, SQL only in repositories, no domain reaching
 * into another's repository, HTTP errors only at the edge.
 */

const PACKAGES = fileURLToPath(new URL('../../', import.meta.url));
const SERVER_SRC = fileURLToPath(new URL('./', import.meta.url));

/** Test-only code: test files, shared suites, port contract suites and the test-support folders. */
const isTestOnly = (file: string) => /\.(test|int\.test|suite|contract)\.ts$/.test(file) || file.split(path.sep).includes('test-support');

function productionFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'node_modules' && name !== 'dist') out.push(...productionFiles(p));
    } else if ((name.endsWith('.ts') || name.endsWith('.tsx')) && !name.endsWith('.d.ts') && !isTestOnly(p)) {
      out.push(p);
    }
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The relative imports of a file (type-only ones included: they tie modules together too), resolved to files. */
function importsOf(file: string, source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2]!;
    if (!spec.startsWith('.')) continue;
    const base = path.resolve(path.dirname(file), spec.replace(/\.js$/, ''));
    for (const candidate of [`${base}.ts`, `${base}.tsx`, path.join(base, 'index.ts')]) {
      try {
        if (statSync(candidate).isFile()) {
          out.push(candidate);
          break;
        }
      } catch {
        // not this candidate; try the next spelling
      }
    }
  }
  return out;
}

interface Graph {
  files: string[];
  source: Map<string, string>;
  edges: Map<string, string[]>;
}

function graphOf(roots: string[]): Graph {
  const files = roots.flatMap((r) => productionFiles(r));
  const source = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
  const edges = new Map(files.map((f) => [f, importsOf(f, source.get(f)!).filter((t) => source.has(t))]));
  return { files, source, edges };
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(g: Graph): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.edges.get(v) ?? []).includes(v)) out.push(scc.map((f) => path.relative(PACKAGES, f)).sort());
    }
  };
  for (const f of g.files) if (!idx.has(f)) visit(f);
  return out;
}

const rel = (f: string) => path.relative(SERVER_SRC, f).split(path.sep).join('/');
/** The domain folder of a server file (`a2a`, `workspaces`...); top-level files have none. */
const domainOf = (f: string) => (rel(f).includes('/') ? rel(f).split('/')[0]! : undefined);
const isRepo = (f: string) => /(^|[/-])repo\.ts$/.test(rel(f));
/** The HTTP edge: route modules, the app and its error mapping, the auth hooks. */
const isEdge = (f: string) => /(^|\/)routes\.ts$/.test(rel(f)) || rel(f).startsWith('http/') || rel(f) === 'auth/principal.ts';
/** The data layer may speak SQL: adapters, the migration runner, the health ping. */
const isDataLayer = (f: string) => rel(f).startsWith('db/');
const SQL_CALL = /\.query(?:<[^>]*>)?\(/;

const rules = {
  cycles,
  sqlOutsideRepos(g: Graph): string[] {
    return g.files.filter((f) => !isRepo(f) && !isDataLayer(f) && SQL_CALL.test(g.source.get(f)!)).map(rel);
  },
  foreignRepoImports(g: Graph): string[] {
    const out: string[] = [];
    for (const f of g.files) {
      for (const t of g.edges.get(f)!) if (isRepo(t) && domainOf(t) !== domainOf(f)) out.push(`${rel(f)} -> ${rel(t)}`);
    }
    return out;
  },
  /** Who asks a backend "is it running" other than the one seam (provisioning/running.ts) and the backends themselves (C184, C187). */
  runningChecksOutsideSeam(g: Graph): string[] {
    const mayAsk = (f: string) => rel(f) === 'provisioning/running.ts' || /^provisioning\/(process|docker|controlplane)\//.test(rel(f));
    return g.files.filter((f) => !mayAsk(f) && /\.isRunning\(|\.inspect\(|process\.kill\(\s*[^,)]+,\s*0\s*\)/.test(g.source.get(f)!)).map(rel);
  },
  httpErrorsOutsideEdge(g: Graph): string[] {
    const out: string[] = [];
    for (const f of g.files) {
      if (isEdge(f)) continue;
      for (const t of g.edges.get(f)!) if (rel(t) === 'http/errors.ts') out.push(`${rel(f)} -> http/errors.ts`);
    }
    return out;
  },
};

describe('architecture seams (the import graph of the production code)', () => {
  const all = graphOf(readdirSync(PACKAGES).map((p) => path.join(PACKAGES, p, 'src')).filter((p) => statSync(p, { throwIfNoEntry: false })?.isDirectory()));
  const server = graphOf([SERVER_SRC]);

  it('sees the code it checks (the graph is not empty by mistake)', () => {
    expect(server.files.length).toBeGreaterThan(50);
    expect(server.files.map(rel)).toContain('a2a/proxy.ts');
    expect(server.edges.get(path.join(SERVER_SRC, 'a2a/proxy.ts'))!.map(rel)).toContain('a2a/outcome.ts');
  });

  it('has no import cycles in any package (type-only imports count)', () => {
    expect(cycles(all)).toEqual([]);
  });

  it('runs SQL only in repo.ts / *-repo.ts files and the data layer (db/)', () => {
    expect(rules.sqlOutsideRepos(server)).toEqual([]);
  });

  it('lets no domain import another domain\'s repository: it goes through that domain\'s services', () => {
    expect(rules.foreignRepoImports(server)).toEqual([]);
  });

  it('C184 C187 asks whether an agent runs only through agentState (provisioning/running.ts); only backends inspect processes or containers', () => {
    expect(rules.runningChecksOutsideSeam(server)).toEqual([]);
  });

  it('builds HTTP errors only at the edge (routes, http/, auth hooks); services throw domain errors', () => {
    expect(rules.httpErrorsOutsideEdge(server)).toEqual([]);
  });

  it('the CLI loads the server only for `molecule up` (a dynamic import), never for its HTTP commands', () => {
    const cli = graphOf([path.join(PACKAGES, 'cli', 'src')]);
    const staticServer = cli.files.filter((f) => /^\s*import\s(?!type\b)[^;]*from\s*['"]@molecule\/server['"]/m.test(cli.source.get(f)!));
    expect(staticServer.map((f) => path.relative(PACKAGES, f))).toEqual([]);
    expect([...cli.source.values()].some((s) => s.includes("import('@molecule/server')"))).toBe(true);
  });

  it('declares one version range per dependency across all package.json files', () => {
    const manifests = ['../package.json', ...readdirSync(PACKAGES).map((p) => `${p}/package.json`)]
      .map((m) => path.join(PACKAGES, m))
      .filter((m) => statSync(m, { throwIfNoEntry: false })?.isFile());
    const ranges = new Map<string, Set<string>>();
    for (const m of manifests) {
      const pkg = JSON.parse(readFileSync(m, 'utf8')) as Record<string, Record<string, string> | undefined>;
      for (const [name, range] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
        if (!ranges.has(name)) ranges.set(name, new Set());
        ranges.get(name)!.add(range);
      }
    }
    expect(manifests.length).toBeGreaterThan(3);
    expect([...ranges].filter(([, r]) => r.size > 1).map(([n, r]) => `${n}: ${[...r].join(' vs ')}`)).toEqual([]);
  });

  it('the rules catch what they forbid', () => {
    const fake = (files: Record<string, string>): Graph => {
      const abs = Object.keys(files).map((f) => path.join(SERVER_SRC, f));
      const source = new Map(abs.map((f, i) => [f, Object.values(files)[i]!]));
      const edges = new Map(abs.map((f) => [f, importsOf(f, source.get(f)!).filter((t) => source.has(t))]));
      return { files: abs, source, edges };
    };
    const g = fake({
      'a2a/proxy.ts': "import { getWorkspace } from '../workspaces/repo.js';\nimport { notFound } from '../http/errors.js';\nawait db.query('SELECT 1');",
      'workspaces/repo.ts': "import type { X } from '../a2a/proxy.js';\nawait q.query<Row>('SELECT 2');",
      'http/errors.ts': '',
      'loops/sweeps.ts': 'const s = await prov.isRunning(ws, signal);',
      'provisioning/docker/backend.ts': 'await c.inspect();',
    });
    expect(rules.runningChecksOutsideSeam(g)).toEqual(['loops/sweeps.ts']);
    expect(rules.sqlOutsideRepos(g)).toEqual(['a2a/proxy.ts']);
    expect(rules.foreignRepoImports(g)).toEqual(['a2a/proxy.ts -> workspaces/repo.ts']);
    expect(rules.httpErrorsOutsideEdge(g)).toEqual(['a2a/proxy.ts -> http/errors.ts']);
    expect(cycles(g)).toHaveLength(1);
  });
});
