import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../log.js';
import type { WorkspaceRow } from '../../workspaces/read.js';
import { assertTemplatePaths, configFilesToWrite } from '../configs.js';
import type { Provisioner, RunningState, StartSpec } from '../port.js';
import { ProcessFiles } from './files.js';
import { ProcessTerminal } from './terminal.js';

export interface ProcessBackendOptions {
  /** Workspaces live under `<dataDir>/workspaces/<id>/{configs,workspace,home,plugins}`. */
  dataDir: string;
  /** The `molecule-agent` entry point (a JS file run with this Node binary). */
  agentBin: string;
  log: Logger;
  /**
   * Called when the current agent process of a workspace exits on its own (not through `stop`, and
   * not a process a newer start replaced). `startedAt` is when that process was spawned.
   */
  onExit?: (workspaceId: string, code: number | null, signal: NodeJS.Signals | null, startedAt: Date) => void | Promise<void>;
  /** How long `stop` waits after SIGTERM before SIGKILL. */
  stopGraceMs?: number;
}

/**
 * The embedded default backend: each workspace's agent is a child process of the server, in its own
 * process group, with its own working dirs. The agent picks a free loopback port and registers its
 * URL itself. After a server restart the processes are found again through their pid files, checked
 * against /proc so a recycled pid is never mistaken for an agent.
 */
export class ProcessBackend implements Provisioner {
  readonly backend = 'process' as const;
  readonly passesProviderEnv = true;
  private readonly children = new Map<string, ChildProcess>();
  /** Children this backend is stopping: their exit is expected, not reported. */
  private readonly stopping = new WeakSet<ChildProcess>();

  /** The workspace's dirs, readable and writable with the agent stopped too. */
  readonly files = new ProcessFiles((id) => this.dirOf(id));
  /** A shell on a pty in the workspace's working dir. */
  readonly terminal = new ProcessTerminal((id) => this.dirOf(id));

  constructor(private readonly opts: ProcessBackendOptions) {}

  dirOf(id: string): string {
    return path.join(this.opts.dataDir, 'workspaces', id);
  }

  async start(spec: StartSpec, signal: AbortSignal): Promise<{ instanceId: string }> {
    const ws = spec.workspace;
    await this.stop(ws, signal);
    const dir = this.dirOf(ws.id);
    const dirs = { configs: path.join(dir, 'configs'), workspace: path.join(dir, 'workspace'), home: path.join(dir, 'home') };
    assertTemplatePaths(spec.templateFiles);
    // The configs persist across restarts (edits included) unless the template is applied again.
    if (spec.applyTemplate) await rm(dirs.configs, { recursive: true, force: true });
    for (const d of Object.values(dirs)) await mkdir(d, { recursive: true, mode: 0o700 });
    const hasConfig = await stat(path.join(dirs.configs, 'config.yaml')).then(
      (st) => st.isFile(),
      () => false,
    );
    for (const f of configFilesToWrite(spec, hasConfig)) {
      const target = path.resolve(dirs.configs, f.path);
      await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      await writeFile(target, f.content, { mode: f.mode });
      await chmod(target, f.mode);
    }
    const logFile = await open(path.join(dir, 'agent.log'), 'a', 0o600);
    try {
      // Only what the agent needs: never the server's own environment (it holds the admin token
      // and the database URL); its LLM provider settings come in spec.env (passesProviderEnv).
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dirs.home,
        HOST: '127.0.0.1',
        PORT: '0',
        MOLECULE_CONFIGS_DIR: dirs.configs,
        MOLECULE_WORKSPACE_DIR: dirs.workspace,
        ...spec.env,
      };
      const child = spawn(process.execPath, [this.opts.agentBin], {
        cwd: dirs.workspace,
        env,
        detached: true,
        stdio: ['ignore', logFile.fd, logFile.fd],
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      const pid = child.pid!;
      const startedAt = new Date();
      this.children.set(ws.id, child);
      child.once('exit', (code, sig) => {
        const current = this.children.get(ws.id) === child;
        if (current) this.children.delete(ws.id);
        if (!current || this.stopping.has(child)) return;
        this.opts.log.warn({ workspace_id: ws.id, code, signal: sig }, 'agent process exited');
        void this.opts.onExit?.(ws.id, code, sig, startedAt);
      });
      await writeFile(path.join(dir, 'agent.pid'), `${pid}\n`, { mode: 0o600 });
      return { instanceId: `process:${pid}` };
    } finally {
      await logFile.close();
    }
  }

  /** Stops the agent's whole process group; an agent that is already gone is a success (C103). */
  async stop(ws: WorkspaceRow, signal: AbortSignal): Promise<void> {
    const pid = await this.livePid(ws.id);
    if (pid === undefined) return;
    const child = this.children.get(ws.id);
    if (child) this.stopping.add(child);
    killGroup(pid, 'SIGTERM');
    const deadline = Date.now() + (this.opts.stopGraceMs ?? 5000);
    while (await this.isAgent(pid, ws.id)) {
      if (signal.aborted) throw signal.reason;
      if (Date.now() > deadline) {
        killGroup(pid, 'SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    this.children.delete(ws.id);
  }

  /** Stops every agent this backend started (server shutdown). */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.children.keys()].map((id) =>
        this.stop({ id } as WorkspaceRow, AbortSignal.timeout(10_000)).catch((err: unknown) =>
          this.opts.log.error({ err, workspace_id: id }, 'could not stop the agent at shutdown'),
        ),
      ),
    );
  }

  async isRunning(ws: WorkspaceRow): Promise<RunningState> {
    try {
      return (await this.livePid(ws.id)) === undefined ? { state: 'stopped' } : { state: 'running' };
    } catch (error) {
      return { state: 'unknown', error };
    }
  }

  async listManaged(): Promise<string[]> {
    try {
      return (await readdir(path.join(this.opts.dataDir, 'workspaces'), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async removeVolumes(ws: WorkspaceRow): Promise<void> {
    await rm(this.dirOf(ws.id), { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }

  async logs(ws: WorkspaceRow, maxBytes: number): Promise<string> {
    const file = path.join(this.dirOf(ws.id), 'agent.log');
    try {
      const { size } = await stat(file);
      const fh = await open(file, 'r');
      try {
        const length = Math.min(size, maxBytes);
        const buf = Buffer.alloc(length);
        await fh.read(buf, 0, length, size - length);
        return buf.toString('utf8');
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
  }

  /**
   * The pid of this workspace's running agent, from the child this backend started or the pid file
   * an earlier server left, confirmed through /proc either way (another server may have stopped it).
   */
  private async livePid(id: string): Promise<number | undefined> {
    let pid = this.children.get(id)?.pid;
    if (pid === undefined) {
      try {
        pid = Number((await readFile(path.join(this.dirOf(id), 'agent.pid'), 'utf8')).trim());
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    }
    return Number.isInteger(pid) && pid > 0 && (await this.isAgent(pid, id)) ? pid : undefined;
  }

  /** True when `pid` is alive and is this workspace's agent (its environment names the workspace). */
  private async isAgent(pid: number, id: string): Promise<boolean> {
    let environ: string;
    try {
      environ = await readFile(`/proc/${pid}/environ`, 'latin1');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ESRCH') return false;
      throw err;
    }
    if (environ === '') return false; // a zombie: exited, not yet reaped
    return environ.split('\0').includes(`WORKSPACE_ID=${id}`);
  }
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
