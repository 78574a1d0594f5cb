import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The canvas is built into dist/ and served by the platform at / (no second server). The contracts
// package is read from its sources, so the browser bundle shares the platform's types and constants.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  resolve: { alias: { '@molecule/contracts': fileURLToPath(new URL('../contracts/src/index.ts', import.meta.url)) } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1500 },
  logLevel: 'warn',
});
