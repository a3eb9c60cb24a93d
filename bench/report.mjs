// Shared writer for bench results (DESIGN.md section 8).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

/**
 * Prints a table and writes bench/results/<name>.json.
 * @param {string} name
 * @param {string} unit
 * @param {{case: string, ours: number, baseline: number, baselineName: string, target: number, higherIsBetter?: boolean}[]} rows
 */
export function writeReport(name, unit, rows) {
  const out = rows.map((r) => {
    const higher = r.higherIsBetter ?? false;
    // ratio > 1 always means "ours is better than the baseline".
    const ratio = higher ? r.ours / r.baseline : r.baseline / r.ours;
    return {
      case: r.case,
      ours: r.ours,
      baseline: r.baseline,
      baselineName: r.baselineName,
      ratio: Number(ratio.toFixed(3)),
      target: r.target,
      meets: ratio >= r.target,
    };
  });
  fs.mkdirSync(dir, { recursive: true });
  const report = {
    name,
    unit,
    rows: out,
    node: process.version,
    machine: `${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, ${os.platform()} ${os.release()}`,
  };
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${name} (${unit}; ratio > 1 means Plugward is better than the baseline)`);
  console.table(
    out.map((r) => ({
      case: r.case,
      ours: r.ours,
      [r.baselineName]: r.baseline,
      ratio: r.ratio,
      target: r.target,
      meets: r.meets,
    })),
  );
  return report;
}
