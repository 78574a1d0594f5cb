import Docker from 'dockerode';
import { extract } from 'tar-stream';
import { dockerClientOptions } from '../provisioning/docker/network.js';
import { containerName, volumeName, workspaceVolumeName } from '../provisioning/docker/names.js';
import { requireServiceUrl } from './harness.js';

/** The test Docker engine and the runtime image built into it (scripts/services.sh). */
export function testDocker(): { docker: Docker; host: string; image: string } {
  const host = requireServiceUrl('TEST_DOCKER_HOST');
  return { docker: new Docker(dockerClientOptions(host)), host, image: requireServiceUrl('TEST_RUNTIME_IMAGE') };
}

/** Every file under `dir` in a container (volumes included), with its permission bits and text. */
export async function readDir(container: Docker.Container, dir: string): Promise<Map<string, { mode: number; content: string }>> {
  const stream = await container.getArchive({ path: dir });
  const out = new Map<string, { mode: number; content: string }>();
  const ex = extract();
  const base = dir.split('/').pop()!;
  ex.on('entry', (header, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: unknown) => chunks.push(c as Buffer));
    body.on('end', () => {
      if (header.type === 'file') out.set(header.name.replace(new RegExp(`^${base}/`), ''), { mode: (header.mode ?? 0) & 0o777, content: Buffer.concat(chunks).toString('utf8') });
      next();
    });
    body.resume();
  });
  await new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', reject);
    stream.pipe(ex);
  });
  return out;
}

/** Removes a workspace's container and volumes, whatever state they are in (test cleanup). */
export async function removeWorkspaceArtifacts(docker: Docker, id: string): Promise<void> {
  await docker.getContainer(containerName(id)).remove({ force: true }).catch(unlessGone);
  for (const name of [volumeName(id), workspaceVolumeName(id)]) await docker.getVolume(name).remove().catch(unlessGone);
}

/** Rethrows anything but the engine's 404: already gone is what cleanup wants. */
export function unlessGone(err: unknown): void {
  if ((err as { statusCode?: number }).statusCode !== 404) throw err;
}
