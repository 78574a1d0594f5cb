#!/usr/bin/env node
// The `molecule` command. This launcher is committed (not built) so that `npm install` links it on a
// fresh clone, before `dist/` exists: npm skips a bin whose target is missing at install time.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('molecule: the CLI is not built yet: run `npm start` (it builds first) or `npm run build` in the repository\n');
  process.exit(1);
}
await import(main.href);
