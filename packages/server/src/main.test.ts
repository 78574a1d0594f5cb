import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { startServer } from './main.js';
import { freePort } from './net/free-port.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

describe('server boot', () => {
  it('logs every bad env value with its default, logs the resolved config without secrets, serves, and stops', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-boot-'));
    const { config, warnings } = loadConfig({
      PORT: '0',
      MOLECULE_DATA_DIR: dir,
      ADMIN_TOKEN: 'boot-test-admin-token-0123456789',
      MOLECULE_PROVISIONER: 'kubernetes',
      MOLECULE_BODY_LIMIT_BYTES: 'lots',
    });
    const { log, lines } = capture();
    const server = await startServer(config, warnings, log);
    try {
      const bad = lines.filter((l) => l.variable);
      expect(bad).toEqual([
        expect.objectContaining({ variable: 'MOLECULE_PROVISIONER', value: 'kubernetes', applied: 'process' }),
        expect.objectContaining({ variable: 'MOLECULE_BODY_LIMIT_BYTES', value: 'lots', applied: String(1024 * 1024) }),
      ]);
      const resolved = lines.find((l) => l.msg === 'configuration')!;
      expect(resolved.config).toMatchObject({ provisioner: 'process', admin_token: 'set', data_dir: dir });
      expect(JSON.stringify(lines)).not.toContain('boot-test-admin-token-0123456789');
      const health = await fetch(`${server.url}/health`);
      expect(await health.json()).toEqual({ status: 'ok' });
    } finally {
      await server.close();
    }
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
  });

  it('C249 memory at boot: the built-in store logs what it is and no warning; an external plugin that fails its probe logs one warning, without its credentials, and the platform serves', async () => {
    const boot = async (env: Record<string, string>) => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-boot-memory-'));
      const { config, warnings } = loadConfig({ PORT: '0', MOLECULE_DATA_DIR: dir, ADMIN_TOKEN: 'boot-test-admin-token-0123456789', MOLECULE_PROVISIONER: 'none', ...env });
      const { log, lines } = capture();
      return { server: await startServer(config, warnings, log), lines };
    };
    const builtin = await boot({});
    try {
      expect(builtin.lines.find((l) => l.msg === 'configuration')!.config).toMatchObject({ memory: expect.stringMatching(/^built-in \(pglite:.*memory, started on first use\)$/) });
      expect(builtin.lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
    } finally {
      await builtin.server.close();
    }
    const external = await boot({ MEMORY_PLUGIN_URL: `http://probe:hunter2@127.0.0.1:${await freePort()}` });
    try {
      await expect.poll(() => external.lines.filter((l) => l.msg === 'memory plugin did not answer its health probe; memory calls fail until it does')).toHaveLength(1);
      expect(JSON.stringify(external.lines)).not.toContain('hunter2');
      expect((await fetch(`${external.server.url}/health`)).status).toBe(200);
    } finally {
      await external.server.close();
    }
  }, 90_000);
});
