// Scaling with the number of plugins, per tier: N echo plugins (distinct names, one signer, all on hook `echo`) are
// loaded into one PluginRegistry, N ∈ {1, 10, 100, 500}. Rows, each against the same tier at a small N measured in the
// same run (so the ratio says how it scales, not how fast the machine is):
// - load: ms per plugin (loaded SCALING_BATCH, default 10, at a time) at N against N = 1 — target 0.5 (at most twice the per-plugin cost);
// - dispatch: µs per handler of one `hooks.execute('echo')` through all N against N = 1 — target 0.5;
// - memory: PSS per plugin (not RSS: shared pages are split among the processes sharing them) at N against N = 10 —
//   target 0.8. Out of process: the PSS of each plugin's process tree (/proc/<pid>/smaps_rollup); in process and in
//   workers: the host's own PSS growth divided by N;
// - close(): ms for the whole registry at N against a budget of 1 ms per plugin (issue 17: 500 plugins < 500 ms) —
//   target 1; and the host's CPU time during it (main thread and its worker threads, `process.cpuUsage`) against the
//   same budget: a loaded machine stretches the wall time, the CPU the host spends on it much less. The plugins' own
//   CPU (their shutdown, their exit) is not in it: out of process it is the children's.
// Out of process, N = 500 needs ≈ 500 Node runtimes; it runs only when the memory it would take (PSS per plugin at
// N = 100 × 500, × 1.5) fits in MemAvailable, or with SCALING_OOP_MAX=500; otherwise those rows are not run, with
// the reason. `SCALING_TIERS=in-process,worker` runs a subset.
import fs from 'node:fs';
import { PluginRegistry } from '@plugward/registry';
import { benchSandbox, echoPluginsFixture } from './fixtures.mjs';
import { notRun, writeReport } from './report.mjs';

const SIZES = [1, 10, 100, 500];
const TIERS = (process.env.SCALING_TIERS ?? 'in-process,worker,process,sandbox').split(',');
const OOP_MAX = Number(process.env.SCALING_OOP_MAX ?? 100);
/** Plugins loaded at once (`SCALING_BATCH`): on an overloaded machine fewer keep each start within its init budget. */
const BATCH = Number(process.env.SCALING_BATCH ?? 10);
const payload = new Uint8Array(64).fill(7);

const { dir, artifacts, security } = await echoPluginsFixture(
  'pw-bench-scale-',
  Array.from({ length: Math.max(...SIZES) }, (_, i) => `echo${i}`),
);

/** PSS of a process, KiB (0 when it is gone or unreadable). */
function pssKiB(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Children of every process, from /proc/<pid>/stat (for a sandbox: the launcher, bwrap, node). */
function childrenMap() {
  const map = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!map.has(ppid)) map.set(ppid, []);
      map.get(ppid).push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return map;
}

function treePssKiB(pid, children) {
  let total = pssKiB(pid);
  for (const c of children.get(pid) ?? []) total += treePssKiB(c, children);
  return total;
}

async function measure(tier, n, sandbox) {
  globalThis.gc?.();
  const hostBefore = pssKiB(process.pid);
  const registry = new PluginRegistry({ security, sandbox, defaultTier: tier, log: () => {} });
  try {
    return await measureIn(registry, tier, n, hostBefore);
  } catch (e) {
    await registry.close().catch(() => undefined); // no plugin process left behind a failed size
    throw e;
  }
}

