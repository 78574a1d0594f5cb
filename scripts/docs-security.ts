/**
 * Writes docs/security.md from the routes the server registers (`npm run docs:security`).
 * The auth matrix test fails when the checked-in file is stale.
 */
import { writeFile } from 'node:fs/promises';
import { renderSecurityDoc, startTestApp } from '@molecule/server/testing';

const t = await startTestApp();
try {
  await writeFile(new URL('../docs/security.md', import.meta.url), renderSecurityDoc(t.app.accessTable));
  process.stdout.write(`docs/security.md: ${t.app.accessTable.filter((r) => r.method !== 'HEAD').length} routes\n`);
} finally {
  await t.close();
}
