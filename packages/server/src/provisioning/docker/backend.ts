import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import type { Queryable } from '../../db/port.js';
import type { Logger } from '../../log.js';
import { freePort } from '../../net/free-port.js';
import type { WorkspaceRow } from '../../workspaces/read.js';
import { assertTemplatePaths, configFilesToWrite, type ConfigFile } from '../configs.js';
import type { Provisioner, RunningState, StartSpec } from '../port.js';
import { DockerFiles } from './files.js';
import { DockerTerminal } from './terminal.js';
import { imageTagIsMoving, parseImageRef, resolvePinnedImage, selectImage } from './images.js';
import { CONFIGS_DIR, containerName, idFromContainerName, idFromVolumeName, MANAGED_LABEL, managedLabels, volumeName, WORKSPACE_DIR, workspaceVolumeName } from './names.js';
import { networkPlan } from './network.js';
import { tierHostConfig } from './tiers.js';

/**
 * Thrown by every method of a docker backend that has no engine client (C104): the typed answer
 * instead of a crash. Its message is safe to show.
 */
export class NoBackendError extends Error {
  readonly code = 'ERR_NO_BACKEND';
  constructor() {
    super('the Docker provisioner has no engine client (check DOCKER_HOST and the platform log)');
    this.name = 'NoBackendError';
  }
}

export interface DockerBackendOptions {
  /** The engine client; undefined when none could be made (every call then throws NoBackendError). */
  docker: Docker | undefined;
  /** Where runtime_image_pins live. */
  db: Queryable;
  log: Logger;
  /** MOLECULE_DOCKER_NETWORK: `host`, `bridge` or a user network. */
  network: string;
  /** MOLECULE_RUNTIME_IMAGE: the `molecule` runtime's image and the default for any other runtime. */
  runtimeImage: string;
  /** Runtimes with an image of their own (runtime -> reference); `molecule` defaults to runtimeImage. */
  images?: Record<string, string>;
  /** WORKSPACE_IMAGE_LOCAL_OVERRIDE=1: never consult the pins (C134). */
  imageLocalOverride: boolean;
  /** How long `stop` lets the agent shut down before the engine kills it. */
  stopGraceSeconds?: number;
}

/** The statusCode dockerode puts on an engine error answer. */
const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number } | null)?.statusCode;

/**
 * Runs each workspace as a Docker container `ws-<id>` with its configs in the volume
 * `ws-<id>-configs` at /configs (C100), both labelled as managed (C101), limited by the workspace's
 * tier. The configs are written into the volume through the engine's archive API before the agent
 * starts, never through host paths. The agent registers itself; `start` returns the container id
 * and the URL the agent advertises.
 */
export class DockerBackend implements Provisioner {
  readonly backend = 'docker' as const;
  readonly passesProviderEnv = true;

  /** The container's files through the engine's archive API (the agent must run). */
  readonly files = new DockerFiles(() => this.client());
  /** A TTY exec session in the container. */
  readonly terminal = new DockerTerminal(() => this.opts.docker);

  constructor(private readonly opts: DockerBackendOptions) {}

  private client(): Docker {
    if (!this.opts.docker) throw new NoBackendError();
    return this.opts.docker;
  }

  private get images(): Record<string, string> {
    return { molecule: this.opts.runtimeImage, ...this.opts.images };
  }

  /**
   * The image a workspace runs (C135): its runtime's pin when one exists (C133, skipped with the
   * local override, C134), else the runtime's tag, else the default image.
   */
  async imageFor(ws: Pick<WorkspaceRow, 'id' | 'runtime'>): Promise<{ ref: string; pinned: boolean }> {
    const tag = selectImage({ runtime: ws.runtime, images: this.images, defaultImage: this.opts.runtimeImage });
    const pin = await resolvePinnedImage(this.opts.db, ws.runtime, tag, {
      localOverride: this.opts.imageLocalOverride,
      // Fail-open: a pin lookup failure must not stop workspaces from starting (C133).
      onError: (err) => this.opts.log.warn({ err, workspace_id: ws.id, runtime: ws.runtime }, 'image pin lookup failed; using the tag'),
    });
    return { ref: selectImage({ explicit: pin, runtime: ws.runtime, images: this.images, defaultImage: this.opts.runtimeImage }), pinned: pin !== undefined };
  }

  /**
   * Pulls `ref` when it is missing locally or its tag moves (C137). A failed pull is only logged:
   * a cached image still runs, and without one the container create reports the missing image.
   */
  async ensureImage(ref: string, signal: AbortSignal): Promise<void> {
    const docker = this.client();
    let present = true;
    try {
      await docker.getImage(ref).inspect();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      present = false;
    }
    if (present && !imageTagIsMoving(ref)) return;
    try {
      const stream = (await docker.pull(ref, { abortSignal: signal })) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      this.opts.log.warn({ err, image: ref, present }, 'image pull failed; using what the engine has');
    }
  }

