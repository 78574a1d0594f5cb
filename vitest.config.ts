import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const alias = {
  '@molecule/contracts': fileURLToPath(new URL('./packages/contracts/src/index.ts', import.meta.url)),
  '@molecule/runtime/pty': fileURLToPath(new URL('./packages/runtime/src/pty.ts', import.meta.url)),
  '@molecule/runtime/terminal-socket': fileURLToPath(new URL('./packages/runtime/src/terminal-socket.ts', import.meta.url)),
  '@molecule/server/testing': fileURLToPath(new URL('./packages/server/src/test-support/index.ts', import.meta.url)),
  '@molecule/server': fileURLToPath(new URL('./packages/server/src/index.ts', import.meta.url)),
};

/** Suites that race the clock against real processes: they run last, one file at a time. */
const SERIAL = ['packages/server/src/faults/**/*.int.test.ts', 'packages/canvas/e2e/**/*.int.test.ts'];

// `unit`: embedded adapters only (PGlite, in-process bus), no outside services: `npm run check`.
// `integration`: the same suites and more against real PostgreSQL, Redis and built binaries;
// `serial`: the fault-injection suites and the Chromium e2e, after the others and one at a time.
// `scripts/test.sh` starts those services and runs every project: `npm test`.
export default defineConfig({
  resolve: { alias },
  test: {
    // Two test files at a time even on 2 cores (vitest's default is cores - 1, so one): most of a file's
    // time is waiting on child processes, sockets and databases, and every suite has its own data dir,
    // database and ports, so files do not interfere (fresh-clone CI: 24.8 -> ~16 min).
    maxWorkers: 2,
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.{ts,tsx}'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**', '**/dist/**'],
          // Many unit files boot a whole app on PGlite, which is CPU-bound: 11 s alone on the CI
          // machine for the heaviest, 16 s beside the integration suites under load.
          testTimeout: 30_000,
          hookTimeout: 60_000,
          // A loaded 2-core CI machine: waiting conditions get 5 s by default (vitest's is 1 s).
          expect: { poll: { timeout: 5_000 } },
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['packages/*/src/**/*.int.test.ts', 'packages/canvas/e2e/**/*.int.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', ...SERIAL],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          expect: { poll: { timeout: 5_000 } },
        },
      },
      {
        // Fault injection (killed platforms and provisioners, stopped databases, replicas under load)
        // measures recovery against the clock, and the Chromium e2e waits on a real browser: these
        // files run last, one at a time, with nothing else.
        resolve: { alias },
        test: {
          name: 'serial',
          include: SERIAL,
          exclude: ['**/node_modules/**', '**/dist/**'],
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
          testTimeout: 30_000,
          hookTimeout: 60_000,
          expect: { poll: { timeout: 5_000 } },
        },
      },
    ],
  },
});
