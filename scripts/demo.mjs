#!/usr/bin/env node
// `pnpm demo`: builds quietly (errors still shown), then runs examples/host-demo with the given arguments.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { quietBuild, root } from './quiet-build.mjs';

quietBuild();
const r = spawnSync(
  process.execPath,
  [path.join(root, 'examples/host-demo/src/main.mjs'), ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  },
);
process.exit(r.status ?? 1);
