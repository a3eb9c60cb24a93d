// Shared writer for bench results (bench/README.md describes the format).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

/** Median and spread (min … max, and the 10th/90th percentiles) of samples. */
export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
  return { median: at(0.5), p10: at(0.1), p90: at(0.9), min: s[0], max: s[s.length - 1], n: s.length };
}

/**
 * A row for a case that could not run here: it is reported, never dropped, and never meets its target.
 * @param {string} caseName
 * @param {string} baselineName
 * @param {number} target
 * @param {string} reason
 */
export function notRun(caseName, baselineName, target, reason) {
  return { case: caseName, ours: null, baseline: null, baselineName, target, reason };
}

/**
 * Prints a table and writes bench/results/<name>.json. Every row needs a target that can fail (> 0). A row with
 * `ours: null` could not run: it carries a `reason` and `meets: false`.
 * @param {string} name
 * @param {string} unit
 * @param {{case: string, ours: number | null, baseline: number | null, baselineName: string, target: number,
 *   higherIsBetter?: boolean, spread?: string, reason?: string}[]} rows
 */
export function writeReport(name, unit, rows) {
  const out = rows.map((r) => {
    if (!(r.target > 0)) throw new Error(`bench row "${r.case}" has no target that can fail (${r.target})`);
    if (r.ours === null || r.baseline === null || !Number.isFinite(r.ours) || !Number.isFinite(r.baseline)) {
      return {
        case: r.case,
        ours: r.ours ?? null,
        baseline: r.baseline ?? null,
        baselineName: r.baselineName,
        ratio: null,
        target: r.target,
        meets: false,
        reason: r.reason ?? 'no measurement',
      };
    }
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
      ...(r.spread === undefined ? {} : { spread: r.spread }),
    };
  });
  fs.mkdirSync(dir, { recursive: true });
  const report = {
    name,
    unit,
    rows: out,
    node: process.version,
    machine: `${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}, ${os.platform()} ${os.release()}`,
    load: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${name} (${unit}; ratio > 1 means Plugward is better than the baseline)`);
  console.table(
    out.map((r) => ({
      case: r.case,
      ours: r.ours,
      ...(r.spread === undefined ? {} : { spread: r.spread }),
      [r.baselineName]: r.baseline,
      ratio: r.ratio,
      target: r.target,
      meets: r.meets,
      ...(r.reason === undefined ? {} : { reason: r.reason }),
    })),
  );
  return report;
}
