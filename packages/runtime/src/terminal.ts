import { stat } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { TERMINAL_MAX_SIZE } from '@molecule/contracts';
import type { Logger } from './log.js';
import { shellPath, spawnPty } from './pty.js';
import { serveTerminalSocket, TerminalError, type TerminalSession } from './terminal-socket.js';

/** Output the platform has not read beyond this closes the terminal with 1013 (the platform's own limit). */
export const TERMINAL_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export interface AgentTerminalOptions {
  /** Where the shell starts: the workspace dir. */
  cwd: string;
  /** The shell's whole environment (config.ts builds it with pty.ts `shellEnv`). */
  env: Record<string, string>;
  idleMs: number;
  log: Logger;
}

/** A refusal before the upgrade; its message is canned and shown (the platform passes it on). */
class TerminalRefusal extends Error {
  readonly expose = true;
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const size = z.coerce.number().int().min(1).max(TERMINAL_MAX_SIZE);
const OpenQuery = z.object({ cols: size.default(80), rows: size.default(24) });

declare module 'fastify' {
  interface FastifyRequest {
    agentTerminal?: TerminalSession;
  }
}

/**
 * `GET /internal/terminal?cols=&rows=` (WebSocket): a shell on a pty in the workspace dir, for the
 * platform's control-plane backend (its `/workspaces/:id/terminal` bridges to it). Registered in the
 * internal endpoints' scope, so the inbound-secret bearer is checked before anything else (401).
 * Then, all before the upgrade: 426 a GET without an upgrade, 400 a size out of 1-1000, 503 a shell
 * that cannot be started (the message says why). The frames are the platform's own
 * (terminal-socket.ts, frames up to TERMINAL_MAX_FRAME_BYTES); the environment is `opts.env` alone,
 * never the agent's. The scope must have the WebSocket plugin registered (internal-files.ts does).
 */
export function registerAgentTerminal(scope: FastifyInstance, opts: AgentTerminalOptions): void {
  const log = opts.log.child({ endpoint: 'terminal' });
  scope.get(
    '/internal/terminal',
    {
      websocket: true,
      preHandler: async (req) => {
        if (req.headers.upgrade?.toLowerCase() !== 'websocket') throw new TerminalRefusal(426, 'this route is a WebSocket: send an upgrade request');
        const q = OpenQuery.safeParse(req.query);
        if (!q.success) throw new TerminalRefusal(400, `cols and rows must be whole numbers from 1 to ${TERMINAL_MAX_SIZE}`);
        // Started before the upgrade, so a shell that cannot start is a plain HTTP answer the platform can show.
        try {
          if (!(await stat(opts.cwd).catch(() => undefined))?.isDirectory()) throw new TerminalError('the workspace dir does not exist');
          req.agentTerminal = await spawnPty({ argv: [await shellPath()], cwd: opts.cwd, env: opts.env, size: q.data });
        } catch (err) {
          log.warn({ err }, 'terminal: could not start a shell');
          throw new TerminalRefusal(503, err instanceof TerminalError ? err.message : 'failed to create shell session');
        }
        const pty = req.agentTerminal;
        // An upgrade that never completes (a bad handshake) ends the shell when its socket goes.
        req.raw.socket.once('close', () => pty.kill());
      },
    },
    (socket, req) => {
      const pty = req.agentTerminal!;
      serveTerminalSocket(socket, { open: async () => pty, idleMs: opts.idleMs, maxBufferedBytes: TERMINAL_MAX_BUFFERED_BYTES, log });
    },
  );
}
