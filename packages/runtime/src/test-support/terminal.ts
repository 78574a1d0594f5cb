import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { TerminalServerMessage } from '@molecule/contracts';

/** A client of the agent's `GET /internal/terminal`, speaking the platform's frames. */
export interface AgentTerminalClient {
  ws: WebSocket;
  output(): string;
  controls: TerminalServerMessage[];
  /** Resolves once the output (from `from`) matches, with the output's length at the match's end. */
  waitFor(pattern: RegExp, from?: number): Promise<number>;
  waitControl(type: TerminalServerMessage['type']): Promise<TerminalServerMessage>;
  type(keys: string): void;
  resize(cols: number, rows: number): void;
  closed: Promise<{ code: number; reason: string }>;
}

/** An upgrade the agent answered with plain HTTP. */
export class Refused extends Error {
  constructor(
    readonly status: number,
    readonly body: { error?: string },
  ) {
    super(`refused with ${status}: ${JSON.stringify(body)}`);
  }
}

async function bodyOf(res: IncomingMessage): Promise<{ error?: string }> {
  let text = '';
  for await (const c of res) text += String(c);
  try {
    return JSON.parse(text) as { error?: string };
  } catch {
    return { error: text };
  }
}

const WAIT_MS = 10_000;

/** Opens the agent's terminal (`Refused` when it answers without upgrading) and waits for the shell's first prompt. */
export async function openAgentTerminal(agentUrl: string, headers: Record<string, string>, query = ''): Promise<AgentTerminalClient> {
  const t = await connectAgentTerminal(agentUrl, headers, query);
  await t.waitFor(/[#$>] /);
  return t;
}

export function connectAgentTerminal(agentUrl: string, headers: Record<string, string>, query = ''): Promise<AgentTerminalClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${agentUrl.replace(/^http/, 'ws')}/internal/terminal${query}`, { headers });
    let out = '';
    const controls: TerminalServerMessage[] = [];
    const waiters = new Set<() => void>();
    const wake = () => [...waiters].forEach((w) => w());
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
    const until = <T>(check: () => T | undefined, what: string) =>
      new Promise<T>((res, rej) => {
        const tick = () => {
          const v = check();
          if (v !== undefined || ws.readyState === WebSocket.CLOSED) {
            waiters.delete(tick);
            clearTimeout(timer);
            if (v !== undefined) res(v);
            else rej(new Error(`closed before ${what}; output: ${JSON.stringify(out.slice(-500))}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(tick);
          rej(new Error(`no ${what} within ${WAIT_MS} ms; output: ${JSON.stringify(out.slice(-500))}`));
        }, WAIT_MS);
        waiters.add(tick);
        tick();
      });
    ws.once('unexpected-response', (_req, res) => {
      bodyOf(res).then((body) => {
        ws.on('error', () => undefined);
        ws.terminate();
        reject(new Refused(res.statusCode ?? 0, body));
      }, reject);
    });
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        output: () => out,
        controls,
        waitFor: (pattern, from = 0) =>
          until(() => {
            const m = pattern.exec(out.slice(from));
            return m ? from + m.index + m[0].length : undefined;
          }, `output matching ${String(pattern)}`),
        waitControl: (type) => until(() => controls.find((c) => c.type === type), `a ${type} frame`),
        type: (keys) => ws.send(Buffer.from(keys), { binary: true }),
        resize: (cols, rows) => ws.send(JSON.stringify({ type: 'resize', cols, rows })),
        closed,
      }),
    );
  });
}

/** The agent's refusal of an upgrade; fails if it upgraded. */
export async function agentTerminalRefusal(agentUrl: string, headers: Record<string, string>, query = ''): Promise<Refused> {
  try {
    const t = await connectAgentTerminal(agentUrl, headers, query);
    t.ws.close();
  } catch (err) {
    if (err instanceof Refused) return err;
    throw err;
  }
  throw new Error('the terminal upgrade was accepted');
}
