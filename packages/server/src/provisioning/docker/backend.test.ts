import { describe, expect, it } from 'vitest';
import { extract } from 'tar-stream';
import { Readable } from 'node:stream';
import { Status } from '@molecule/contracts';
import { createLogger } from '../../log.js';
import type { WorkspaceRow } from '../../workspaces/repo.js';
import { configsArchive, demuxLogs, DockerBackend, NoBackendError } from './backend.js';

const ws = { id: '0b7c2d4e-1f2a-4b3c-8d9e-0a1b2c3d4e5f', runtime: 'molecule', tier: 2, status: Status.Provisioning } as WorkspaceRow;

describe('docker backend without an engine', () => {
  const backend = new DockerBackend({
    docker: undefined,
    db: { query: () => Promise.reject(new Error('unused')) } as never,
    log: createLogger({ level: 'silent', pretty: false }),
    network: 'host',
    runtimeImage: 'molecule/agent:1.0.0',
    imageLocalOverride: true,
  });
  const signal = AbortSignal.timeout(5000);

  it('C104 every method answers the typed NoBackendError instead of crashing', async () => {
    const spec = { workspace: ws, env: {}, secretFiles: {}, templateFiles: {}, applyTemplate: false };
    await expect(backend.start(spec, signal)).rejects.toBeInstanceOf(NoBackendError);
    await expect(backend.stop(ws, signal)).rejects.toBeInstanceOf(NoBackendError);
    await expect(backend.removeVolumes(ws, signal)).rejects.toBeInstanceOf(NoBackendError);
    await expect(backend.logs(ws, 100)).rejects.toBeInstanceOf(NoBackendError);
    await expect(backend.listManaged()).rejects.toBeInstanceOf(NoBackendError);
    await expect(backend.runningContainerName(ws.id)).rejects.toBeInstanceOf(NoBackendError);
    await expect(backend.ensureImage('x:1', signal)).rejects.toBeInstanceOf(NoBackendError);
    const state = await backend.isRunning(ws, signal);
    expect(state).toMatchObject({ state: 'unknown' });
    expect((state as { error: unknown }).error).toBeInstanceOf(NoBackendError);
    expect(new NoBackendError().message).not.toMatch(/\/|sock/);
  });
});

describe('configs archive and logs', () => {
  it('packs files with their modes and the directories they need', async () => {
    const tar = await configsArchive([
      { path: 'config.yaml', content: 'name: a\n', mode: 0o644 },
      { path: 'skills/deep/b.md', content: 'b', mode: 0o644 },
      { path: '.auth_token', content: 'secret', mode: 0o600 },
    ]);
    const entries: { name: string; type: string; mode: number }[] = [];
    const ex = extract();
    ex.on('entry', (h, body, next) => {
      entries.push({ name: h.name, type: h.type ?? 'file', mode: (h.mode ?? 0) & 0o777 });
      body.on('end', next);
      body.resume();
    });
    await new Promise<void>((resolve, reject) => {
      ex.on('finish', resolve);
      ex.on('error', reject);
      Readable.from(tar).pipe(ex);
    });
    expect(entries).toEqual([
      { name: 'skills/', type: 'directory', mode: 0o755 },
      { name: 'skills/deep/', type: 'directory', mode: 0o755 },
      { name: 'config.yaml', type: 'file', mode: 0o644 },
      { name: 'skills/deep/b.md', type: 'file', mode: 0o644 },
      { name: '.auth_token', type: 'file', mode: 0o600 },
    ]);
  });

  it('demultiplexes the engine log stream, and passes plain text through', () => {
    const frame = (stream: number, text: string) => {
      const body = Buffer.from(text);
      const h = Buffer.alloc(8);
      h[0] = stream;
      h.writeUInt32BE(body.length, 4);
      return Buffer.concat([h, body]);
    };
    expect(demuxLogs(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')]))).toBe('out\nerr\n');
    expect(demuxLogs(Buffer.from('plain text log line\n'))).toBe('plain text log line\n');
    expect(demuxLogs('already text')).toBe('already text');
  });
});
