// HookRegistry vs tapable (AsyncSeriesWaterfallHook) and hookable (callHook): the same identity handlers, chains of
// 1/10/100, sync and async, each execution awaited; then registering/unregistering 10k handlers.
// Times are ns per execution (lower is better); each case keeps the best of several interleaved rounds so that GC and
// JIT noise hit every library alike.
import { HookPriority, HookRegistry } from '@plugward/hooks';
import { createHooks } from 'hookable';
import tapable from 'tapable';
import { writeReport } from './report.mjs';

const { AsyncSeriesWaterfallHook } = tapable;
const EXECUTIONS = Number(process.env.HOOKS_BENCH_EXECUTIONS ?? 100_000);
const ROUNDS = 5;
const payload = new Uint8Array([1, 2, 3, 4]);

const syncHandler = (d) => d;
const asyncHandler = async (d) => d;

function ours(n, async) {
  const reg = new HookRegistry();
  for (let i = 0; i < n; i++) reg.register('h', HookPriority.Normal, async ? asyncHandler : syncHandler);
  return () => reg.execute('h', payload);
}

function tap(n, async) {
  const hook = new AsyncSeriesWaterfallHook(['data']);
  for (let i = 0; i < n; i++) {
    if (async) hook.tapPromise(`p${i}`, asyncHandler);
    else hook.tap(`p${i}`, syncHandler);
  }
  return () => hook.promise(payload);
}

function hookable(n, async) {
  const hooks = createHooks();
  for (let i = 0; i < n; i++) hooks.hook('h', async ? asyncHandler : syncHandler);
  return () => hooks.callHook('h', payload);
}

async function time(run, count) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await run();
  return Number(process.hrtime.bigint() - start) / count;
}

async function measure(factories, n, async) {
  const runs = factories.map((f) => f(n, async));
  // Executions per round: at least EXECUTIONS in total per library, fewer per round for long chains.
  const perRound = Math.ceil(EXECUTIONS / ROUNDS);
  for (const run of runs) await time(run, Math.min(20_000, perRound)); // warm-up
  const best = runs.map(() => Number.POSITIVE_INFINITY);
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < runs.length; k++) {
      globalThis.gc?.();
      best[k] = Math.min(best[k], await time(runs[k], perRound));
    }
  }
  return best;
}

// Sanity: every library really runs the chain (a waterfall of identity handlers returns the payload).
for (const f of [ours, tap, hookable]) {
  for (const a of [false, true]) {
    const out = await f(3, a)();
    if (f !== hookable && out !== payload) throw new Error(`${f.name} did not return the payload`);
  }
}

const rows = [];
for (const async of [false, true]) {
  for (const n of [1, 10, 100]) {
    const [o, t, h] = await measure([ours, tap, hookable], n, async);
    const label = `${n} ${async ? 'async' : 'sync'} handler${n > 1 ? 's' : ''}`;
    rows.push({
      case: `${label} vs tapable`,
      ours: Math.round(o),
      baseline: Math.round(t),
      baselineName: 'tapable',
      target: 1,
    });
    rows.push({
      case: `${label} vs hookable`,
      ours: Math.round(o),
      baseline: Math.round(h),
      baselineName: 'hookable',
      target: 1,
    });
  }
}

// Registration: 10k handlers with spread priorities (so inserts land mid-list), then each unregistered.
const COUNT = 10_000;
const priorities = Array.from({ length: COUNT }, (_, i) => (i * 7919) % 500);
const order = Array.from({ length: COUNT }, (_, i) => (i * 4099) % COUNT); // a fixed permutation (4099 ⟂ 10000)

function regOurs(count) {
  const reg = new HookRegistry();
  const start = process.hrtime.bigint();
  const handles = [];
  for (let i = 0; i < count; i++) handles.push(reg.register('h', priorities[i % COUNT], syncHandler));
  const mid = process.hrtime.bigint();
  for (let i = 0; i < count; i++) handles[order[i] % count]?.unregister();
  const end = process.hrtime.bigint();
  return { register: Number(mid - start), unregister: Number(end - mid), left: reg.count() };
}
function regTapable(count) {
  const hook = new AsyncSeriesWaterfallHook(['data']);
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) hook.tap({ name: `p${i}`, stage: priorities[i % COUNT] }, syncHandler);
  return { register: Number(process.hrtime.bigint() - start) };
}
function regHookable(count) {
  const hooks = createHooks();
  const fns = Array.from({ length: count }, () => (d) => d);
  const start = process.hrtime.bigint();
  const handles = [];
  for (let i = 0; i < count; i++) handles.push(hooks.hook('h', fns[i]));
  const mid = process.hrtime.bigint();
  for (let i = 0; i < count; i++) handles[order[i] % count]?.();
  const end = process.hrtime.bigint();
  return { register: Number(mid - start), unregister: Number(end - mid) };
}
function bestOf(fn, count, key) {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 7; r++) best = Math.min(best, fn(count)[key]);
  return best;
}
const check = regOurs(COUNT);
if (check.left !== 0) throw new Error(`unregister left ${check.left} handlers`);
const regO = bestOf(regOurs, COUNT, 'register');
const unregO = bestOf(regOurs, COUNT, 'unregister');
rows.push({
  case: 'register 10k (spread priorities) vs tapable',
  ours: Math.round(regO / COUNT),
  baseline: Math.round(bestOf(regTapable, COUNT, 'register') / COUNT),
  baselineName: 'tapable',
  target: 1,
});
rows.push({
  case: 'register 10k vs hookable',
  ours: Math.round(regO / COUNT),
  baseline: Math.round(bestOf(regHookable, COUNT, 'register') / COUNT),
  baselineName: 'hookable',
  target: 1,
});
rows.push({
  case: 'unregister 10k vs hookable',
  ours: Math.round(unregO / COUNT),
  baseline: Math.round(bestOf(regHookable, COUNT, 'unregister') / COUNT),
  baselineName: 'hookable',
  target: 1,
});
// Linearity: per-handler cost at 10k against 1k (1.0 = perfectly linear; a quadratic structure would give ~0.1).
const per1k = (bestOf(regOurs, 1_000, 'register') + bestOf(regOurs, 1_000, 'unregister')) / 1_000;
const per10k = (regO + unregO) / COUNT;
rows.push({
  case: 'register+unregister per handler: 10k vs 1k (linearity)',
  ours: Math.round(per10k),
  baseline: Math.round(per1k),
  baselineName: 'ours at 1k',
  target: 0.5,
});

writeReport('hooks', 'ns per operation', rows);
