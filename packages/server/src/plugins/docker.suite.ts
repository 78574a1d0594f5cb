import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { healthSweep, RestartBackoff } from '../loops/sweeps.js';
import type { RunningServer } from '../main.js';
import { containerName } from '../provisioning/docker/names.js';
import { removeWorkspaceArtifacts, testDocker } from '../test-support/docker.js';
import { e2eClient, startE2eServer } from '../test-support/e2e.js';
import { pluginsClient, pluginsRoundTrip } from './e2e.suite.js';

/** A backoff that never allows the sweep's automatic restart, so one sweep's verdict stays visible. */
class NoRestarts extends RestartBackoff {
  override allow(): boolean {
    return false;
  }
}

/**
 * The seeds' plugin scenario (C180, C182, C185, C187) on the Docker backend: an external workspace
 * and a Docker-backed one, both online; installing gives 422 with the hint for the first and success
 * for the second; once the second's container stops, one health sweep makes status and plugins agree.
 */
export function dockerPluginsSuite(): void {
  describe('plugins on the docker backend, end to end', () => {
    const { docker, host, image } = testDocker();
    let server: RunningServer;
    const made: string[] = [];
    const c = e2eClient(() => server);
    const p = pluginsClient(() => server);

    beforeAll(async () => {
      ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'docker', DOCKER_HOST: host, MOLECULE_DOCKER_NETWORK: 'host', MOLECULE_RUNTIME_IMAGE: image }, 'molecule-docker-plugins-'));
    });
    afterAll(async () => {
      await server?.close();
      for (const id of made) await removeWorkspaceArtifacts(docker, id);
    });

    it('C180 C182 C185 C187 external: 422 with the hint; Docker: installed and hot-loaded; container stopped: after one sweep the status says offline and plugins say 503 / []', async () => {
      const ext = await fetch(`${server.url}/workspaces`, { method: 'POST', headers: c.admin, body: JSON.stringify({ name: 'plug-external', runtime: 'external' }) });
      expect(ext.status).toBe(201);
      const extId = ((await ext.json()) as { id: string }).id;
      const id = await c.create('plug-docker', 'echo');
      made.push(id);
      await c.waitOnline(id, 60_000);

      const refused = await p.install(extId, 'clock');
      expect(refused.status).toBe(422);
      expect(refused.body.hint).toBe('external workspaces pull plugins via GET /workspaces/:id/plugins/:name/download');
      await pluginsRoundTrip(p, id);
      // Installed again so a stopped container has something the list would show.
      expect((await p.install(id, 'clock')).status).toBe(200);

      // The background sweep is stopped so the one sweep below is the only one, with no restart after it.
      await server.deps.loops.stop();
      await docker.getContainer(containerName(id)).stop({ t: 1 });
      await healthSweep(server.deps, server.deps.db, new NoRestarts());
      expect((await c.get(id)).status).toBe(Status.Offline);
      const install = await p.install(id, 'team-ask');
      expect([install.status, install.body.error]).toEqual([503, 'workspace container not running']);
      expect((await p.uninstall(id, 'clock')).status).toBe(503);
      expect(await p.installed(id)).toEqual([]);
    }, 180_000);
  });
}