  async start(spec: StartSpec, signal: AbortSignal): Promise<{ instanceId: string; url: string; imageDigest?: string }> {
    const docker = this.client();
    const ws = spec.workspace;
    assertTemplatePaths(spec.templateFiles);
    const image = await this.imageFor(ws);
    await this.ensureImage(image.ref, signal);
    await this.stop(ws, signal);
    // Applying the template starts from empty configs, as a fresh workspace would (C130); the
    // agent's working directory is its own and stays.
    if (spec.applyTemplate) await this.removeVolume(volumeName(ws.id), signal);
    for (const name of [volumeName(ws.id), workspaceVolumeName(ws.id)]) await docker.createVolume({ Name: name, Labels: managedLabels(ws.id), abortSignal: signal });

    const needsHostPort = this.opts.network === 'host' || this.opts.network === 'bridge';
    const plan = networkPlan(this.opts.network, ws.id, needsHostPort ? await freePort() : 0, spec.env.PLATFORM_URL ?? '');
    const env: Record<string, string> = {
      ...spec.env,
      MOLECULE_CONFIGS_DIR: CONFIGS_DIR,
      MOLECULE_WORKSPACE_DIR: WORKSPACE_DIR,
      TIER: String(ws.tier),
      ...plan.env,
    };
    const container = await docker.createContainer({
      name: containerName(ws.id),
      Image: image.ref,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: managedLabels(ws.id),
      ExposedPorts: plan.portBindings ? Object.fromEntries(Object.keys(plan.portBindings).map((p) => [p, {}])) : undefined,
      HostConfig: {
        Mounts: [
          { Type: 'volume', Source: volumeName(ws.id), Target: CONFIGS_DIR },
          { Type: 'volume', Source: workspaceVolumeName(ws.id), Target: WORKSPACE_DIR },
        ],
        NetworkMode: plan.networkMode,
        PortBindings: plan.portBindings,
        ExtraHosts: plan.extraHosts,
        // The platform's health sweep is the one place that restarts a dead agent (with backoff and
        // fresh credentials), so the engine does not restart it on its own.
        RestartPolicy: { Name: 'no' },
        SecurityOpt: ['no-new-privileges'],
        // An init as PID 1: a stop that arrives while the agent is still loading ends it at once
        // (PID 1 would ignore it), and stray children are reaped.
        Init: true,
        ...tierHostConfig(ws.tier),
      },
      NetworkingConfig: plan.endpoints ? { EndpointsConfig: plan.endpoints } : undefined,
      abortSignal: signal,
    });
    try {
      const hasConfig = await this.containerHasFile(container, `${CONFIGS_DIR}/config.yaml`, signal);
      await container.putArchive(await configsArchive(configFilesToWrite(spec, hasConfig)), { path: CONFIGS_DIR, copyUIDGID: '1', abortSignal: signal });
      await container.start({ abortSignal: signal });
    } catch (err) {
      await container.remove({ force: true }).catch((e: unknown) => this.opts.log.warn({ err: e, workspace_id: ws.id }, 'could not remove the container of a failed start'));
      throw err;
    }
    return { instanceId: container.id, url: plan.url, imageDigest: await this.imageDigest(image.ref) };
  }

  /** The digest a reference runs: its pin, its registry digest, or the local image id. */
  private async imageDigest(ref: string): Promise<string | undefined> {
    const pinned = parseImageRef(ref).digest;
    if (pinned) return pinned;
    try {
      const info = await this.client().getImage(ref).inspect();
      const repoDigest = info.RepoDigests?.[0]?.split('@')[1];
      return repoDigest ?? info.Id;
    } catch (err) {
      this.opts.log.warn({ err, image: ref }, 'could not read the image digest');
      return undefined;
    }
  }

  private async containerHasFile(container: Docker.Container, file: string, signal: AbortSignal): Promise<boolean> {
    try {
      await container.infoArchive({ path: file, abortSignal: signal });
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw err;
    }
  }

