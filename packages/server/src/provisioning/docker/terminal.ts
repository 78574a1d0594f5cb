import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import { abortable } from '../../net/abortable.js';
import type { WorkspaceRow } from '../../workspaces/read.js';
import { DiagnoseFailure, probeMarker, runSteps, TerminalError, type TerminalSession, type TerminalSize, type WorkspaceTerminal } from '../terminal.js';
import { containerName } from './names.js';

/** Tried in order (upstream's choice): bash where the image has it, else sh. */
const SHELLS = ['/bin/bash', '/bin/sh'];
const PROBE_TIMEOUT_MS = 10_000;
/** C230's wording, kept as upstream says it. */
export const NO_DOCKER_CLIENT = 'docker client not configured on this workspace-server';

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number } | null)?.statusCode;

/**
 * The Docker backend's terminal: an exec session with a TTY in the workspace's container
 * (`ws-<id>`), through the same engine API as everything else (no docker CLI, no host access). The
 * shell runs as the container's user with the container's environment, as the agent does.
 */
export class DockerTerminal implements WorkspaceTerminal {
  constructor(private readonly client: () => Docker | undefined) {}

  private container(ws: WorkspaceRow): Docker.Container {
    const docker = this.client();
    if (!docker) throw new TerminalError(NO_DOCKER_CLIENT);
    return docker.getContainer(containerName(ws.id));
  }

  /** The first shell of SHELLS the container has (the archive API stats a path without running anything). */
  private async shell(c: Docker.Container, signal: AbortSignal): Promise<string> {
    for (const s of SHELLS) {
      try {
        const res = (await c.infoArchive({ path: s, abortSignal: signal })) as { resume?: () => void };
        res.resume?.();
        return s;
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    }
    throw new TerminalError(`the container has no shell (${SHELLS.join(', ')})`);
  }

  private async exec(c: Docker.Container, cmd: string[], stdin: boolean, signal: AbortSignal): Promise<{ exec: Docker.Exec; stream: Duplex }> {
    const exec = await c.exec({ Cmd: cmd, AttachStdin: stdin, AttachStdout: true, AttachStderr: true, Tty: true, Env: ['TERM=xterm-256color'], abortSignal: signal });
    const stream = (await exec.start({ hijack: true, stdin, Tty: true, abortSignal: signal })) as Duplex;
    return { exec, stream };
  }

  async open(ws: WorkspaceRow, size: TerminalSize, signal: AbortSignal): Promise<TerminalSession> {
    const c = this.container(ws);
    const { exec, stream } = await this.exec(c, [await this.shell(c, signal)], true, signal);
    // A resize is an engine call; input typed after it must reach the shell after it (a `stty size`
    // right after a resize must see the new size), so input waits while a resize is in flight.
    let order: Promise<unknown> = Promise.resolve();
    const resize = ({ cols, rows }: TerminalSize) => {
      order = order.then(() => exec.resize({ w: cols, h: rows })).catch(() => undefined);
    };
    resize(size);
    let exited: number | undefined;
    const exitListeners: ((code: number) => void)[] = [];
    let ended = false;
    const finish = () => {
      if (ended) return;
      ended = true;
      // The engine knows the exit code once the stream ends; it cannot tell for a session cut short.
      void exec
        .inspect()
        .then((info) => (typeof info.ExitCode === 'number' && !info.Running ? info.ExitCode : -1))
        .catch(() => -1)
        .then((code) => {
          exited = code;
          for (const l of exitListeners) l(code);
        });
    };
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', finish);
    return {
      write: (data) => {
        order = order.then(() => {
          if (!ended) stream.write(data);
        });
      },
      resize: (s) => {
        if (!ended) resize(s);
      },
      onData: (l) => stream.on('data', l),
      onExit: (l) => {
        if (exited !== undefined) l(exited);
        else exitListeners.push(l);
      },
      // Closing the attach stream closes the shell's TTY: the shell reads EOF and ends.
      kill: () => {
        stream.end();
        stream.destroy();
      },
    };
  }

  async diagnose(ws: WorkspaceRow, _agentState: unknown, signal: AbortSignal) {
    let c: Docker.Container | undefined;
    let shell = '';
    return runSteps([
      [
        'docker-client',
        async () => {
          const docker = this.client();
          if (!docker) throw new Error(NO_DOCKER_CLIENT);
          const v = await abortable(docker.version(), signal);
          return `engine ${v.Version} (API ${v.ApiVersion})`;
        },
      ],
      [
        'container-found',
        async () => {
          c = this.container(ws);
          try {
            await c.inspect({ abortSignal: signal });
          } catch (err) {
            if (statusOf(err) === 404) throw new Error(`no container ${containerName(ws.id)}`);
            throw err;
          }
          return containerName(ws.id);
        },
      ],
      [
        'container-running',
        async () => {
          const info = await c!.inspect({ abortSignal: signal });
          if (!info.State.Running) throw new Error(`the container is ${info.State.Status}`);
          return `running since ${info.State.StartedAt}`;
        },
      ],
      [
        'exec-probe',
        async () => {
          shell = await this.shell(c!, signal);
          return this.probe(c!, shell, signal);
        },
      ],
    ]);
  }

  /** `echo <marker>` through a TTY exec; the marker must come back. */
  private async probe(c: Docker.Container, shell: string, signal: AbortSignal): Promise<string> {
    const marker = probeMarker();
    const { exec, stream } = await this.exec(c, [shell, '-c', marker.command], false, signal);
    let out = '';
    const done = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
      stream.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      const end = () => {
        clearTimeout(timer);
        resolve(true);
      };
      stream.on('end', end);
      stream.on('close', end);
      stream.on('error', end);
    });
    stream.destroy();
    if (!done) throw new DiagnoseFailure(`the probe did not finish within ${PROBE_TIMEOUT_MS / 1000} s`, out.slice(-2000));
    if (!out.includes(marker.expect)) {
      const info = await exec.inspect().catch(() => undefined);
      throw new DiagnoseFailure(`the probe's marker did not come back (exit code ${info?.ExitCode ?? 'unknown'})`, out.slice(-2000));
    }
    return `${shell} in a TTY exec echoed the marker`;
  }
}
