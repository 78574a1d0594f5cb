// Bundles the built molecule-agent (packages/runtime/dist/main.js) into one ESM file for the runtime
// image: CommonJS dependencies get a real `require`, the lazily imported adapters are inlined.
//   node scripts/bundle-runtime.mjs OUTFILE
// Used by scripts/build-runtime-image.sh and packages/runtime/Dockerfile.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const outfile = process.argv[2];
if (!outfile) {
  process.stderr.write('usage: node scripts/bundle-runtime.mjs OUTFILE\n');
  process.exit(2);
}
await build({
  entryPoints: [fileURLToPath(new URL('../packages/runtime/dist/main.js', import.meta.url))],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
  banner: { js: "import { createRequire as __molCreateRequire } from 'node:module'; const require = __molCreateRequire(import.meta.url);" },
});