  /**
   * Stops and removes the workspace's container (C103): removed, or already gone, is success; any
   * other engine error (timeout, refused, cancelled) propagates so the caller keeps the volume.
   */
  async stop(ws: Pick<WorkspaceRow, 'id'>, signal: AbortSignal): Promise<void> {
    const container = this.client().getContainer(containerName(ws.id));
    try {
      await container.stop({ t: this.opts.stopGraceSeconds ?? 5, abortSignal: signal });
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) return;
      if (status !== 304) throw err; // 304: not running, still to be removed
    }
    try {
      await container.remove({ force: true, abortSignal: signal });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  /**
   * The single "is this workspace's container running" check (C098): `ws-<id>` when it runs, ''
   * when it definitively does not (no such container, exited, created), and a thrown error when the
   * engine could not answer.
   */
  async runningContainerName(workspaceId: string, signal?: AbortSignal): Promise<string> {
    const name = containerName(workspaceId);
    try {
      const info = await this.client().getContainer(name).inspect({ abortSignal: signal });
      return info.State.Running ? name : '';
    } catch (err) {
      if (statusOf(err) === 404) return '';
      throw err;
    }
  }

  /** C099: an engine that cannot answer is `unknown`, so the health sweep leaves the workspace alone. */
  async isRunning(ws: Pick<WorkspaceRow, 'id'>, signal?: AbortSignal): Promise<RunningState> {
    try {
      return (await this.runningContainerName(ws.id, signal)) ? { state: 'running' } : { state: 'stopped' };
    } catch (error) {
      return { state: 'unknown', error };
    }
  }

  /** Removes the configs and workspace volumes; one that is already gone is success. */
  async removeVolumes(ws: Pick<WorkspaceRow, 'id'>, signal?: AbortSignal): Promise<void> {
    for (const name of [volumeName(ws.id), workspaceVolumeName(ws.id)]) await this.removeVolume(name, signal);
  }

  private async removeVolume(name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.client().getVolume(name).remove({ abortSignal: signal });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  /** The last `maxBytes` of the container's output (stdout and stderr); '' when there is none. */
  async logs(ws: Pick<WorkspaceRow, 'id'>, maxBytes: number): Promise<string> {
    let raw: Buffer;
    try {
      raw = (await this.client()
        .getContainer(containerName(ws.id))
        .logs({ stdout: true, stderr: true, follow: false, tail: 2000 })) as unknown as Buffer;
    } catch (err) {
      if (statusOf(err) === 404) return '';
      throw err;
    }
    const text = demuxLogs(raw);
    return Buffer.byteLength(text) <= maxBytes ? text : Buffer.from(text).subarray(-maxBytes).toString('utf8');
  }

  /** C102, by name: containers whose name starts with `ws-` (the engine's filter is a substring match). */
  async listWorkspaceContainerIdPrefixes(): Promise<string[]> {
    const list = await this.client().listContainers({ all: true, filters: { name: ['ws-'] } });
    return list.flatMap((c) => c.Names.map(idFromContainerName).filter((id): id is string => id !== undefined));
  }

  /** C102, by label: containers labelled molecule.platform.managed=true. */
  async listManagedContainerIdPrefixes(): Promise<string[]> {
    const list = await this.client().listContainers({ all: true, filters: { label: [`${MANAGED_LABEL}=true`] } });
    return list.flatMap((c) => c.Names.map(idFromContainerName).filter((id): id is string => id !== undefined));
  }

  /** Workspace ids of managed `ws-<id>-configs` and `ws-<id>-workspace` volumes (a volume outlives a removed container). */
  async listManagedVolumeIds(): Promise<string[]> {
    const { Volumes } = await this.client().listVolumes({ filters: { label: [`${MANAGED_LABEL}=true`] } });
    return (Volumes ?? []).map((v) => idFromVolumeName(v.Name)).filter((id): id is string => id !== undefined);
  }

  /**
   * Every workspace id with a container or volume here, for the orphan sweeper, which passes them
   * through isLikelyWorkspaceId before SQL (C175).
   */
  async listManaged(): Promise<string[]> {
    const [byName, byLabel, volumes] = await Promise.all([this.listWorkspaceContainerIdPrefixes(), this.listManagedContainerIdPrefixes(), this.listManagedVolumeIds()]);
    return [...new Set([...byName, ...byLabel, ...volumes])];
  }
}

/** A tar of the configs files (owner-only credentials, readable templates), directories included. */
export async function configsArchive(files: ConfigFile[]): Promise<Buffer> {
  const p = pack();
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  const mtime = new Date();
  for (const d of [...dirs].sort()) p.entry({ name: `${d}/`, type: 'directory', mode: 0o755, mtime });
  for (const f of files) p.entry({ name: f.path, mode: f.mode, mtime }, f.content);
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * Docker's multiplexed log stream (8-byte frame headers) as text; plain text passes through. Kept
 * by hand: with follow=false the engine's answer is one Buffer, while dockerode's demuxStream needs
 * a live stream and would mangle a TTY container's plain text, which this passes through.
 */
export function demuxLogs(raw: Buffer | string): string {
  if (typeof raw === 'string') return raw;
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= raw.length) {
    const stream = raw[i]!;
    const size = raw.readUInt32BE(i + 4);
    if (stream > 2 || raw[i + 1] !== 0 || raw[i + 2] !== 0 || raw[i + 3] !== 0) return raw.toString('utf8');
    out.push(raw.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(out).toString('utf8');
}
