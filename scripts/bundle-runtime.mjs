// Bundles a built bin of packages/runtime (default dist/main.js, molecule-agent) into one ESM file:
// CommonJS dependencies get a real `require`, the lazily imported adapters are inlined.
//   node scripts/bundle-runtime.mjs OUTFILE [ENTRY]
// Used by scripts/build-runtime-image.sh and packages/runtime/Dockerfile (molecule-agent), and by
// postbuild (molecule-mcp, which the platform serves at /connect/molecule-mcp.mjs).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const [outfile, entry = 'main.js'] = process.argv.slice(2);
if (!outfile) {
  process.stderr.write('usage: node scripts/bundle-runtime.mjs OUTFILE [ENTRY]\n');
  process.exit(2);
}
await build({
  entryPoints: [fileURLToPath(new URL(`../packages/runtime/dist/${entry}`, import.meta.url))],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
  banner: { js: "import { createRequire as __molCreateRequire } from 'node:module'; const require = __molCreateRequire(import.meta.url);" },
});
