import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { TerminalServerMessage } from '@molecule/contracts';

/** A terminal upgrade the server refused before upgrading: its HTTP status and JSON body. */
export class TerminalRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: { error?: string; code?: string },
  ) {
    super(`terminal refused with ${status}: ${JSON.stringify(body)}`);
  }
}

/** A client of `GET /workspaces/:id/terminal`, speaking the protocol the canvas speaks. */
export interface TerminalClient {
  ws: WebSocket;
  /** Everything the shell wrote so far (binary frames), as text. */
  output(): string;
  /** The text control frames the server sent. */
  controls: TerminalServerMessage[];
  /** Resolves once the output holds `pattern` (searched from `from`), with the output's length at the match's end. */
  waitFor(pattern: RegExp | string, from?: number, timeoutMs?: number): Promise<number>;
  /** Resolves once a control frame of this type arrived. */
  waitControl(type: TerminalServerMessage['type'], timeoutMs?: number): Promise<TerminalServerMessage>;
  type(keys: string): void;
  resize(cols: number, rows: number): void;
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

async function readBody(res: IncomingMessage): Promise<{ error?: string; code?: string }> {
  let text = '';
  for await (const c of res) text += String(c);
  try {
    return JSON.parse(text) as { error?: string };
  } catch {
    return { error: text };
  }
}

/** Opens a terminal; rejects with `TerminalRefused` when the server answered without upgrading. */
export async function openTerminal(base: string, id: string, headers: Record<string, string>, query = ''): Promise<TerminalClient> {
  const t = await connect(base, id, headers, query);
  // Keys typed before the shell set up its line editor may be dropped: wait for its first prompt.
  await t.waitFor(/[#$>] /);
  return t;
}

/** Opens the WebSocket only (no wait for the shell). */
export function connect(base: string, id: string, headers: Record<string, string>, query = ''): Promise<TerminalClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/workspaces/${id}/terminal${query}`, { headers });
    let out = '';
    const controls: TerminalServerMessage[] = [];
    const waiters = new Set<() => void>();
    const wake = () => {
      for (const w of [...waiters]) w();
    };
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.once('close', (code, reason) => {
        r({ code, reason: String(reason) });
        wake();
      }),
    );
    ws.on('message', (data, isBinary) => {
      if (isBinary) out += Buffer.from(data as Buffer).toString('utf8');
      else controls.push(TerminalServerMessage.parse(JSON.parse(String(data))));
      wake();
    });
    const until = <T>(check: () => T | undefined, what: string, timeoutMs: number) =>
      new Promise<T>((res, rej) => {
        const tick = () => {
          const v = check();
          if (v !== undefined) {
            waiters.delete(tick);
            clearTimeout(timer);
            res(v);
          } else if (ws.readyState === WebSocket.CLOSED) {
            waiters.delete(tick);
            clearTimeout(timer);
            rej(new Error(`the terminal closed before ${what}; output: ${JSON.stringify(out.slice(-500))}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(tick);
          rej(new Error(`no ${what} within ${timeoutMs} ms; output: ${JSON.stringify(out.slice(-500))}`));
        }, timeoutMs);
        waiters.add(tick);
        tick();
      });
    ws.once('unexpected-response', (_req, res) => {
      readBody(res).then((body) => {
        ws.on('error', () => {});
        ws.terminate();
        reject(new TerminalRefused(res.statusCode ?? 0, body));
      }, reject);
    });
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        output: () => out,
        controls,
        waitFor: (pattern, from = 0, timeoutMs = 10_000) =>
          until(
            () => {
              const rest = out.slice(from);
              const m = typeof pattern === 'string' ? (rest.includes(pattern) ? { index: rest.indexOf(pattern), 0: pattern } : null) : pattern.exec(rest);
              return m ? from + m.index + m[0].length : undefined;
            },
            `output matching ${String(pattern)}`,
            timeoutMs,
          ),
        waitControl: (type, timeoutMs = 10_000) => until(() => controls.find((c) => c.type === type), `a ${type} frame`, timeoutMs),
        type: (keys) => ws.send(Buffer.from(keys), { binary: true }),
        resize: (cols, rows) => ws.send(JSON.stringify({ type: 'resize', cols, rows })),
        closed,
        close: () =>
          new Promise<void>((done) => {
            if (ws.readyState === WebSocket.CLOSED) return done();
            ws.once('close', () => done());
            ws.close();
          }),
      }),
    );
  });
}

/** The refusal of a terminal upgrade; fails if the upgrade succeeded. */
export async function terminalRefusal(base: string, id: string, headers: Record<string, string>, query = ''): Promise<TerminalRefused> {
  try {
    const c = await openTerminal(base, id, headers, query);
    await c.close();
  } catch (err) {
    if (err instanceof TerminalRefused) return err;
    throw err;
  }
  throw new Error('the terminal upgrade was accepted');
}

/**
 * The interactive checks every backend must pass, on an open terminal of a running agent: typed
 * keys run (`echo hi`), Ctrl-C interrupts the foreground command (the next command runs: `sleep 600`
 * would hold it far past the wait), a resize reaches the TTY (`stty size`), and `exit`
 * sends the exit frame with the shell's code, then closes 1000.
 */
export async function terminalRoundTrip(t: TerminalClient, opts: { stty: boolean }): Promise<void> {
  const { expect } = await import('vitest');
  // The shell's echo of the command line holds `echo hi`; its output is `hi` on a line of its own.
  t.type('echo hi\r');
  let at = await t.waitFor(/[\r\n]hi\r\n/);

  // Ctrl-C goes to whatever job holds the TTY when it arrives: sent while bash is still between
  // reading the line and starting `sleep`, it would interrupt bash's wait, not the sleep. The job
  // says when it holds the TTY (sh prints, then becomes sleep in the same process group).
  t.type(`sh -c 'echo sleep-"started"; exec sleep 600'\r`);
  at = await t.waitFor(/[\r\n]sleep-started\r\n/, at);
  t.type('\x03');
  // The prompt comes back after ^C only when the sleep was interrupted (600 s is far past the wait).
  at = await t.waitFor(/\^C[\s\S]*[#$] $/, at);
  t.type('echo after-"interrupt"\r');
  at = await t.waitFor(/[\r\n]after-interrupt\r\n/, at);

  if (opts.stty) {
    t.resize(123, 45);
    t.type('stty size\r');
    // A resize may make the line editor redraw the line: the answer is matched alone.
    await t.waitFor(/45 123\r\n/, at);
  }

  t.type('exit 7\r');
  expect(await t.waitControl('exit')).toEqual({ type: 'exit', code: 7 });
  expect(await t.closed).toEqual({ code: 1000, reason: 'shell exited' });
}
