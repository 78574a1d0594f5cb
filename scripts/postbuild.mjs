#!/usr/bin/env node
// After `tsc -b`: make the package bins executable (tsc writes 0644, and on a fresh clone npm linked
// them before they existed), bundle molecule-mcp into the one file the platform serves to agents
// elsewhere (GET /connect/molecule-mcp.mjs), then write the embedded database template the first
// start loads.
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
for (const bin of ['packages/cli/dist/main.js', 'packages/server/dist/bin.js', 'packages/runtime/dist/main.js', 'packages/runtime/dist/mcp-main.js', 'packages/memory-postgres/dist/main.js']) chmodSync(root + bin, 0o755);
execFileSync(process.execPath, [root + 'scripts/bundle-runtime.mjs', root + 'packages/runtime/dist/molecule-mcp.mjs', 'mcp-main.js'], { stdio: 'inherit' });
await import(root + 'packages/server/dist/make-template.js');
