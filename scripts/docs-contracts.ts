/** Writes docs/contracts.md (`npm run docs:contracts`): every contract id with its state. */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { readContracts, renderLedger, testsNaming } from './contracts-ledger.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const contracts = readContracts(fileURLToPath(new URL('../../shared/spec/contracts.md', import.meta.url)));
await writeFile(new URL('../docs/contracts.md', import.meta.url), renderLedger(contracts, testsNaming(root)));
process.stdout.write(`docs/contracts.md: ${contracts.length} contracts\n`);
