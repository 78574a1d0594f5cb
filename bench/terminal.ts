/**
 * bench/terminal: what the platform's terminal WebSocket adds to a keystroke's round trip.
 *
 * The platform (PGlite, process backend, built dist) runs one echo molecule-agent. A terminal on it
 * runs `cat` on its TTY; each keystroke is a one-byte binary frame, and its round trip ends when the
 * TTY's echo of that byte comes back (the kernel's line discipline echoes it: no program in the
 * way). The same keystrokes go once straight to a pty of the same kind in this process (the
 * process backend's python pty helper, no WebSocket, no platform). BENCH_TERMINAL_KEYS (2000)
 * keystrokes each, after 100 of warm-up; prints p50/p99 of both and the ratios.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { spawnPty } from '../packages/runtime/src/pty.js';
import { api, intEnv, launchPlatform, percentile, print, printTable, runBench, sleep, type Proc } from './support.js';

const ADMIN_TOKEN = 'bench-terminal-admin-token-0123456789';
const KEYS = intEnv('BENCH_TERMINAL_KEYS', 2000);
const WARMUP = 100;
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** A byte pipe to a shell: send bytes, get every output chunk. */
interface Pipe {
  send(data: Buffer): void;
  onData(listener: (chunk: Buffer) => void): void;
  close(): void;
}

/**
 * Starts `cat` on the pipe's TTY, then times `n` keystrokes, each waiting for its echo. Every 64
 * keys a Ctrl-U (kill line) keeps the line short; its echo holds no letter.
 */
async function keystrokes(pipe: Pipe, n: number): Promise<number[]> {
  let waiting: { byte: string; done: () => void } | undefined;
  let seen = '';
  pipe.onData((chunk) => {
    seen += chunk.toString('latin1');
    if (waiting && seen.includes(waiting.byte)) {
      const w = waiting;
      waiting = undefined;
      seen = '';
      w.done();
    }
  });
  const roundTrip = (byte: string) =>
    new Promise<number>((resolve, reject) => {
      seen = '';
      const t0 = performance.now();
      const timer = setTimeout(() => reject(new Error(`no echo of ${JSON.stringify(byte)} within 10 s`)), 10_000);
      waiting = {
        byte,
        done: () => {
          clearTimeout(timer);
          resolve(performance.now() - t0);
        },
      };
      pipe.send(Buffer.from(byte, 'latin1'));
    });
  pipe.send(Buffer.from('exec cat\r'));
  await sleep(500);
  await roundTrip('Z');
  const times: number[] = [];
  for (let i = 0; i < n + WARMUP; i++) {
    if (i % 64 === 63) {
      pipe.send(Buffer.from('\x15'));
      await sleep(2);
    }
    const t = await roundTrip(LETTERS[i % LETTERS.length]!);
    if (i >= WARMUP) times.push(t);
  }
  return times;
}

async function main(): Promise<void> {
  let platformProc: Proc | undefined;
  let dataDir: string | undefined;
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'molecule-bench-terminal-'));
  try {
    const platform = await launchPlatform(ADMIN_TOKEN, { MOLECULE_PROVISIONER: 'process' }, 'molecule-bench-terminal-data-');
    platformProc = platform.proc;
    dataDir = platform.dataDir;
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const created = await api(platform.base, 'POST', '/workspaces', { ...admin, 'content-type': 'application/json' }, { name: 'terminal', template: 'echo' });
    const id = created.id as string;
    const deadline = performance.now() + 120_000;
    while ((await api(platform.base, 'GET', `/workspaces/${id}`, admin)).status !== 'online') {
      if (performance.now() > deadline) throw new Error('the workspace did not come online within 120 s');
      await sleep(200);
    }

    // Through the platform: WebSocket -> platform -> pty helper -> TTY, and back.
    const ws = new WebSocket(`${platform.base.replace(/^http/, 'ws')}/workspaces/${id}/terminal`, { headers: admin });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const viaPlatform = await keystrokes(
      {
        send: (d) => ws.send(d, { binary: true }),
        onData: (l) => ws.on('message', (data, isBinary) => isBinary && l(data as Buffer)),
        close: () => ws.close(),
      },
      KEYS,
    );
    ws.close();

    // Straight to a pty of the same kind: pty helper -> TTY, and back.
    const session = await spawnPty({ argv: ['/bin/bash'], cwd: scratch, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', HOME: scratch }, size: { cols: 80, rows: 24 } });
    const direct = await keystrokes({ send: (d) => session.write(d), onData: (l) => session.onData(l), close: () => session.kill() }, KEYS);
    session.kill();

    const p = (xs: number[], q: number) => percentile(xs, q);
    const f = (v: number) => `${v.toFixed(2)} ms`;
    print(`bench/terminal: ${KEYS} keystrokes each (after ${WARMUP} of warm-up), each waiting for its TTY echo; ${os.cpus().length} CPUs`);
    printTable(
      ['path', 'p50', 'p99', 'max'],
      [
        ['straight to the pty (python helper)', f(p(direct, 50)), f(p(direct, 99)), f(Math.max(...direct))],
        ['through the platform WebSocket', f(p(viaPlatform, 50)), f(p(viaPlatform, 99)), f(Math.max(...viaPlatform))],
      ],
    );
    print(`platform / direct: p50 ${(p(viaPlatform, 50) / p(direct, 50)).toFixed(2)}x, p99 ${(p(viaPlatform, 99) / p(direct, 99)).toFixed(2)}x (target: p50 under 10 ms)`);
  } finally {
    await platformProc?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await rm(scratch, { recursive: true, force: true });
  }
}

await runBench(main);
