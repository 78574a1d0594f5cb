import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '@molecule/contracts';
import { loadConfig } from '../../config.js';
import { createLogger } from '../../log.js';
import { healthSweep, orphanSweep, RestartBackoff } from '../../loops/sweeps.js';
import { startServer, type RunningServer } from '../../server.js';
import { removeWorkspaceArtifacts, testDocker, unlessGone } from '../../test-support/docker.js';
import type { WorkspaceRow } from '../../workspaces/repo.js';
import { DockerBackend } from './backend.js';
import { containerName, volumeName } from './names.js';

// The whole flow on the docker backend with the runtime image built offline and host networking:
// create from templates/echo, the agent in its container registers and goes online, answers A2A,
// is restarted after its container is killed, and delete removes the container and its volume.
/** Create -> online -> A2A -> kill -> restart -> delete, and the orphan sweeper, on the docker backend. */
export function dockerE2eSuite(): void {
  describe('docker backend end to end', () => {
    const { docker, host, image } = testDocker();
    let server: RunningServer;
    const admin = { authorization: 'Bearer e2e-admin-token-0123456789', 'content-type': 'application/json' };
    const made: string[] = [];

    beforeAll(async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-docker-e2e-'));
      const { config, warnings } = loadConfig({
        PORT: '0',
        MOLECULE_DATA_DIR: dir,
        ADMIN_TOKEN: admin.authorization.slice(7),
        MOLECULE_PROVISIONER: 'docker',
        DOCKER_HOST: host,
        MOLECULE_DOCKER_NETWORK: 'host',
        MOLECULE_RUNTIME_IMAGE: image,
      });
      expect(warnings).toEqual([]);
      server = await startServer(config, [], createLogger({ level: 'silent', pretty: false }));
    });
    afterAll(async () => {
      await server?.close();
      for (const id of made) await removeWorkspaceArtifacts(docker, id);
    });

    const get = async (id: string) => (await fetch(`${server.url}/workspaces/${id}`, { headers: admin })).json() as Promise<Record<string, unknown>>;
    const send = async (url: string, text: string) => {
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: randomUUID(), parts: [{ kind: 'text', text }] } } }),
      });
      return (await r.json()) as { result?: { status?: { message?: { parts?: { text?: string }[] } }; parts?: { text?: string }[] } };
    };
    const replyText = (r: Awaited<ReturnType<typeof send>>) => r.result?.status?.message?.parts?.[0]?.text ?? r.result?.parts?.[0]?.text;

    it('creates from the echo template, comes online, answers, recovers from a docker kill, and delete removes container and volume', async () => {
      const created = await fetch(`${server.url}/workspaces`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'docker-e2e-echo', template: 'echo' }) });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      made.push(id);
      await expect.poll(async () => (await get(id)).status, { timeout: 60_000, interval: 100 }).toBe(Status.Online);
      const first = await get(id);
      expect(String(first.url)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(first.instance_id).toBe((await docker.getContainer(containerName(id)).inspect()).Id);
      expect(first.runtime_image_digest).toBe((await docker.getImage(image).inspect()).Id);
      expect(replyText(await send(String(first.url), 'hi'))).toBe('echo: hi');

      await docker.getContainer(String(first.instance_id)).kill();
      await expect.poll(async () => {
        await healthSweep(server.deps, server.deps.db, new RestartBackoff());
        return (await get(id)).status;
      }, { timeout: 20_000, interval: 200 }).not.toBe(Status.Online);
      await expect.poll(async () => (await get(id)).status, { timeout: 60_000, interval: 100 }).toBe(Status.Online);
      const second = await get(id);
      expect(second.instance_id).not.toBe(first.instance_id);
      expect(replyText(await send(String(second.url), 'again'))).toBe('echo: again');

      expect((await fetch(`${server.url}/workspaces/${id}`, { method: 'DELETE', headers: { authorization: admin.authorization } })).status).toBe(200);
      await expect.poll(() => docker.getContainer(containerName(id)).inspect().then(() => 'present', (err: { statusCode?: number }) => err.statusCode), { timeout: 30_000 }).toBe(404);
      await expect.poll(() => docker.getVolume(volumeName(id)).inspect().then(() => 'present', (err: { statusCode?: number }) => err.statusCode), { timeout: 30_000 }).toBe(404);
    }, 180_000); // real containers on a loaded 2-core CI machine

    it('C175 the orphan sweeper reaps a managed container and volume with no workspace row, and leaves a container that only contains ws- alone', async () => {
      const backend = server.deps.provisioners.docker;
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
        await expect(docker.getVolume(volumeName(orphan.id)).inspect()).rejects.toMatchObject({ statusCode: 404 });
        expect((await docker.getContainer(stranger).inspect()).Name).toBe(`/${stranger}`);
      } finally {
        await docker.getContainer(stranger).remove({ force: true }).catch(unlessGone);
      }
    }, 60_000);
  });
}
