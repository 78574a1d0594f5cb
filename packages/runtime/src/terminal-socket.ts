import type { WebSocket } from 'ws';
import { TERMINAL_IDLE_CLOSE_CODE, TERMINAL_MAX_SIZE, TerminalClientMessage, type TerminalServerMessage } from '@molecule/contracts';

/**
 * The workspace terminal's frame protocol on one WebSocket, the one copy: the platform serves it on
 * `GET /workspaces/:id/terminal` (imported as `@molecule/runtime/terminal-socket`) and
 * molecule-agent on `GET /internal/terminal`, so the control plane's terminal is the same bytes
 * end to end.
 */

/** A terminal's size in character cells. */
export interface TerminalSize {
  cols: number;
  rows: number;
}

/**
 * One interactive shell with a TTY. Bytes go in and out raw (Ctrl-C is byte 0x03, the TTY turns it
 * into SIGINT). `onExit` fires once, after the last `onData`, with the shell's exit code (128+n for a
 * signal n, -1 when the backend cannot tell). `kill` ends the shell; calling it again does nothing.
 */
export interface TerminalSession {
  write(data: Buffer): void;
  resize(size: TerminalSize): void;
  onData(listener: (chunk: Buffer) => void): void;
  onExit(listener: (code: number) => void): void;
  kill(): void;
}

/** Why a shell could not be opened; the message is safe to show a client. */
export class TerminalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

/** Keystrokes that arrive while the shell is being started wait, up to this much. */
export const MAX_EARLY_INPUT_BYTES = 64 * 1024;

/** The few log calls the protocol makes (pino's and Fastify's loggers both fit). */
export interface TerminalLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ServeTerminalOptions {
  /** Starts the shell; `signal` aborts when the socket closes first. A `TerminalError`'s message is shown. */
  open(signal: AbortSignal): Promise<TerminalSession>;
  /** No input from the client for this long closes the socket with TERMINAL_IDLE_CLOSE_CODE. */
  idleMs: number;
  /** Output the client has not read beyond this closes the socket with 1013. */
  maxBufferedBytes: number;
  log: TerminalLog;
  /** Called once when the socket has closed, with its close code. */
  onClose?(code: number): void;
}

const control = (socket: WebSocket, m: TerminalServerMessage) => socket.send(JSON.stringify(m));

/**
 * Serves one terminal on an open WebSocket. Binary frames, and text frames that are not a JSON
 * object, are keystrokes (as upstream's clients send them); a JSON text frame is a control message
 * (`{"type":"resize","cols","rows"}`, 1-TERMINAL_MAX_SIZE), anything else in one is answered with an
 * error frame and ignored. The shell's output goes out as binary frames; its exit as
 * `{"type":"exit","code"}` then close 1000 `shell exited`; a shell that cannot be started as
 * `{"type":"error"}` then close 1011. The shell is killed when the socket closes, whoever closes it.
 */
export function serveTerminalSocket(socket: WebSocket, opts: ServeTerminalOptions): void {
  const { log, idleMs } = opts;
  let session: TerminalSession | undefined;
  let closed = false;
  let early: Buffer[] = [];
  let earlyBytes = 0;
  const close = (code: number, reason: string) => {
    if (closed) return;
    closed = true;
    // The shell goes now, not when the client acknowledges the close.
    session?.kill();
    socket.close(code, reason);
  };
  const idleOut = () => close(TERMINAL_IDLE_CLOSE_CODE, `idle: no input for ${Math.round(idleMs / 1000)} s`);
  let idle = setTimeout(idleOut, idleMs);
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(idleOut, idleMs);
  };
  const opened = new AbortController();
  socket.on('close', (code) => {
    closed = true;
    clearTimeout(idle);
    opened.abort();
    session?.kill();
    log.info({ code }, 'terminal closed');
    opts.onClose?.(code);
  });
  const input = (data: Buffer) => {
    if (session) session.write(data);
    else if (earlyBytes + data.length <= MAX_EARLY_INPUT_BYTES) {
      early.push(data);
      earlyBytes += data.length;
    }
  };
  socket.on('message', (raw, isBinary) => {
    if (closed) return;
    touch();
    const data = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer);
    if (isBinary) return input(data);
    const text = data.toString('utf8');
    if (!text.trimStart().startsWith('{')) return input(data);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return control(socket, { type: 'error', error: 'control message is not valid JSON' });
    }
    const m = TerminalClientMessage.safeParse(parsed);
    if (!m.success) {
      return control(socket, { type: 'error', error: `invalid control message: send {"type":"resize","cols":1-${TERMINAL_MAX_SIZE},"rows":1-${TERMINAL_MAX_SIZE}}` });
    }
    session?.resize({ cols: m.data.cols, rows: m.data.rows });
  });

  opts.open(opened.signal).then(
    (s) => {
      if (closed) return s.kill();
      session = s;
      log.info({}, 'terminal opened');
      s.onData((chunk) => {
        if (closed) return;
        if (socket.bufferedAmount > opts.maxBufferedBytes) return close(1013, 'slow consumer: the terminal output was not read');
        socket.send(chunk, { binary: true });
      });
      s.onExit((code) => {
        if (closed) return;
        control(socket, { type: 'exit', code });
        close(1000, 'shell exited');
      });
      for (const d of early) s.write(d);
      early = [];
    },
    (err: unknown) => {
      const message = err instanceof TerminalError ? err.message : 'failed to create shell session';
      log.warn({ err }, 'terminal: could not open a shell');
      if (closed) return;
      control(socket, { type: 'error', error: message });
      close(1011, 'no shell');
    },
  );
}
