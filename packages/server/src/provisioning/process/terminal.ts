import { stat } from 'node:fs/promises';
import path from 'node:path';
import { shellEnv, shellPath, spawnPty } from '@molecule/runtime/pty';
import type { WorkspaceRow } from '../../workspaces/read.js';
import { DiagnoseFailure, probeMarker, runSteps, TerminalError, type TerminalSession, type TerminalSize, type WorkspaceTerminal } from '../terminal.js';

const PROBE_TIMEOUT_MS = 10_000;

/**
 * The process backend's terminal: a shell on a pty, in the workspace's working dir
 * (`<dataDir>/workspaces/<id>/workspace`, the agent's own cwd). Its environment is built here, never
 * inherited from the server (which holds the admin token and the database URL): PATH, the variables
 * every agent gets passed through, the workspace's dirs and id. The agent's secrets are not in it.
 */
export class ProcessTerminal implements WorkspaceTerminal {
  constructor(private readonly dirOf: (id: string) => string) {}

  private env(ws: WorkspaceRow): Record<string, string> {
    const dir = this.dirOf(ws.id);
    return shellEnv({ home: path.join(dir, 'home'), configsDir: path.join(dir, 'configs'), workspaceDir: path.join(dir, 'workspace'), workspaceId: ws.id }, process.env);
  }

  private async cwd(ws: WorkspaceRow): Promise<string> {
    const cwd = path.join(this.dirOf(ws.id), 'workspace');
    const st = await stat(cwd).catch(() => undefined);
    if (!st?.isDirectory()) throw new TerminalError("the workspace's working dir does not exist (start the workspace once)");
    return cwd;
  }

  async open(ws: WorkspaceRow, size: TerminalSize): Promise<TerminalSession> {
    return spawnPty({ argv: [await shellPath()], cwd: await this.cwd(ws), env: this.env(ws), size });
  }

  async diagnose(ws: WorkspaceRow, agentState: () => Promise<{ state: string }>) {
    return runSteps([
      ['workspace-dir', async () => this.cwd(ws)],
      [
        'agent-running',
        async () => {
          const s = await agentState();
          if (s.state !== 'running') throw new Error(s.state === 'unknown' ? 'could not tell whether the agent runs' : `the agent is not running (${s.state})`);
        },
      ],
      ['pty-probe', async () => ptyProbe(await shellPath(), await this.cwd(ws), this.env(ws))],
    ]);
  }
}

/** Runs `echo <marker>` through a pty and checks the marker came back. */
async function ptyProbe(shell: string, cwd: string, env: Record<string, string>): Promise<string> {
  const marker = probeMarker();
  const session = await spawnPty({ argv: [shell, '-c', marker.command], cwd, env, size: { cols: 80, rows: 24 } });
  let out = '';
  session.onData((c) => (out += c.toString('utf8')));
  const code = await new Promise<number | 'timeout'>((resolve) => {
    const timer = setTimeout(() => {
      session.kill();
      resolve('timeout');
    }, PROBE_TIMEOUT_MS);
    session.onExit((c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code === 'timeout') throw new DiagnoseFailure(`the probe did not finish within ${PROBE_TIMEOUT_MS / 1000} s`, out.slice(-2000));
  if (!out.includes(marker.expect)) throw new DiagnoseFailure(`the probe's marker did not come back (exit code ${code})`, out.slice(-2000));
  return `${shell} on a pty echoed the marker`;
}
