import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack } from 'tar-stream';
import { filesClient, filesRoundTrip } from '../../files/e2e.suite.js';
import type { RunningServer } from '../../main.js';
import { removeWorkspaceArtifacts, testDocker } from '../../test-support/docker.js';
import { e2eClient, startE2eServer } from '../../test-support/e2e.js';
import { containerName } from './names.js';

/** A tar holding one symlink entry `name -> target`. */
async function symlinkTar(name: string, target: string): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => p.on('end', resolve));
  p.entry({ name, type: 'symlink', linkname: target });
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The Files API on the Docker backend: the engine's archive API against a real container. */
export function dockerFilesSuite(): void {
  describe('files API on the docker backend, end to end', () => {
    const { docker, host, image } = testDocker();
    let server: RunningServer;
    const made: string[] = [];
    const c = e2eClient(() => server);
    const f = filesClient(() => server.url, c.admin);

    beforeAll(async () => {
      ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'docker', DOCKER_HOST: host, MOLECULE_DOCKER_NETWORK: 'host', MOLECULE_RUNTIME_IMAGE: image }, 'molecule-docker-files-'));
    });
    afterAll(async () => {
      await server?.close();
      for (const id of made) await removeWorkspaceArtifacts(docker, id);
    });

    it('lists, reads and writes a running echo agent’s files through the archive API, deletes through one exec, refuses symlinks, and C195 reads the template once it is stopped', async () => {
      const id = await c.create('docker-files', 'echo');
      made.push(id);
      await c.waitOnline(id, 60_000);
      await filesRoundTrip(f, id);

      // Deleting is one exec in the container (the image has node, not rm): a file, then a whole dir.
      expect((await f.remove(id, '/workspace/notes/hello.txt')).status).toBe(200);
      expect((await f.read(id, '/workspace/notes/hello.txt')).status).toBe(404);
      expect((await f.remove(id, '/configs/skills')).status).toBe(200);
      expect((await f.tree(id, 'root=/configs')).body.entries.map((e) => e.path)).not.toContain('/configs/skills');
      expect((await f.remove(id, '/configs/skills')).status).toBe(404);

      // C080: a symlink put into the container (as a tar entry) is refused on the way to any path.
      const container = docker.getContainer(containerName(id));
      await container.putArchive(await symlinkTar('escape', '/etc'), { path: '/configs' });
      const read = await f.read(id, '/configs/escape/hostname');
      expect(read.status).toBe(400);
      expect(read.text).toMatch(/is a symlink/);
      expect((await f.write(id, '/configs/escape/pwned', 'pwned')).status).toBe(400);
      await expect(container.infoArchive({ path: '/etc/pwned' })).rejects.toMatchObject({ statusCode: 404 });
      expect((await f.tree(id, 'root=/configs')).body.entries.map((e) => e.path)).not.toContain('/configs/escape');

      // Stopped: /configs comes from the template (C195), writes answer 409.
      const paused = await fetch(`${server.url}/workspaces/${id}/pause`, { method: 'POST', headers: c.admin });
      expect(paused.status).toBe(200);
      await expect.poll(() => container.inspect().then((i) => i.State.Running, () => false), { timeout: 30_000 }).toBe(false);
      const tree = await f.tree(id, 'root=/configs');
      expect(tree.body.source).toBe('template');
      expect(tree.body.entries.map((e) => e.path)).toEqual(['/configs/config.yaml']);
      expect((await f.read(id, '/configs/skills/a.md')).status).toBe(404);
      expect((await f.write(id, '/configs/x.md', 'x')).status).toBe(409);
    }, 180_000);
  });
}
