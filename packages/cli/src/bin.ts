#!/usr/bin/env node
// The `plugward` command. Exit codes: see EXIT_CODES in exit-codes.ts and the package README.
import { main } from './cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`plugward: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 70;
  },
);
