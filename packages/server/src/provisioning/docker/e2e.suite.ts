import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { orphanSweep } from '../../loops/sweeps.js';
import type { RunningServer } from '../../main.js';
import { e2eClient, startE2eServer } from '../../test-support/e2e.js';
import { removeWorkspaceArtifacts, testDocker, unlessGone } from '../../test-support/docker.js';
import type { WorkspaceRow } from '../../workspaces/repo.js';
import { DockerBackend } from './backend.js';
import { containerName, volumeName, workspaceVolumeName } from './names.js';

// The whole flow on the docker backend with the runtime image built offline and host networking:
// create from templates/echo, the agent in its container registers and goes online, answers A2A,
// is restarted after its container is killed, and delete removes the container and its volume.
/** Create -> online -> A2A -> kill -> restart -> delete, and the orphan sweeper, on the docker backend. */
export function dockerE2eSuite(): void {
  describe('docker backend end to end', () => {
    const { docker, host, image } = testDocker();
    let server: RunningServer;
    const made: string[] = [];
    const c = e2eClient(() => server);

    beforeAll(async () => {
      const started = await startE2eServer({ MOLECULE_PROVISIONER: 'docker', DOCKER_HOST: host, MOLECULE_DOCKER_NETWORK: 'host', MOLECULE_RUNTIME_IMAGE: image }, 'molecule-docker-e2e-');
      expect(started.warnings).toEqual([]);
      server = started.server;
    });
    afterAll(async () => {
      await server?.close();
      for (const id of made) await removeWorkspaceArtifacts(docker, id);
    });

    it('creates from the echo template, comes online, answers, recovers from a docker kill, and delete removes container and volumes', async () => {
      const id = await c.create('docker-e2e-echo', 'echo');
      made.push(id);
      await c.waitOnline(id, 60_000);
      const first = await c.get(id);
      expect(String(first.url)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(first.instance_id).toBe((await docker.getContainer(containerName(id)).inspect()).Id);
      expect(first.runtime_image_digest).toBe((await docker.getImage(image).inspect()).Id);
      expect(await c.sendDirect(String(first.url), 'hi')).toBe('echo: hi');

      await docker.getContainer(String(first.instance_id)).kill();
      await c.waitNoticedDead(id, 20_000);
      await c.waitOnline(id, 60_000);
      const second = await c.get(id);
      expect(second.instance_id).not.toBe(first.instance_id);
      expect(await c.sendDirect(String(second.url), 'again')).toBe('echo: again');

      expect(await c.remove(id)).toBe(200);
      await expect.poll(() => docker.getContainer(containerName(id)).inspect().then(() => 'present', (err: { statusCode?: number }) => err.statusCode), { timeout: 30_000 }).toBe(404);
      for (const name of [volumeName(id), workspaceVolumeName(id)]) {
        await expect.poll(() => docker.getVolume(name).inspect().then(() => 'present', (err: { statusCode?: number }) => err.statusCode), { timeout: 30_000 }).toBe(404);
      }
    }, 180_000); // real containers on a loaded 2-core CI machine

    it('C175 the orphan sweeper reaps a managed container and volume with no workspace row, and leaves a container that only contains ws- alone', async () => {
      const backend = server.deps.provisioner;
      expect(backend).toBeInstanceOf(DockerBackend);
      const orphan = { id: randomUUID(), name: 'orphan', runtime: 'molecule', tier: 1, status: Status.Online } as WorkspaceRow;
      made.push(orphan.id);
      await backend!.start({ workspace: orphan, env: {}, secretFiles: {}, templateFiles: { 'config.yaml': 'name: orphan\n' }, applyTemplate: false }, AbortSignal.timeout(60_000));
      const stranger = `my-ws-tool-${randomUUID().slice(0, 8)}`;
      await docker.createContainer({ name: stranger, Image: image });
      try {
        const { reaped } = await orphanSweep(server.deps, server.deps.db);
        expect(reaped).toContain(orphan.id);
        await expect(docker.getContainer(containerName(orphan.id)).inspect()).rejects.toMatchObject({ statusCode: 404 });
        for (const name of [volumeName(orphan.id), workspaceVolumeName(orphan.id)]) await expect(docker.getVolume(name).inspect()).rejects.toMatchObject({ statusCode: 404 });
        expect((await docker.getContainer(stranger).inspect()).Name).toBe(`/${stranger}`);
      } finally {
        await docker.getContainer(stranger).remove({ force: true }).catch(unlessGone);
      }
    }, 60_000);
  });
}
