#!/usr/bin/env node
import { startAgent } from './agent.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './log.js';

/** How long SIGTERM/SIGINT waits for running tasks before canceling them. */
const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  let config;
  try {
    // `--connect` is MOLECULE_CONNECT=1: the agent takes its requests over an outbound socket.
    const env = process.argv.slice(2).includes('--connect') ? { ...process.env, MOLECULE_CONNECT: '1' } : process.env;
    config = await loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`molecule-agent: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel });
  let agent;
  try {
    agent = await startAgent({ config, logger: log });
  } catch (err) {
    log.fatal({ err, host: config.host, port: config.port }, 'molecule-agent could not start');
    process.exit(1);
  }
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    agent.close({ graceMs: SHUTDOWN_GRACE_MS }).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

await main();
