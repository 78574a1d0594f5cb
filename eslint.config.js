import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.molecule/**', 'coverage/**', '.bench/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      'no-empty': ['error', { allowEmptyCatch: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  {
    // Stand-alone test programs run with plain `node` (a plain A2A agent): Node's globals, stdout is their interface.
    files: ['packages/*/src/test-support/**/*.mjs'],
    languageOptions: { globals: { fetch: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', setInterval: 'readonly' } },
    rules: { 'no-console': 'off' },
  },
  {
    files: ['packages/canvas/public/**/*.js'],
    languageOptions: { globals: { document: 'readonly', location: 'readonly', history: 'readonly', fetch: 'readonly' } },
  },
);
