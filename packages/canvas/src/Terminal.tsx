import { useEffect, useRef, useState } from 'react';
import { TerminalServerMessage, type TerminalDiagnosis } from '@molecule/contracts';
import '@xterm/xterm/css/xterm.css';
import { errorText } from './actions.js';
import type { TabProps } from './tab.js';

type Connection = { state: 'connecting' } | { state: 'open' } | { state: 'closed'; reason: string; opened: boolean };

/** What a close means to a user: the server's reason when it gave one, else the code in words. */
export function closeReason(code: number, reason: string, opened: boolean): string {
  if (reason) return reason;
  if (!opened) return 'the platform refused the terminal or could not be reached (Diagnose says why)';
  if (code === 1006) return 'the connection dropped';
  if (code === 1009) return 'a message was too large';
  return `closed (${code})`;
}

/** The terminal's WebSocket URL: same origin, so the canvas session cookie goes with it (as on /ws). */
export const terminalUrl = (id: string, cols: number, rows: number) =>
  `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/workspaces/${encodeURIComponent(id)}/terminal?cols=${cols}&rows=${rows}`;

/**
 * A shell in the workspace (xterm.js over `GET /workspaces/:id/terminal`). Keys go out as binary
 * frames, the panel's size as resize messages; the shell's exit or a drop says why, with Reconnect
 * and Diagnose (the pipeline's stages, C228). While the terminal has focus, Escape belongs to the
 * shell, not to the panel.
 */
export function TerminalTab({ workspace, api }: TabProps) {
  const host = useRef<HTMLDivElement>(null);
  const [conn, setConn] = useState<Connection>({ state: 'connecting' });
  const [attempt, setAttempt] = useState(0);
  const [diagnosis, setDiagnosis] = useState<TerminalDiagnosis | { error: string } | 'running' | undefined>();

  useEffect(() => {
    let disposed = false;
    let cleanup = () => {};
    setConn({ state: 'connecting' });
    void (async () => {
      // Loaded with the tab: the rest of the canvas does not carry the terminal's code.
      const [{ Terminal }, { FitAddon }] = await Promise.all([import('@xterm/xterm'), import('@xterm/addon-fit')]);
      if (disposed || !host.current) return;
      const term = new Terminal({ cursorBlink: true, fontSize: 13, fontFamily: 'ui-monospace, SFMono-Regular, Menlo, monospace', scrollback: 5000 });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(host.current);
      fit.fit();
      const socket = new WebSocket(terminalUrl(workspace.id, term.cols, term.rows));
      socket.binaryType = 'arraybuffer';
      let opened = false;
      const encoder = new TextEncoder();
      const send = (data: string | Uint8Array) => {
        if (socket.readyState === WebSocket.OPEN) socket.send(data);
      };
      socket.onopen = () => {
        opened = true;
        setConn({ state: 'open' });
        setDiagnosis(undefined);
        term.focus();
      };
      socket.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
        if (typeof e.data !== 'string') return term.write(new Uint8Array(e.data));
        const m = TerminalServerMessage.safeParse(JSON.parse(e.data));
        if (!m.success) return;
        if (m.data.type === 'exit') term.write(`\r\n[the shell exited with code ${m.data.code}]\r\n`);
        else term.write(`\r\n[${m.data.error}]\r\n`);
      };
      socket.onclose = (e) => {
        if (!disposed) setConn({ state: 'closed', reason: closeReason(e.code, e.reason, opened), opened });
      };
      const keys = term.onData((d) => send(encoder.encode(d)));
      const binary = term.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0))));
      const resized = term.onResize(({ cols, rows }) => send(JSON.stringify({ type: 'resize', cols, rows })));
      // The panel's size decides the terminal's; a resize message follows each change.
      const observer = new ResizeObserver(() => {
        if (host.current && host.current.clientWidth > 0) fit.fit();
      });
      observer.observe(host.current);
      cleanup = () => {
        observer.disconnect();
        keys.dispose();
        binary.dispose();
        resized.dispose();
        socket.onclose = null;
        socket.close();
        term.dispose();
      };
    })();
    return () => {
      disposed = true;
      cleanup();
    };
  }, [workspace.id, attempt]);

  const diagnose = async () => {
    setDiagnosis('running');
    try {
      setDiagnosis(await api.terminalDiagnose(workspace.id));
    } catch (err) {
      setDiagnosis({ error: errorText(err) });
    }
  };

  return (
    <div className="terminal-tab">
      <div className="terminal-bar">
        <span role="status" data-state={conn.state}>
          {conn.state === 'connecting' ? 'Connecting…' : conn.state === 'open' ? 'Connected' : `Disconnected: ${conn.reason}`}
        </span>
        {conn.state === 'closed' ? (
          <>
            <button type="button" onClick={() => setAttempt((n) => n + 1)}>
              Reconnect
            </button>
            <button type="button" onClick={() => void diagnose()} disabled={diagnosis === 'running'}>
              Diagnose
            </button>
          </>
        ) : null}
      </div>
      {/* Escape stays with the shell (vi, less...): the panel closes with its × button or from outside the terminal. */}
      <div className="terminal-host" ref={host} data-testid="terminal" onKeyDown={(e) => e.key === 'Escape' && e.stopPropagation()} />
      {diagnosis === 'running' ? <p className="note">Diagnosing…</p> : null}
      {diagnosis && diagnosis !== 'running' && 'error' in diagnosis ? <p role="alert">{diagnosis.error}</p> : null}
      {diagnosis && diagnosis !== 'running' && 'steps' in diagnosis ? (
        <section aria-label="Terminal diagnosis">
          <p>{diagnosis.first_failure ? `First failing step: ${diagnosis.first_failure}` : 'Every step passed.'}</p>
          <ol className="diagnose-steps">
            {diagnosis.steps.map((s) => (
              <li key={s.name} data-ok={s.ok}>
                <strong>{s.name}</strong> {s.ok ? 'ok' : 'failed'} ({s.duration_ms} ms){s.error ? `: ${s.error}` : ''}
                {s.detail ? <pre>{s.detail}</pre> : null}
              </li>
            ))}
          </ol>
        </section>
      ) : null}
    </div>
  );
}
