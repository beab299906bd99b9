#!/usr/bin/env node
// The `curfew` binary. Everything it does lives in run-cli.ts, which tests import.
import { describeFailure, runCli } from './run-cli.js';

runCli(process.argv.slice(2), process).then(
  (code) => {
    process.exitCode = code;
    // Whatever still holds the event loop (a client that keeps a socket) must not keep a
    // finished command alive; stdout and stderr are synchronous for files and pipes.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`curfew: ${describeFailure(error)}\n`);
    process.exitCode = 1;
  },
);
