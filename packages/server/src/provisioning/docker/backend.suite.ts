import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { createLogger } from '../../log.js';
import { migratedDb, type TestDb } from '../../test-support/harness.js';
import { readDir, removeWorkspaceArtifacts, testDocker, unlessGone } from '../../test-support/docker.js';
import type { WorkspaceRow } from '../../workspaces/repo.js';
import type { StartSpec } from '../port.js';
import { DockerBackend } from './backend.js';
import { containerName, MANAGED_LABEL, volumeName, WORKSPACE_LABEL, workspaceVolumeName } from './names.js';

// The docker backend against a real engine (scripts/services.sh starts one with the runtime image
// built offline). Agents run standalone here (no PLATFORM_URL): this suite is about containers,
// volumes and files; the end-to-end suite covers registration.
/** The docker backend against the real test engine. */
export function dockerBackendSuite(): void {
  describe('docker backend (real engine)', () => {
    const { docker, image } = testDocker();
    const log = createLogger({ level: 'silent', pretty: false });
    let pg: TestDb;
    let backend: DockerBackend;
    const made: string[] = [];
    const signal = () => AbortSignal.timeout(60_000);

    const ws = (over: Partial<WorkspaceRow> = {}): WorkspaceRow => {
      const w = { id: randomUUID(), name: 'docker-test', runtime: 'molecule', tier: 2, status: Status.Provisioning, ...over } as WorkspaceRow;
      made.push(w.id);
      return w;
    };
    const spec = (w: WorkspaceRow, over: Partial<StartSpec> = {}): StartSpec => ({
      workspace: w,
      env: {},
      secretFiles: { '.auth_token': `tok-${randomUUID()}`, '.platform_inbound_secret': 'inbound-secret' },
      templateFiles: { 'config.yaml': 'name: from-template\nadapter: echo\n', 'skills/a.md': '# a\n' },
      applyTemplate: false,
      ...over,
    });
    const health = async (url: string) => (await (await fetch(`${url}/health`)).json()) as { status: string; adapter: string };
    const configs = (id: string) => readDir(docker.getContainer(containerName(id)), '/configs');
    const unreachable = () =>
      new DockerBackend({ docker: new Docker({ socketPath: '/nonexistent/docker.sock' }), db: pg.db, log, network: 'host', runtimeImage: image, imageLocalOverride: false });

    beforeAll(async () => {
      pg = await migratedDb('postgres');
      backend = new DockerBackend({ docker, db: pg.db, log, network: 'host', runtimeImage: image, imageLocalOverride: false, stopGraceSeconds: 2 });
    });
    afterAll(async () => {
      for (const id of made) await removeWorkspaceArtifacts(docker, id);
      await pg?.drop();
    });

    it('C100 C101 runs ws-<id> with the ws-<id>-configs volume at /configs and ws-<id>-workspace at /workspace, all labelled managed, limited by tier', async () => {
      const w = ws({ tier: 3 });
      const started = await backend.start(spec(w), signal());
      const info = await docker.getContainer(containerName(w.id)).inspect();
      expect(started.instanceId).toBe(info.Id);
      expect(info.Name).toBe(`/ws-${w.id}`);
      expect(info.Mounts).toContainEqual(expect.objectContaining({ Type: 'volume', Name: `ws-${w.id}-configs`, Destination: '/configs' }));
      expect(info.Config.Labels).toMatchObject({ [MANAGED_LABEL]: 'true', [WORKSPACE_LABEL]: w.id });
      expect(info.Mounts).toContainEqual(expect.objectContaining({ Type: 'volume', Name: `ws-${w.id}-workspace`, Destination: '/workspace' }));
      for (const name of [volumeName(w.id), workspaceVolumeName(w.id)]) {
        expect((await docker.getVolume(name).inspect()).Labels).toMatchObject({ [MANAGED_LABEL]: 'true', [WORKSPACE_LABEL]: w.id });
      }
      expect(info.HostConfig.Memory).toBe(2048 * 1024 * 1024);
      expect(info.HostConfig.NanoCpus).toBe(2e9);
      expect(info.HostConfig.NetworkMode).toBe('host');
      expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(info.Config.Env).toContain(`MOLECULE_WORKSPACE_URL=${started.url}`);
      await expect.poll(() => health(started.url).then((h) => h.status, () => 'down'), { timeout: 20_000 }).toBe('ok');
      expect(started.imageDigest).toBe((await docker.getImage(image).inspect()).Id);
    });

    it('writes the template and secret files into the volume with their modes before the agent starts', async () => {
      const w = ws();
      await backend.start(spec(w), signal());
      const files = await configs(w.id);
      expect(files.get('config.yaml')).toEqual({ mode: 0o644, content: 'name: from-template\nadapter: echo\n' });
      expect(files.get('skills/a.md')).toEqual({ mode: 0o644, content: '# a\n' });
      expect(files.get('.auth_token')?.mode).toBe(0o600);
      expect(files.get('.platform_inbound_secret')).toEqual({ mode: 0o600, content: 'inbound-secret' });
    });

    it('C129 C130 a restart keeps edited configs, the working directory and rewrites the secrets; applyTemplate starts from the template and keeps the working directory; an emptied volume is restored', async () => {
      const w = ws();
      await backend.start(spec(w), signal());
      const c = docker.getContainer(containerName(w.id));
      // An edit made inside the workspace, a file of the agent's own, and one in its working directory.
      const { configsArchive } = await import('./backend.js');
      await c.putArchive(await configsArchive([{ path: 'config.yaml', content: 'name: edited\nadapter: echo\n', mode: 0o644 }, { path: 'notes.md', content: 'mine', mode: 0o644 }]), { path: '/configs' });
      await c.putArchive(await configsArchive([{ path: '.molecule/session.json', content: 'kept', mode: 0o644 }]), { path: '/workspace' });
      const session = async () => (await readDir(docker.getContainer(containerName(w.id)), '/workspace')).get('.molecule/session.json')?.content;

      const again = spec(w);
      await backend.start(again, signal());
      let files = await configs(w.id);
      expect(files.get('config.yaml')?.content).toBe('name: edited\nadapter: echo\n');
      expect(files.get('notes.md')?.content).toBe('mine');
      expect(files.get('.auth_token')?.content).toBe(again.secretFiles['.auth_token']);
      expect(await session()).toBe('kept');

      await backend.start(spec(w, { applyTemplate: true }), signal());
      files = await configs(w.id);
      expect(files.get('config.yaml')?.content).toBe('name: from-template\nadapter: echo\n');
      expect(files.has('notes.md')).toBe(false);
      expect(await session()).toBe('kept');

      await backend.stop(w, signal());
      await backend.removeVolumes(w, signal());
      await backend.start(spec(w), signal());
      files = await configs(w.id);
      expect(files.get('config.yaml')?.content).toBe('name: from-template\nadapter: echo\n');
      expect(files.get('.auth_token')?.mode).toBe(0o600);
      expect(await session()).toBeUndefined();
    });

    it('refuses a template path that escapes the configs volume, and creates nothing', async () => {
      const w = ws();
      await expect(backend.start(spec(w, { templateFiles: { '../etc/passwd': 'x' } }), signal())).rejects.toThrow(/escapes/);
      await expect(docker.getContainer(containerName(w.id)).inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(docker.getVolume(volumeName(w.id)).inspect()).rejects.toMatchObject({ statusCode: 404 });
    });

    it('C098 C099 isRunning: running, stopped once killed, stopped with no container, unknown when the engine does not answer', async () => {
      const w = ws();
      await backend.start(spec(w), signal());
      expect(await backend.isRunning(w)).toEqual({ state: 'running' });
      expect(await backend.runningContainerName(w.id)).toBe(`ws-${w.id}`);
      await docker.getContainer(containerName(w.id)).kill();
      await expect.poll(async () => (await backend.isRunning(w)).state, { timeout: 10_000 }).toBe('stopped');
      expect(await backend.runningContainerName(w.id)).toBe('');
      await backend.stop(w, signal());
      expect(await backend.isRunning(w)).toEqual({ state: 'stopped' });
      const down = await unreachable().isRunning(w);
      expect(down.state).toBe('unknown');
      await expect(unreachable().runningContainerName(w.id)).rejects.toThrow();
    });

    it('C103 stop removes the container, stopping again succeeds, and an engine error propagates', async () => {
      const w = ws();
      await backend.start(spec(w), signal());
      await backend.stop(w, signal());
      await expect(docker.getContainer(containerName(w.id)).inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(backend.stop(w, signal())).resolves.toBeUndefined();
      await expect(unreachable().stop(w, signal())).rejects.toThrow(/ENOENT|connect/);
      // The volumes outlive the stop; removeVolumes takes both, and again is fine.
      for (const name of [volumeName(w.id), workspaceVolumeName(w.id)]) expect((await docker.getVolume(name).inspect()).Name).toBe(name);
      await backend.removeVolumes(w, signal());
      for (const name of [volumeName(w.id), workspaceVolumeName(w.id)]) await expect(docker.getVolume(name).inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(backend.removeVolumes(w, signal())).resolves.toBeUndefined();
    });

    it('logs returns the tail of the agent output, and nothing for a workspace without a container', async () => {
      const w = ws();
      const started = await backend.start(spec(w), signal());
      await expect.poll(() => health(started.url).then((h) => h.status, () => 'down'), { timeout: 20_000 }).toBe('ok');
      // The agent's log line may reach the engine's log a moment after it answers /health.
      await expect.poll(() => backend.logs(w, 100_000), { timeout: 10_000 }).toContain('molecule-agent listening');
      expect(Buffer.byteLength(await backend.logs(w, 50))).toBeLessThanOrEqual(50);
      expect(await backend.logs(ws(), 1000)).toBe('');
    });

    it('C102 enumerates by name prefix and by label; a name that only contains ws- is not a workspace', async () => {
      const w = ws();
      await backend.start(spec(w), signal());
      const strangers = [`my-ws-tool-${randomUUID().slice(0, 8)}`, `ws-not-a-uuid-${randomUUID().slice(0, 8)}`];
      for (const name of strangers) await docker.createContainer({ name, Image: image });
      try {
        const byName = await backend.listWorkspaceContainerIdPrefixes();
        expect(byName).toContain(w.id);
        expect(byName).toContain(strangers[1]!.slice(3));
        expect(byName.some((id) => id.includes('tool'))).toBe(false);
        const byLabel = await backend.listManagedContainerIdPrefixes();
        expect(byLabel).toContain(w.id);
        expect(byLabel).not.toContain(strangers[1]!.slice(3));
        // A stopped workspace's volume is still listed, so the orphan sweeper can reap it.
        await backend.stop(w, signal());
        expect(await backend.listManagedContainerIdPrefixes()).not.toContain(w.id);
        expect(await backend.listManaged()).toContain(w.id);
      } finally {
        for (const name of strangers) await docker.getContainer(name).remove({ force: true }).catch(unlessGone);
      }
    });

    it('runs the bundled LLM adapters too (lazily loaded modules inside the one-file bundle)', async () => {
      const w = ws();
      const started = await backend.start(
        spec(w, { env: { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }, templateFiles: { 'config.yaml': 'name: llm\nadapter: openai\nmodel: gpt-4o-mini\n' } }),
        signal(),
      );
      await expect.poll(() => health(started.url).then((h) => h.adapter, () => 'down'), { timeout: 20_000 }).toBe('openai');
    });

    describe('images', () => {
      const digest = 'a'.repeat(64);
      afterAll(async () => {
        await pg.db.query('DELETE FROM runtime_image_pins');
      });

      it('C133 C135 a pin selects <base>@sha256:<digest>; no pin selects the runtime tag; unknown runtimes get the default image', async () => {
        expect(await backend.imageFor({ id: randomUUID(), runtime: 'molecule' })).toEqual({ ref: image, pinned: false });
        expect(await backend.imageFor({ id: randomUUID(), runtime: 'hermes' })).toEqual({ ref: image, pinned: false });
        await pg.db.query('INSERT INTO runtime_image_pins (template_name, digest, pinned_by) VALUES ($1, $2, $3)', ['molecule', digest, 'test']);
        const base = image.slice(0, image.lastIndexOf(':'));
        expect(await backend.imageFor({ id: randomUUID(), runtime: 'molecule' })).toEqual({ ref: `${base}@sha256:${digest}`, pinned: true });
        expect(await backend.imageFor({ id: randomUUID(), runtime: 'hermes' })).toEqual({ ref: image, pinned: false });
      });

      it('C134 WORKSPACE_IMAGE_LOCAL_OVERRIDE skips the pins', async () => {
        await pg.db.query('INSERT INTO runtime_image_pins (template_name, digest) VALUES ($1, $2) ON CONFLICT (template_name) DO UPDATE SET digest = $2', ['molecule', digest]);
        const local = new DockerBackend({ docker, db: pg.db, log, network: 'host', runtimeImage: image, imageLocalOverride: true });
        expect(await local.imageFor({ id: randomUUID(), runtime: 'molecule' })).toEqual({ ref: image, pinned: false });
      });

      it('C133 a failing pin lookup falls back to the tag', async () => {
        const broken = new DockerBackend({
          docker,
          db: { query: () => Promise.reject(new Error('database down')) } as unknown as TestDb['db'],
          log,
          network: 'host',
          runtimeImage: image,
          imageLocalOverride: false,
        });
        expect(await broken.imageFor({ id: randomUUID(), runtime: 'molecule' })).toEqual({ ref: image, pinned: false });
      });

      it('C137 a moving tag is pulled; the pull failing offline still runs the cached image', async () => {
        const moving = `molecule/agent-moving-${randomUUID().slice(0, 8)}:latest`;
        const [repo, tag] = moving.split(':') as [string, string];
        await docker.getImage(image).tag({ repo, tag });
        try {
          const b = new DockerBackend({ docker, db: pg.db, log, network: 'host', runtimeImage: moving, imageLocalOverride: true });
          const w = ws();
          const started = await b.start(spec(w), signal());
          expect((await docker.getContainer(started.instanceId).inspect()).Config.Image).toBe(moving);
        } finally {
          await docker.getImage(moving).remove().catch(unlessGone);
        }
      });

      it('C137 an image that is neither cached nor pullable fails the start with the engine error, leaving no container', async () => {
        const b = new DockerBackend({ docker, db: pg.db, log, network: 'host', runtimeImage: `molecule/absent-${randomUUID().slice(0, 8)}:1.0.0`, imageLocalOverride: true });
        const w = ws();
        await expect(b.start(spec(w), signal())).rejects.toMatchObject({ statusCode: 404 });
        await expect(docker.getContainer(containerName(w.id)).inspect()).rejects.toMatchObject({ statusCode: 404 });
      });
    });
  });
}
