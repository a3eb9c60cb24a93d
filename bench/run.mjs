#!/usr/bin/env node
// Runs every bench/*.bench.mjs in its own process and lists the results written to bench/results/.
// Each benchmark compares against a baseline measured in the same run and writes bench/results/<name>.json with
// { name, unit, rows: [{ case, ours, baseline, baselineName, ratio, target, meets }], node, machine }.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv[2];
const benches = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.bench.mjs') && (!only || f.includes(only)))
  .sort();
if (benches.length === 0) {
  console.log('no benchmarks yet');
  process.exit(0);
}
let failed = 0;
for (const b of benches) {
  console.log(`\n=== ${b}`);
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(dir, b)], { stdio: 'inherit', cwd: dir });
  if (r.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
