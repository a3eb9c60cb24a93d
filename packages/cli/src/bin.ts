#!/usr/bin/env node
// The `plugward` command. Subcommands land with their issues (security: keygen/hash/sign/verify/trust; registry:
// inspect/run/doctor).
import { LAYER } from './index.js';

const args = process.argv.slice(2);
if (args[0] === '--version' || args[0] === '-v') {
  console.log('plugward 0.0.0');
} else {
  console.error(`plugward (layer ${LAYER}): no subcommands yet.\nusage: plugward --version`);
  process.exitCode = args.length === 0 ? 0 : 2;
}
