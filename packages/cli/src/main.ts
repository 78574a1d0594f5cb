#!/usr/bin/env node
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2), {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  env: process.env,
  tty: process.stderr.isTTY === true,
});
// Only a failure sets the code: `molecule up` returns while the server keeps running, and the
// server sets process.exitCode itself when it cannot start.
if (code !== 0) process.exitCode = code;
