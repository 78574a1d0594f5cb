#!/usr/bin/env node
// `npm start`: build what is stale, then run the platform in the foreground (`molecule up`).
// A staleness check by modification time costs milliseconds; `tsc -b` runs only when a source file,
// a migration or a package/tsconfig file is newer than its package's last build.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const packages = ['contracts', 'memory-postgres', 'server', 'runtime', 'cli'];

function newestMtime(p) {
  let st;
  try {
    st = statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(p)) {
    // What tsc does not build (tests, test support) must not make a package look stale.
    if (e === 'node_modules' || e === 'dist' || e === 'test-support' || /\.(test|suite|contract)\.ts$/.test(e)) continue;
    newest = Math.max(newest, newestMtime(path.join(p, e)));
  }
  return newest;
}

const buildInfo = (pkg) => path.join(root, 'packages', pkg, 'dist', '.tsbuildinfo');

function builtAt(pkg) {
  try {
    return statSync(buildInfo(pkg)).mtimeMs;
  } catch {
    return -1;
  }
}

const stale = packages.some((pkg) => {
  const dir = path.join(root, 'packages', pkg);
  const sources = Math.max(newestMtime(path.join(dir, 'src')), newestMtime(path.join(dir, 'migrations')), newestMtime(path.join(dir, 'tsconfig.json')), newestMtime(path.join(dir, 'package.json')));
  return builtAt(pkg) < sources;
});

// What postbuild writes: the embedded database template and the molecule-mcp bundle agents fetch.
const templateMissing = !existsSync(path.join(root, 'packages/server/dist/pglite-template.tgz')) || !existsSync(path.join(root, 'packages/runtime/dist/molecule-mcp.mjs'));

// The canvas (vite build): stale when its sources, or the contracts it bundles, are newer than its build.
const canvas = path.join(root, 'packages/canvas');
const canvasBuilt = (() => {
  try {
    return statSync(path.join(canvas, 'dist/index.html')).mtimeMs;
  } catch {
    return -1;
  }
})();
const canvasStale =
  canvasBuilt <
  Math.max(...['src', 'index.html', 'vite.config.ts', 'package.json'].map((f) => newestMtime(path.join(canvas, f))), newestMtime(path.join(root, 'packages/contracts/src')));

if (stale || templateMissing || canvasStale) {
  process.stderr.write('molecule: building…\n');
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  // tsc leaves an up-to-date package's build info untouched even when a source's mtime moved;
  // everything is built now, so record that for the next start.
  const now = new Date();
  for (const pkg of packages) if (existsSync(buildInfo(pkg))) utimesSync(buildInfo(pkg), now, now);
}

process.argv.splice(2, 0, 'up');
await import(path.join(root, 'packages/cli/dist/main.js'));
