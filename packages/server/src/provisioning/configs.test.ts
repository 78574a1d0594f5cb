import { describe, expect, it } from 'vitest';
import { configFilesToWrite, passthroughEnv } from './configs.js';

const spec = (applyTemplate = false) => ({
  templateFiles: { 'config.yaml': 'name: t\n', 'skills/a.md': 'a' },
  secretFiles: { '.auth_token': 'tok', '.platform_inbound_secret': 'in' },
  applyTemplate,
});

describe('what a start writes into the configs', () => {
  it('C129 writes the template when there is no config.yaml, and the secrets every time, owner-only', () => {
    expect(configFilesToWrite(spec(), false)).toEqual([
      { path: 'config.yaml', content: 'name: t\n', mode: 0o644 },
      { path: 'skills/a.md', content: 'a', mode: 0o644 },
      { path: '.auth_token', content: 'tok', mode: 0o600 },
      { path: '.platform_inbound_secret', content: 'in', mode: 0o600 },
    ]);
    expect(configFilesToWrite(spec(), true).map((f) => f.path)).toEqual(['.auth_token', '.platform_inbound_secret']);
  });

  it('C130 writes the template again when it is applied, whatever the configs hold', () => {
    expect(configFilesToWrite(spec(true), true).map((f) => f.path)).toEqual(['config.yaml', 'skills/a.md', '.auth_token', '.platform_inbound_secret']);
  });

  it.each(['../x', '/etc/passwd', 'a/../../x', '', '.'])('refuses the template path %j', (bad) => {
    expect(() => configFilesToWrite({ ...spec(), templateFiles: { [bad]: 'x' } }, true)).toThrow(/escapes/);
  });

  it('passes only the provider settings of the server environment on', () => {
    expect(passthroughEnv({ OPENAI_API_KEY: 'k', DATABASE_URL: 'postgres://x', ADMIN_TOKEN: 't', ANTHROPIC_BASE_URL: '' })).toEqual({ OPENAI_API_KEY: 'k' });
  });
});
