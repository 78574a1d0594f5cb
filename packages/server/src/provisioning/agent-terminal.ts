import { TERMINAL_MAX_FRAME_BYTES, TerminalServerMessage } from '@molecule/contracts';
import WebSocket from 'ws';
import { classifyDispatchError, WebSocketRefusedError } from '../a2a/dispatch.js';
import type { WorkspaceRow } from '../workspaces/read.js';
import type { AgentReach } from './agent-files.js';
import { DiagnoseFailure, probeMarker, runSteps, TerminalError, type TerminalSession, type TerminalSize, type WorkspaceTerminal } from './terminal.js';

/** The largest frame taken from an agent: its output comes in pipe-sized chunks (64 KiB), with room to spare. */
export const AGENT_TERMINAL_MAX_FRAME_BYTES = 16 * TERMINAL_MAX_FRAME_BYTES;
const PROBE_TIMEOUT_MS = 10_000;

/** What a user is told when the agent's terminal cannot be opened; the detail goes to the log. */
export const AGENT_TERMINAL_ERRORS = {
  noUrl: 'the workspace has no URL yet: its terminal is reachable once its agent has registered',
  secretJustMinted: "the workspace's agent does not know its inbound secret yet: restart the workspace",
  credentials: "the workspace's agent refused the platform's credentials: restart the workspace",
  noEndpoint: "the workspace's agent has no terminal endpoint (an older molecule-agent): restart it on the current runtime",
  unsafeUrl: "the workspace's agent URL is not one the platform may dial",
  unreachable: "could not reach the workspace's agent",
} as const;

const base = (ws: WorkspaceRow) => ws.url.replace(/\/+$/, '');

/**
 * The terminal of a workspace reached through its own agent: `GET /internal/terminal` on
 * molecule-agent (a WebSocket speaking the platform's own frames), with its inbound secret, through
 * the guarded A2A client (the agent-URL policy, checked again on every connection). For backends
 * whose instances the platform cannot reach otherwise (the control plane). The agent builds the
 * shell's environment itself, without its own secrets. `deps` is read when a call runs.
 */
export class AgentTerminal implements WorkspaceTerminal {
  constructor(private readonly deps: () => AgentReach) {}

  /**
   * Connects to the agent's terminal. Rejects with a `TerminalError` (a canned message, the cause
   * attached for the log) when the workspace has no URL, its secret was only just minted, the URL
   * is not allowed, the agent cannot be reached, or it refuses (401, 404, a shell it cannot start:
   * its own message).
   */
  async open(ws: WorkspaceRow, size: TerminalSize, signal: AbortSignal): Promise<TerminalSession> {
    if (ws.url === '') throw new TerminalError(AGENT_TERMINAL_ERRORS.noUrl);
    const { inboundSecrets, a2a } = this.deps();
    const { secret, healed } = await inboundSecrets.readOrHeal(ws.id);
    if (healed) throw new TerminalError(AGENT_TERMINAL_ERRORS.secretJustMinted);
    const q = new URLSearchParams({ cols: String(size.cols), rows: String(size.rows) });
    try {
      const socket = await a2a.dispatcher.websocket(`${base(ws)}/internal/terminal?${q.toString()}`, {
        headers: { authorization: `Bearer ${secret}` },
        maxPayload: AGENT_TERMINAL_MAX_FRAME_BYTES,
        signal,
      });
      return agentSession(socket);
    } catch (err) {
      throw refusal(err);
    }
  }

  async diagnose(ws: WorkspaceRow, agentState: () => Promise<{ state: string }>, signal: AbortSignal) {
    return runSteps([
      [
        'agent-running',
        async () => {
          const s = await agentState();
          if (s.state !== 'running') throw new Error(s.state === 'unknown' ? 'could not tell whether the agent runs' : `the agent is not running (${s.state})`);
        },
      ],
      [
        'agent-reachable',
        async () => {
          if (ws.url === '') throw new Error(AGENT_TERMINAL_ERRORS.noUrl);
          let status: number;
          try {
            const res = await this.deps().a2a.dispatcher.forward(`${base(ws)}/health`, { method: 'GET', headers: {}, signal });
            res.body.resume();
            status = res.status;
          } catch (err) {
            throw refusal(err);
          }
          if (status !== 200) throw new Error(`the agent answered /health with HTTP ${status}`);
          return 'the agent answered /health';
        },
      ],
      ['pty-probe', async () => this.probe(ws, signal)],
    ]);
  }

