import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SERVER_BIN = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
export const AGENT_BIN = fileURLToPath(new URL('../../../runtime/dist/main.js', import.meta.url));
/** The admin token of platform processes started here. */
export const PROCESS_ADMIN_TOKEN = 'fault-admin-token-0123456789abcdef';

export interface PlatformProcess {
  child: ChildProcess;
  url: string;
  /** What it printed (JSON log lines), so far. */
  output(): string;
  /** `kill -9`, resolved once it is gone. */
  kill(): Promise<void>;
}

/** Waits until `url/health` answers 200 (a plain loop: usable in hooks as well as tests). */
export async function waitHealthy(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await fetch(`${url}/health`).catch(() => undefined);
    await r?.arrayBuffer();
    if (r?.status === 200) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${url}/health did not answer 200 within ${timeoutMs} ms`);
}

/**
 * The built `molecule-server` as its own process (so a test can SIGKILL it) on `port`, with the
 * admin token above and `env` (DATABASE_URL, REDIS_URL, MOLECULE_DATA_DIR...). Resolves once healthy.
 */
export async function startPlatformProcess(port: number, env: Record<string, string>): Promise<PlatformProcess> {
  const child = spawn(process.execPath, [SERVER_BIN], {
    env: { ...process.env, PORT: String(port), ADMIN_TOKEN: PROCESS_ADMIN_TOKEN, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => reject(new Error(`molecule-server on ${port} exited (${code ?? signal}) before it was healthy`))),
  );
  exited.catch(() => undefined);
  await Promise.race([waitHealthy(url, 60_000), exited]).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n${out.slice(-4000)}`);
  });
  return {
    child,
    url,
    output: () => out,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((res) => child.once('exit', res));
      child.kill('SIGKILL');
      await exited;
    },
  };
}
