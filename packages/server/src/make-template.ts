#!/usr/bin/env node
// Build step: writes the migrated PGlite template a first start loads (see db/pglite-template.ts).
import { buildTemplate } from './db/pglite-template.js';

if (await buildTemplate()) process.stderr.write('molecule: wrote the embedded database template\n');