  /** Opens a terminal through the agent, types `echo <marker>` once the shell has written something, and waits for the marker. */
  private async probe(ws: WorkspaceRow, signal: AbortSignal): Promise<string> {
    const marker = probeMarker();
    const session = await this.open(ws, { cols: 80, rows: 24 }, AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]));
    let out = '';
    try {
      const outcome = await new Promise<'ok' | 'timeout' | number>((resolve) => {
        const timer = setTimeout(() => resolve('timeout'), PROBE_TIMEOUT_MS);
        session.onData((chunk) => {
          // Typed once the shell has spoken (its prompt): keys sent before its line editor is up may be lost.
          if (out === '') session.write(Buffer.from(`${marker.command}\r`));
          out += chunk.toString('utf8');
          if (out.includes(marker.expect)) {
            clearTimeout(timer);
            resolve('ok');
          }
        });
        session.onExit((code) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
      if (outcome === 'timeout') throw new DiagnoseFailure(`the probe did not finish within ${PROBE_TIMEOUT_MS / 1000} s`, out.slice(-2000));
      if (outcome !== 'ok') throw new DiagnoseFailure(`the shell ended before the probe's marker came back (exit code ${outcome})`, out.slice(-2000));
      return "a shell on the agent's pty echoed the marker";
    } finally {
      session.kill();
    }
  }
}

/** Why the agent's terminal could not be opened, as a canned `TerminalError`; the agent's own refusal of a shell it cannot start is passed on. */
function refusal(err: unknown): TerminalError {
  if (err instanceof TerminalError) return err;
  if (err instanceof WebSocketRefusedError) {
    if (err.status === 401) return new TerminalError(AGENT_TERMINAL_ERRORS.credentials, { cause: err });
    if (err.status === 404) return new TerminalError(AGENT_TERMINAL_ERRORS.noEndpoint, { cause: err });
    if (err.status === 503) {
      // The agent's message for a shell it cannot start is canned there (python3 missing, no shell, no workspace dir).
      const said = agentError(err.body);
      return new TerminalError(said ? `the workspace's agent could not start a shell: ${said}` : 'failed to create shell session', { cause: err });
    }
    return new TerminalError(`the workspace's agent refused the terminal (HTTP ${err.status})`, { cause: err });
  }
  const kind = classifyDispatchError(err);
  if (kind === 'unsafe_url') return new TerminalError(AGENT_TERMINAL_ERRORS.unsafeUrl, { cause: err });
  return new TerminalError(AGENT_TERMINAL_ERRORS.unreachable, { cause: err });
}

function agentError(body: string): string | undefined {
  try {
    const e = (JSON.parse(body) as { error?: unknown }).error;
    return typeof e === 'string' && e !== '' ? e.slice(0, 200) : undefined;
  } catch {
    return undefined;
  }
}

const toBuffer = (raw: WebSocket.RawData) => (Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer));

/**
 * The agent's socket as a TerminalSession: binary frames are output (kept until a listener
 * comes: they may arrive before the caller has attached one), the agent's `exit` frame gives the
 * code the session reports when the socket closes (-1 without one: an idle close, a lost agent).
 */
function agentSession(socket: WebSocket): TerminalSession {
  const dataListeners: ((chunk: Buffer) => void)[] = [];
  const exitListeners: ((code: number) => void)[] = [];
  let pending: Buffer[] = [];
  let exitCode: number | undefined;
  let exited: number | undefined;
  socket.on('message', (raw, isBinary) => {
    const data = toBuffer(raw);
    if (isBinary) {
      if (dataListeners.length === 0) pending.push(data);
      for (const l of dataListeners) l(data);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString('utf8'));
    } catch {
      return;
    }
    // An `error` frame answers a control message; the platform checked every one it passed on.
    const m = TerminalServerMessage.safeParse(parsed);
    if (m.success && m.data.type === 'exit') exitCode = m.data.code;
  });
  socket.once('close', () => {
    exited = exitCode ?? -1;
    for (const l of exitListeners) l(exited);
  });
  const open = () => socket.readyState === WebSocket.OPEN;
  return {
    write: (data) => {
      if (open()) socket.send(data, { binary: true });
    },
    resize: ({ cols, rows }) => {
      if (open()) socket.send(JSON.stringify({ type: 'resize', cols, rows }));
    },
    onData: (l) => {
      dataListeners.push(l);
      for (const d of pending) l(d);
      pending = [];
    },
    onExit: (l) => {
      if (exited !== undefined) l(exited);
      else exitListeners.push(l);
    },
    kill: () => {
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(1000, 'closed by the platform');
    },
  };
}
