import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { AGENT_ENV_PASSTHROUGH } from '@molecule/contracts';
import { TerminalError, type TerminalSession, type TerminalSize } from './terminal-socket.js';

/**
 * The workspace terminal's pty, without a native addon (the one copy: the platform's process
 * backend imports it as `@molecule/runtime/pty`, molecule-agent serves it on `/internal/terminal`
 * for the control plane): a small python3 program (the
 * standard library's `pty` module) forks the shell on a new pseudo-terminal and copies bytes between
 * it and its stdin/stdout; a third pipe carries resizes (`<cols> <rows>\n` -> TIOCSWINSZ, which
 * sends SIGWINCH to the shell). It exits with the shell's exit code (128+n for signal n). python3 is
 * what node-gyp would need to build node-pty anyway; this needs no build, so `npm ci` and
 * `npm install` work on any machine that has it.
 */
const HELPER = String.raw`
import errno, fcntl, os, pty, select, signal, struct, sys, termios
cols, rows = int(sys.argv[1]), int(sys.argv[2])
argv = sys.argv[3:]
def winsize(fd, c, r):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', r, c, 0, 0))
pid, master = pty.fork()
if pid == 0:
    try:
        # The shell starts with default signals, whatever its parents ignored (python ignores SIGPIPE, a
        # test runner SIGINT): an ignored SIGINT would be ignored by every command, and Ctrl-C dead.
        for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE, signal.SIGHUP, signal.SIGTERM, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGXFSZ):
            signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        winsize(0, cols, rows)
        os.execvpe(argv[0], argv, os.environ)
    except Exception as e:
        os.write(2, ('cannot start %s: %s\r\n' % (argv[0], e)).encode())
    os._exit(127)
signal.signal(signal.SIGTERM, lambda *_: (os.kill(pid, signal.SIGHUP), os._exit(143)))
fl = fcntl.fcntl(master, fcntl.F_GETFL)
fcntl.fcntl(master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
pending = b''
ctl = b''
inputs = [master, 0, 3]
while True:
    r, w, _ = select.select(inputs, [master] if pending else [], [])
    if master in w:
        try:
            pending = pending[os.write(master, pending):]
        except BlockingIOError:
            pass
    if master in r:
        try:
            data = os.read(master, 65536)
        except OSError as e:
            if e.errno == errno.EAGAIN:
                continue
            data = b''
        if not data:
            break
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]
    if 0 in r:
        data = os.read(0, 65536)
        if not data:
            inputs.remove(0)
            os.kill(pid, signal.SIGHUP)
        else:
            pending += data
    if 3 in r:
        data = os.read(3, 4096)
        if not data:
            inputs.remove(3)
        ctl += data
        while b'\n' in ctl:
            line, ctl = ctl.split(b'\n', 1)
            c, rr = line.split()
            winsize(master, int(c), int(rr))
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
`;

/** What to run on the pty. */
export interface PtySpec {
  /** The program and its arguments (the first is looked up on PATH). */
  argv: [string, ...string[]];
  cwd: string;
  /** The whole environment of the shell: nothing of the server's own is passed unless it is here. */
  env: Record<string, string>;
  size: TerminalSize;
}

/** The python interpreter the helper runs with. */
export const PYTHON = 'python3';

/** Tried in order (upstream's choice): bash where the machine has it, else sh. */
export const SHELLS = ['/bin/bash', '/bin/sh'] as const;

/** The first shell of SHELLS this machine has; a `TerminalError` when it has none. */
export async function shellPath(): Promise<string> {
  for (const s of SHELLS) {
    if (await access(s).then(() => true, () => false)) return s;
  }
  throw new TerminalError(`no shell found (${SHELLS.join(', ')})`);
}

/** Where a workspace's shell runs and who it is. */
export interface ShellPlace {
  home: string;
  configsDir: string;
  workspaceDir: string;
  workspaceId: string | undefined;
}

/**
 * The whole environment of a workspace shell, built rather than inherited: PATH, the LLM variables
 * every agent gets passed through (AGENT_ENV_PASSTHROUGH, as `from` has them), HOME, the
 * workspace's dirs and id, TERM. Nothing else of `from` (the platform's admin token and database
 * URL, the agent's workspace token, its secrets) reaches the shell.
 */
export function shellEnv(place: ShellPlace, from: Record<string, string | undefined>): Record<string, string> {
  return {
    PATH: from.PATH ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    ...Object.fromEntries(AGENT_ENV_PASSTHROUGH.flatMap((k) => (from[k] ? [[k, from[k]]] : []))),
    TERM: 'xterm-256color',
    HOME: place.home,
    MOLECULE_CONFIGS_DIR: place.configsDir,
    MOLECULE_WORKSPACE_DIR: place.workspaceDir,
    ...(place.workspaceId ? { WORKSPACE_ID: place.workspaceId } : {}),
  };
}

/**
 * Starts `spec.argv` on a new pseudo-terminal. Rejects with `TerminalError` when python3 cannot be
 * started; a shell that cannot be started writes why to the terminal and exits 127.
 */
export async function spawnPty(spec: PtySpec): Promise<TerminalSession> {
  const child = spawn(PYTHON, ['-c', HELPER, String(spec.size.cols), String(spec.size.rows), ...spec.argv], {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ['pipe', 'pipe', 'inherit', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(new TerminalError(err.code === 'ENOENT' ? 'python3 is needed for the terminal and was not found on PATH' : `could not start the terminal: ${err.message}`)),
    );
  });
  const control = child.stdio[3] as Writable;
  // A shell gone before the last keystroke: its pipes close, and what was written is dropped.
  for (const s of [child.stdin, control]) s?.on('error', () => undefined);
  let exited: number | undefined;
  const exitListeners: ((code: number) => void)[] = [];
  // 'close' (not 'exit'): every byte of output has been read by then.
  child.once('close', (code, signal) => {
    exited = code ?? (signal === 'SIGKILL' ? 137 : 129);
    for (const l of exitListeners) l(exited);
  });
  return {
    write: (data) => {
      if (exited === undefined) child.stdin!.write(data);
    },
    resize: ({ cols, rows }) => {
      if (exited === undefined) control.write(`${cols} ${rows}\n`);
    },
    onData: (l) => child.stdout!.on('data', l),
    onExit: (l) => {
      if (exited !== undefined) l(exited);
      else exitListeners.push(l);
    },
    kill: () => {
      if (exited !== undefined) return;
      // SIGTERM: the helper hangs up the shell (SIGHUP, as closing a terminal window does) and exits.
      child.kill('SIGTERM');
    },
  };
}
