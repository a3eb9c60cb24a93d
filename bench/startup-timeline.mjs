// Where a plugin's cold start goes: `node startup-timeline.mjs [tier] [backend]` (tier default `sandbox`; backend
// `bubblewrap` (default) or `landlock`) loads the echo plugin N times (env N, default 8) with
// PLUGWARD_TRACE_STARTUP=1 and prints the median time between consecutive steps of the host's marks (`host:*`,
// performance.mark) and the runtime's (`rt:*`, its stderr lines; the strict bubblewrap sandbox's lockdown preload adds
// `lockdown-start`/`lockdown-applied`), both on the wall clock. A tool, not a benchmark: it
// writes no report (registry.bench.mjs has the cold-start rows), but it measures a bare `node -e 0` in the same rounds
// (interleaved) so its totals come with their ratio. The runtime CPU rows (its process's CPU time between its steps)
// and the CPU total (the host's CPU during loadPlugin plus the sandbox's: bubblewrap, the cgroup's cpuacct — launcher,
// bwrap, node, runtime; Landlock, the runtime process's threads, which include its launcher) hold on a loaded
// machine, where every wall-clock row stretches.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

process.env.PLUGWARD_TRACE_STARTUP = '1';
const { LandlockSandbox, LinuxSandbox, PluginRegistry, prepareRuntimeCodeCache } = await import(
  '@plugward/registry'
);
const { bareNode, cgroupCpuMs, echoPluginFixture } = await import('./fixtures.mjs');
const { stats } = await import('./report.mjs');
const { artifact, security } = await echoPluginFixture('pw-tl-');
const tier = process.argv[2] ?? 'sandbox';
const backend = process.argv[3] ?? 'bubblewrap';
const sandbox = backend === 'landlock' ? new LandlockSandbox() : new LinuxSandbox();
const rows = {};
// AB=1: every round loads once from the runtime's code cache and once without (PLUGWARD_CODE_CACHE=0), rows labelled.
const ab = process.env.AB === '1';
let label = '';
const add = (k, v) => {
  const key = label === '' || k.startsWith('node -e 0') ? k : `[${label}] ${k}`;
  rows[key] ??= [];
  rows[key].push(v);
};
/** How many loads started from the host's code cache (`used`), V8 refused it, or started plain. */
const codeCache = {};

/**
 * On-CPU time of every live thread of `pid`, ms (/proc/<pid>/task/<tid>/schedstat). For the Landlock backend the pid is
 * its launcher's too (it execs the runtime), so this counts the launcher's main thread from its start; the cgroup
 * counts it only from its join.
 */
