import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../main.js';
import { terminalEndToEnd, terminalOfStopped } from '../../terminal/e2e.suite.js';
import { removeWorkspaceArtifacts, testDocker } from '../../test-support/docker.js';
import { e2eClient, startE2eServer } from '../../test-support/e2e.js';
import { containerName } from './names.js';

/** The terminal on the Docker backend: a TTY exec in a real container of the runtime image. */
export function dockerTerminalSuite(): void {
  describe('terminal on the docker backend, end to end', () => {
    const { docker, host, image } = testDocker();
    let server: RunningServer;
    const made: string[] = [];
    const c = e2eClient(() => server);

    beforeAll(async () => {
      ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'docker', DOCKER_HOST: host, MOLECULE_DOCKER_NETWORK: 'host', MOLECULE_RUNTIME_IMAGE: image }, 'molecule-docker-terminal-'));
    });
    afterAll(async () => {
      await server?.close();
      for (const id of made) await removeWorkspaceArtifacts(docker, id);
    });

    it('C230 opens /bin/bash in the container through a TTY exec (echo hi, Ctrl-C, resize, exit), diagnoses docker-client, container-found, container-running, exec-probe ok, and names container-found once the workspace is paused (its container removed)', async () => {
      const id = await c.create('docker-terminal', 'echo');
      made.push(id);
      await c.waitOnline(id, 60_000);
      await terminalEndToEnd(server, c.admin, id, ['docker-client', 'container-found', 'container-running', 'exec-probe']);

      // Paused: the backend removes the container, so diagnose stops at container-found.
      expect((await fetch(`${server.url}/workspaces/${id}/pause`, { method: 'POST', headers: c.admin })).status).toBe(200);
      await expect.poll(async () => (await c.get(id)).status, { timeout: 30_000 }).toBe('paused');
      await expect
        .poll(async () => docker.getContainer(containerName(id)).inspect().then(() => 'still there', (err: { statusCode?: number }) => err.statusCode), { timeout: 30_000 })
        .toBe(404);
      await terminalOfStopped(server, c.admin, id, 'container-found');
    }, 180_000);
  });
}
