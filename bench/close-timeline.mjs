// Where close() spends its time (a tool, not a benchmark: no baseline, no report). `node close-timeline.mjs [tier] [N]`
// (default process, 100) loads N echo plugins at the tier (CLOSE_BATCH, default 5, at a time), lets them settle, then
// closes the registry and prints: its wall time; the host's CPU during it (main thread and worker threads); for the
// process tier, the CPU the plugin processes spent during it (their shutdown and exit: what /proc/<pid>/task/*/schedstat
// said before, against what the kernel credits the host with for its reaped children after — sandboxed plugins are
// reaped by their bubblewrap, not by the host, so they are not counted); when the plugins' `unloaded` events came
// (first, median, last: with N plugins sharing 2 cores they finish together, the wall time is their summed CPU).
import fs from 'node:fs';
import { PluginRegistry } from '@plugward/registry';
import { benchSandbox, echoPluginsFixture } from './fixtures.mjs';

const tier = process.argv[2] ?? 'process';
const n = Number(process.argv[3] ?? 100);
const batch = Number(process.env.CLOSE_BATCH ?? 5);

const { dir, artifacts, security } = await echoPluginsFixture(
  'pw-close-timeline-',
  Array.from({ length: n }, (_, i) => `echo${i}`),
);
const sandbox = tier === 'sandbox' ? (await benchSandbox()).sandbox : undefined;
if (tier === 'sandbox' && sandbox === undefined) throw new Error('no sandbox on this machine');

/** CPU ms the kernel credits this process with for its reaped children (cutime + cstime; 10 ms ticks). */
function reapedChildrenCpuMs() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * 10;
}

/** CPU ms the live process `pid` has used so far, every thread (ns-exact, from schedstat). */
function processCpuMs(pid) {
  let ns = 0;
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    }
  } catch {
    // gone meanwhile
  }
  return ns / 1e6;
}

const registry = new PluginRegistry({ security, sandbox, defaultTier: tier, log: () => {} });
const t0 = performance.now();
try {
  for (let i = 0; i < n; i += batch) {
    await Promise.all(artifacts.slice(i, i + batch).map((a) => registry.loadPlugin(a, 'trusted')));
  }
} catch (e) {
  // On an overloaded machine a start can miss its Initialize budget: say so, leave nothing behind.
  console.log(`${tier} × ${n}: load failed: ${e instanceof Error ? e.message : String(e)}`);
  await registry.close();
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(1);
}
console.log(
  `${tier} × ${n}: loaded in ${(performance.now() - t0).toFixed(0)} ms; load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
);
await new Promise((r) => setTimeout(r, 1000));

const unloaded = [];
registry.on('unloaded', () => unloaded.push(performance.now()));
const pids = registry.listLoadedPlugins().flatMap((p) => (p.pid === undefined ? [] : [p.pid]));
const childrenBefore = pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
const reapedBefore = reapedChildrenCpuMs();
const cpu0 = process.cpuUsage();
const t1 = performance.now();
await registry.close();
const wall = performance.now() - t1;
const cpu = process.cpuUsage(cpu0);

const ms = (x) => `${x.toFixed(0)} ms`;
console.log(
  `close(): ${ms(wall)} wall; host CPU ${ms((cpu.user + cpu.system) / 1000)} (user ${ms(cpu.user / 1000)}, system ${ms(cpu.system / 1000)})`,
);
if (tier === 'process') {
  const during = reapedChildrenCpuMs() - reapedBefore - childrenBefore;
  console.log(
    `plugin processes' CPU during close(): ≈ ${ms(during)} (± 10), ${(during / n).toFixed(2)} ms each`,
  );
}
unloaded.sort((a, b) => a - b);
const at = (q) => ms(unloaded[Math.min(unloaded.length - 1, Math.floor(q * unloaded.length))] - t1);
if (unloaded.length > 0) console.log(`unloaded events: first ${at(0)}, median ${at(0.5)}, last ${at(1)}`);
fs.rmSync(dir, { recursive: true, force: true });
