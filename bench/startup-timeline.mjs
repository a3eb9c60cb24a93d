// Where a plugin's cold start goes: `node startup-timeline.mjs [tier]` loads the echo plugin N times (env N, default 8)
// with PLUGWARD_TRACE_STARTUP=1 and prints the median time between consecutive steps of the host's marks
// (`host:*`, performance.mark) and the runtime's (`rt:*`, its stderr lines), both on the wall clock. A tool, not a
// benchmark: it has no baseline (registry.bench.mjs has the cold-start rows). The runtime CPU rows (its process's CPU
// time between its steps) hold on a loaded machine, where every wall-clock row stretches.
import { performance } from 'node:perf_hooks';

process.env.PLUGWARD_TRACE_STARTUP = '1';
const { LinuxSandbox, PluginRegistry } = await import('@plugward/registry');
const { echoPluginFixture } = await import('./fixtures.mjs');
const { stats } = await import('./report.mjs');
const { artifact, security } = await echoPluginFixture('pw-tl-');
const sandbox = new LinuxSandbox();
const tier = process.argv[2] ?? 'sandbox';
const rows = {};
const add = (k, v) => {
  rows[k] ??= [];
  rows[k].push(v);
};
for (let i = 0; i < Number(process.env.N ?? 8); i++) {
  const lines = [];
  const r = new PluginRegistry({ security, sandbox, defaultTier: tier, log: (_n, _l, m) => lines.push(m) });
  performance.clearMarks();
  const t0 = performance.timeOrigin + performance.now();
  await r.loadPlugin(artifact, 'trusted');
  const t1 = performance.timeOrigin + performance.now();
  const ev = [['loadPlugin', t0]];
  for (const m of performance.getEntriesByType('mark'))
    ev.push([`host:${m.name.split(':').pop()}`, performance.timeOrigin + m.startTime]);
  const cpu = [];
  for (const l of lines) {
    const m = /plugward-startup (\S+) ([\d.]+) ([\d.]+)/.exec(l);
    if (m) ev.push([`rt:${m[1]}`, Number(m[2])]);
    if (m) cpu.push([m[1], Number(m[3])]);
  }
  for (let j = 1; j < cpu.length; j++)
    add(`runtime CPU ${cpu[j - 1][0]} → ${cpu[j][0]}`, cpu[j][1] - cpu[j - 1][1]);
  ev.push(['done', t1]);
  ev.sort((a, b) => a[1] - b[1]);
  for (let j = 1; j < ev.length; j++) add(`${ev[j - 1][0]} → ${ev[j][0]}`, ev[j][1] - ev[j - 1][1]);
  add('TOTAL', t1 - t0);
  await r.close();
}
for (const [k, v] of Object.entries(rows)) {
  const s = stats(v);
  console.log(k.padEnd(45), s.median.toFixed(1).padStart(7), `(${s.p10.toFixed(1)}–${s.p90.toFixed(1)})`);
}