async function measureIn(registry, tier, n, hostBefore) {
  const t0 = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    await Promise.all(
      artifacts.slice(i, Math.min(n, i + BATCH)).map((a) => registry.loadPlugin(a, 'trusted')),
    );
  }
  const loadMs = (performance.now() - t0) / n;
  if (registry.hooks.count('echo') !== n)
    throw new Error(`${tier} ×${n}: ${registry.hooks.count('echo')} handlers`);
  // Dispatch: enough executions for ≈ 20 000 handler calls in process, 600 out of process. A failure here (e.g. one
  // execution through hundreds of out-of-process handlers past the whole-execution budget) is that row's reason; the
  // memory and close() rows are still measured.
  let dispatchUs;
  let dispatchError;
  try {
    const calls = Math.max(3, Math.ceil((tier === 'in-process' ? 20_000 : 600) / n));
    for (let i = 0; i < Math.min(calls, 10); i++) await registry.hooks.execute('echo', payload);
    const t1 = performance.now();
    for (let i = 0; i < calls; i++) await registry.hooks.execute('echo', payload);
    dispatchUs = ((performance.now() - t1) * 1000) / (calls * n);
  } catch (e) {
    dispatchError = `failed: ${e instanceof Error ? e.message : String(e)}`;
  }
  globalThis.gc?.();
  let pss;
  if (tier === 'process' || tier === 'sandbox') {
    const children = childrenMap();
    pss = 0;
    for (const { pid } of registry.listLoadedPlugins()) {
      if (pid !== undefined) pss += treePssKiB(pid, children);
    }
    pss /= n;
  } else pss = (pssKiB(process.pid) - hostBefore) / n;
  const cpu0 = process.cpuUsage();
  const t2 = performance.now();
  await registry.close();
  const closeMs = performance.now() - t2;
  const cpu = process.cpuUsage(cpu0);
  return {
    loadMs,
    dispatchUs,
    dispatchError,
    pssKiB: pss,
    closeMs,
    closeCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

const { sandbox, unsupported } = TIERS.includes('sandbox') ? await benchSandbox() : {};
const rows = [];
const f = (x, d = 2) => Number(x.toFixed(d));
for (const tier of ['in-process', 'worker', 'process', 'sandbox']) {
  const label = (what, n) => `${tier}: ${what}, ${n} plugins`;
  const skipAll = !TIERS.includes(tier)
    ? 'not selected (SCALING_TIERS)'
    : tier === 'sandbox' && !sandbox
      ? unsupported
      : undefined;
  const results = new Map();
  for (const n of SIZES) {
    if (skipAll !== undefined) break;
    if (tier !== 'in-process' && n > OOP_MAX) {
      const per = results.get(100)?.pssKiB;
      const needKiB = per === undefined ? undefined : per * n * 1.5;
      const availKiB = Number(/^MemAvailable:\s+(\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1]);
      if (needKiB === undefined || needKiB > availKiB) {
        const gib = (kib) => (kib / 1048576).toFixed(1);
        results.set(n, {
          skip:
            needKiB === undefined
              ? `SCALING_OOP_MAX=${OOP_MAX} and no measurement at 100 plugins to estimate the memory; SCALING_OOP_MAX=${n} runs it`
              : `${n} ${tier} plugins would need ≈ ${gib(needKiB)} GiB (PSS at 100 × ${n} × 1.5), ${gib(availKiB)} GiB available; SCALING_OOP_MAX=${n} runs it anyway`,
        });
        continue;
      }
    }
    console.log(`${tier} × ${n}…`);
    try {
      const r = await measure(tier, n, sandbox);
      console.log(`  ${JSON.stringify(r)}`);
      results.set(n, r);
    } catch (e) {
      // A size that fails here (e.g. a plugin's Initialize past its budget on an overloaded machine) is a row with its
      // reason, never a lost report.
      const why = `failed: ${e instanceof Error ? e.message : String(e)}`;
      console.log(`  ${why}`);
      results.set(n, { skip: why });
    }
  }
  for (const n of SIZES.slice(1)) {
    const r = results.get(n);
    const one = results.get(1);
    const ten = results.get(10);
    const why = skipAll ?? r?.skip ?? 'no measurement';
    if (r === undefined || r.skip !== undefined || one === undefined) {
      rows.push(notRun(label('load ms per plugin', n), `${tier}, 1 plugin`, 0.5, why));
      rows.push(notRun(label('dispatch µs per handler', n), `${tier}, 1 plugin`, 0.5, why));
      if (n > 10) rows.push(notRun(label('PSS KiB per plugin', n), `${tier}, 10 plugins`, 0.8, why));
      rows.push(notRun(label('close() ms', n), `budget ${n} ms (1 ms per plugin)`, 1, why));
      rows.push(notRun(label('close() host CPU ms', n), `budget ${n} ms (1 ms per plugin)`, 1, why));
      continue;
    }
    rows.push({
      case: label('load ms per plugin', n),
      ours: f(r.loadMs),
      baseline: f(one.loadMs),
      baselineName: `${tier}, 1 plugin`,
      target: 0.5,
    });
    if (r.dispatchUs === undefined || one.dispatchUs === undefined) {
      const why = r.dispatchError ?? one.dispatchError ?? 'no measurement';
      rows.push(notRun(label('dispatch µs per handler', n), `${tier}, 1 plugin`, 0.5, why));
    } else {
      rows.push({
        case: label('dispatch µs per handler', n),
        ours: f(r.dispatchUs, 3),
        baseline: f(one.dispatchUs, 3),
        baselineName: `${tier}, 1 plugin`,
        target: 0.5,
      });
    }
    if (n > 10 && ten !== undefined) {
      rows.push({
        case: label('PSS KiB per plugin', n),
        ours: f(Math.max(1, r.pssKiB), 0),
        baseline: f(Math.max(1, ten.pssKiB), 0),
        baselineName: `${tier}, 10 plugins`,
        target: 0.8,
      });
    }
    rows.push({
      case: label('close() ms', n),
      ours: f(r.closeMs),
      baseline: n,
      baselineName: `budget ${n} ms (1 ms per plugin)`,
      target: 1,
    });
    rows.push({
      case: label('close() host CPU ms', n),
      ours: f(r.closeCpuMs),
      baseline: n,
      baselineName: `budget ${n} ms (1 ms per plugin)`,
      target: 1,
    });
  }
}
writeReport('scaling', 'per row (see case)', rows);
fs.rmSync(dir, { recursive: true, force: true });
