import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@molecule/server/testing';

/**
 * The README's "Using it" commands, run as written, through the `npx molecule` that npm linked at
 * install time, against a platform started as the quick start does (`npm start`: embedded database,
 * process backend). The only substitutions: the platform's address and data dir come from
 * MOLECULE_URL and MOLECULE_DATA_DIR (so a developer's own platform on :8080 and its .molecule are
 * never touched), and `<workspace-id>` is the id the first command printed.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);

/** The shell commands of the fenced `sh` blocks under a README heading (comments and continuations joined). */
function commandsUnder(readme: string, heading: string): string[][] {
  const section = readme.split(/^## /m).find((s) => s.startsWith(heading));
  if (!section) throw new Error(`README has no "## ${heading}" section`);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter(Boolean),
  );
}

describe('the README on a fresh clone', () => {
  let platform: ChildProcess | undefined;
  let dataDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'molecule-readme-'));
    const port = await freePort();
    env = { PATH: process.env.PATH, HOME: process.env.HOME, MOLECULE_URL: `http://127.0.0.1:${port}`, MOLECULE_DATA_DIR: dataDir };
    // `npm start`, with the port and data dir moved aside.
    platform = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: 'ignore', detached: true });
    const deadline = Date.now() + 60_000;
    while ((await fetch(`${env.MOLECULE_URL}/health`).catch(() => undefined))?.status !== 200) {
      if (Date.now() > deadline || platform.exitCode !== null) throw new Error('`npm start` did not serve /health within 60 s');
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 90_000);

  afterAll(async () => {
    if (platform?.pid) process.kill(-platform.pid, 'SIGTERM');
    await new Promise((r) => (platform?.exitCode !== null ? r(undefined) : platform.once('exit', r)));
    // The platform may still be flushing its embedded database as npm exits: retry rather than race it.
    await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  });

  it('runs the "Using it" commands: create, list, mint a token, talk to the agent, remove', async () => {
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    const [cli, talk] = commandsUnder(readme, 'Using it');
    expect(cli!.every((c) => c.startsWith('npx molecule '))).toBe(true);
    const sh = async (command: string) => {
      const r = await run('sh', ['-c', command], { cwd: ROOT, env, timeout: 60_000 }).catch((e: { code?: number; stdout?: string; stderr?: string }) => {
        throw new Error(`\`${command}\` failed (${e.code}): ${e.stderr ?? ''}${e.stdout ?? ''}`);
      });
      return r.stdout;
    };

    let id = '';
    const withId = (c: string) => c.replaceAll('<workspace-id>', id);
    const rm = cli!.filter((c) => c.includes(' rm '));
    for (const command of cli!.filter((c) => !c.includes(' rm '))) {
      const out = await sh(withId(command));
      if (id === '') {
        id = /created workspace "[^"]*" ([0-9a-f-]{36})/.exec(out)?.[1] ?? '';
        expect(id, out).not.toBe('');
      }
      if (command.includes(' ls')) expect(out).toContain(id);
    }
    // The first workspace comes from the echo template: it goes online and answers the README's curl.
    await expect.poll(async () => (await sh(`npx molecule workspace ls`)).split('\n').find((l) => l.includes(id)), { timeout: 60_000, interval: 500 }).toContain('online');
    const curl = talk!.join(' ').replaceAll('http://127.0.0.1:8080', env.MOLECULE_URL!).replaceAll('.molecule/admin_token', '"$MOLECULE_DATA_DIR/admin_token"');
    const answer = await sh(withId(curl));
    expect(answer).toContain('"result"');
    expect(answer).toContain('hi');
    for (const command of rm) await sh(withId(command));
    expect(await sh('npx molecule workspace ls')).not.toContain(id);
  }, 180_000);
});
