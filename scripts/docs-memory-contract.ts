/** Writes packages/contracts/memory-plugin-v1.openapi.json from the zod schemas (`npm run docs:memory-contract`). */
import { writeFileSync } from 'node:fs';
import { memoryPluginOpenApi } from '../packages/contracts/src/memory-openapi.js';

export const MEMORY_OPENAPI_FILE = new URL('../packages/contracts/memory-plugin-v1.openapi.json', import.meta.url);
export const renderMemoryOpenApi = (): string => `${JSON.stringify(memoryPluginOpenApi(), null, 2)}\n`;

if (process.argv[1]?.endsWith('docs-memory-contract.ts')) {
  writeFileSync(MEMORY_OPENAPI_FILE, renderMemoryOpenApi());
  process.stdout.write('packages/contracts/memory-plugin-v1.openapi.json written\n');
}