function processCpuMs(pid) {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`))
    ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  return ns / 1e6;
}

async function load(record) {
  const lines = [];
  const r = new PluginRegistry({ security, sandbox, defaultTier: tier, log: (_n, _l, m) => lines.push(m) });
  performance.clearMarks();
  const c0 = process.cpuUsage();
  const t0 = performance.timeOrigin + performance.now();
  await r.loadPlugin(artifact, 'trusted');
  const t1 = performance.timeOrigin + performance.now();
  const host = process.cpuUsage(c0);
  const pid = r.getPluginInfo('echo').pid;
  const inside = tier === 'sandbox' && pid !== undefined ? cgroupCpuMs(pid) : undefined;
  const own =
    backend === 'landlock' && tier === 'sandbox' && pid !== undefined ? processCpuMs(pid) : undefined;
  // The runtime's last lines (`plugin-loaded`, `connected`) can reach the host's log after loadPlugin resolved: the
  // host reads a plugin's stderr in turns. Wait for them (≤ 1 s), or those steps would go missing from the rows.
  for (let i = 0; i < 100 && !lines.some((l) => l.includes('plugward-startup connected')); i++)
    await new Promise((r) => setTimeout(r, 10));
  if (record) {
    const ev = [['loadPlugin', t0]];
    for (const m of performance.getEntriesByType('mark'))
      ev.push([`host:${m.name.split(':').pop()}`, performance.timeOrigin + m.startTime]);
    const cpu = [];
    for (const l of lines) {
      const m = /plugward-startup (\S+) ([\d.]+) ([\d.]+|-)/.exec(l);
      if (m) ev.push([`rt:${m[1]}`, Number(m[2])]);
      const c = /plugward-code-cache (\S+)/.exec(l);
      if (c) codeCache[`${label || 'all'} ${c[1]}`] = (codeCache[`${label || 'all'} ${c[1]}`] ?? 0) + 1;
      // A step dated after the fact (node-bootstrapped) carries no CPU time; the lockdown's steps print before the
      // runtime's first ones but happen after them in time: CPU rows follow time.
      if (m && m[3] !== '-') cpu.push([m[1], Number(m[3]), Number(m[2])]);
    }
    cpu.sort((a, b) => a[2] - b[2]);
    for (let j = 1; j < cpu.length; j++)
      add(`runtime CPU ${cpu[j - 1][0]} → ${cpu[j][0]}`, cpu[j][1] - cpu[j - 1][1]);
    ev.push(['done', t1]);
    ev.sort((a, b) => a[1] - b[1]);
    for (let j = 1; j < ev.length; j++) add(`${ev[j - 1][0]} → ${ev[j][0]}`, ev[j][1] - ev[j - 1][1]);
    add('TOTAL wall', t1 - t0);
    add('host CPU during loadPlugin', (host.user + host.system) / 1000);
    if (inside !== undefined) add('sandbox cgroup CPU', inside);
    if (own !== undefined) add('runtime process CPU (its threads)', own);
    // bubblewrap: the cgroup holds the launcher chain, bwrap and node from the first exec on. Landlock: the launcher
    // joins it after its own node start, but it is the runtime's own process (execveat), whose threads count it all.
    const sandboxCpu = backend === 'landlock' ? own : inside;
    if (sandboxCpu !== undefined)
      add('TOTAL CPU (host + sandbox)', (host.user + host.system) / 1000 + sandboxCpu);
  }
  await r.close();
}

// One warm-up load (the host's one-time costs: compiled filters, found paths), then interleaved rounds.
await load(false);
// The runtime's code cache, found or made before the rounds (as a host that prepares it at its start has it).
await prepareRuntimeCodeCache();
for (let i = 0; i < Number(process.env.N ?? 8); i++) {
  const b = await bareNode();
  add('node -e 0 wall', b.wall);
  add('node -e 0 CPU', b.cpu);
  if (!ab) await load(true);
  else {
    for (const on of i % 2 === 0 ? [true, false] : [false, true]) {
      label = on ? 'cache' : 'plain';
      process.env.PLUGWARD_CODE_CACHE = on ? '1' : '0';
      await load(true);
    }
    label = '';
  }
}
const med = (k) => stats(rows[k] ?? [NaN]).median;
console.log(
  `${tier} tier${tier === 'sandbox' ? `, ${sandbox.name}` : ''}: medians of ${process.env.N ?? 8} loads (p10–p90)`,
);
for (const [k, v] of Object.entries(rows)) {
  const s = stats(v);
  console.log(k.padEnd(45), s.median.toFixed(1).padStart(7), `(${s.p10.toFixed(1)}–${s.p90.toFixed(1)})`);
}
for (const l of ab ? ['[cache] ', '[plain] '] : ['']) {
  console.log(
    `${l}ratio wall (node -e 0 / loadPlugin): ${(med('node -e 0 wall') / med(`${l}TOTAL wall`)).toFixed(2)}`,
  );
  if (rows[`${l}TOTAL CPU (host + sandbox)`])
    console.log(
      `${l}ratio CPU (node -e 0 / host + sandbox): ${(med('node -e 0 CPU') / med(`${l}TOTAL CPU (host + sandbox)`)).toFixed(2)}`,
    );
}
console.log('runtime code cache per load:', JSON.stringify(codeCache));
