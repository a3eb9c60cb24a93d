#!/usr/bin/env node
// `pnpm plugward …` from the clone: builds the CLI quietly if needed, then runs it from the directory pnpm was
// started in (pnpm runs scripts in the repository root; INIT_CWD is where the user was), so relative paths work.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { quietBuild, root } from './quiet-build.mjs';

quietBuild('@plugward/cli');
const r = spawnSync(
  process.execPath,
  [path.join(root, 'packages/cli/dist/bin.js'), ...process.argv.slice(2)],
  {
    stdio: 'inherit',
    cwd: process.env.INIT_CWD || process.cwd(),
  },
);
if (r.signal) process.kill(process.pid, r.signal);
process.exit(r.status ?? 1);
