import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../net/free-port.js';

const run = promisify(execFile);

/**
 * PostgreSQL and Redis servers of a test's own, for fault tests that stop and restart them (the
 * shared servers of scripts/services.sh stay up for every other test file). Same binaries, loopback
 * only, data in a temp dir removed on close.
 */

function pgBin(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b));
  const v = versions.at(-1);
  if (!v) throw new Error('PostgreSQL is not installed: run the tests through `npm test` (scripts/services.sh installs it)');
  return join('/usr/lib/postgresql', v, 'bin');
}

export interface PrivatePostgres {
  url: string;
  /** `pg_ctl stop -m immediate` (a crash, as far as clients can tell) or `fast`. */
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = pgBin();
  const dir = mkdtempSync('/tmp/molecule-fault-pg-');
  const data = join(dir, 'data');
  const port = await freePort();
  // initdb refuses to run as root; the Debian package provides the postgres user.
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const pw = (await run('id', ['-u', 'postgres'])).stdout.trim();
    const gid = (await run('id', ['-g', 'postgres'])).stdout.trim();
    chownSync(dir, Number(pw), Number(gid));
  }
  const pg = (tool: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args));
  await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres']);
  // fsync off is safe against a killed server (the OS keeps what was written); synchronous_commit
  // stays on, or an immediate stop would lose the last acknowledged commits.
  const opts = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c full_page_writes=off`;
  const start = async () => void (await pg('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-o', opts, 'start']));
  const stop = async (mode: 'immediate' | 'fast' = 'immediate') => void (await pg('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']));
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start,
    async close() {
      await stop('immediate').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PrivateRedis {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const ok = await run('redis-cli', ['-p', String(port), 'ping']).then(
        (r) => r.stdout.trim() === 'PONG',
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('redis-server did not start');
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, start, stop, close: stop };
}
