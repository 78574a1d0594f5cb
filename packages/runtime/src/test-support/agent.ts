import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { startAgent, type RunningAgent, type StartAgentOptions } from '../agent.js';
import { loadConfig } from '../config.js';
import { createLogger, type Logger } from '../log.js';

export const WORKSPACE_ID = '6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b';

/** A pino logger whose JSON lines the test can read. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const out: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim()) out.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level, destination }), lines: () => out };
}

/** A fresh configs dir holding `config.yaml` and any extra files. */
export async function configsDir(yaml: string, files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'molecule-agent-'));
  await writeFile(path.join(dir, 'config.yaml'), yaml);
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content, { mode: 0o600 });
  return dir;
}

export interface TestAgent extends RunningAgent {
  dir: string;
  logs: () => Record<string, unknown>[];
}

/** Starts an agent on a free loopback port from `yaml` and env overrides; close it in afterEach. */
export async function startTestAgent(
  opts: { yaml?: string; env?: Record<string, string>; files?: Record<string, string>; dir?: string } & Omit<StartAgentOptions, 'config' | 'logger'> = {},
): Promise<TestAgent> {
  const { yaml = 'name: Test Agent\nadapter: echo\n', env = {}, files, dir: reuse, ...rest } = opts;
  // `dir`: start again on an earlier agent's configs dir (a restart).
  const dir = reuse ?? (await configsDir(yaml, files));
  // A home of its own (unless `env` names one): a terminal's shell reads ~/.bashrc, and the
  // developer's (pyenv's rehash waiting on a lock a killed shell left, say) is no part of a test.
  const home = env.HOME ?? (await mkdtemp(path.join(os.tmpdir(), 'molecule-agent-home-')));
  const config = await loadConfig({ PORT: '0', HOST: '127.0.0.1', MOLECULE_CONFIGS_DIR: dir, HOME: home, ...env });
  const { logger, lines } = captureLogger();
  const agent = await startAgent({ config, logger, ...rest });
  return Object.assign(agent, { dir, logs: lines });
}

/** What a parsed JSON reply is: tests read deep into A2A replies without restating their types. */
export type Json = ReturnType<typeof JSON.parse>;
