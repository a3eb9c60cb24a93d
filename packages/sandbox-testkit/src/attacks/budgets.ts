import { DEFAULT_RESOURCE_LIMITS } from '@plugward/types';
import type { AttackDefinition } from '../attack.js';
import { processesMatching } from '../leftovers.js';
import { withTimeout } from '../scene.js';
import { refusedAtLoad } from './verdict.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The per-call budget the attacks below run under (the host's `maxCpuTimeMs`). */
const CALL_BUDGET_MS = 1000;

/** Attacks on what one plugin may cost the host per call and per minute, staying under each single limit. */
export const budgetAttacks: readonly AttackDefinition[] = [
  {
    id: 'cpu.whole-call-under-budget',
    class: 'cpu',
    title: "a plugin's handlers together cannot hold one host call longer than its per-call budget",
    tries: `granted one hook, registers the most handlers it may (4), each answering at 90 % of the ${CALL_BUDGET_MS} ms budget, so one host call waits ≈ 3.6 budgets without a single handler overrunning`,
    async run(scene) {
      const name = scene.pluginName('slowpoke');
      const hook = `kit.slowpoke.${scene.nonce}`;
      const registry = await scene.start({
        registryOptions: {
          hostLimits: { ...DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: CALL_BUDGET_MS },
          grants: { plugins: { [name]: { hooks: [{ name: hook }] } } },
        },
      });
      const skipped: string[] = [];
      registry.on('hook-error', (e) => {
        if (e.name === name) skipped.push(e.error.code);
      });
      const nap = Math.round(CALL_BUDGET_MS * 0.9);
      const { load } = await scene.attack(
        await scene.jsPlugin({
          name,
          hooks: `for (let i = 0; i < 4; i++) hooks.register(${JSON.stringify(hook)}, 300 + i, async (d) => { await sleep(${nap}); return enc(dec(d) + i); });`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      const times: number[] = [];
      const outs: string[] = [];
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        try {
          outs.push(
            dec.decode(
              await withTimeout(registry.hooks.execute(hook, enc.encode(`r${i}`)), 20_000, 'hook call'),
            ),
          );
        } catch (e) {
          outs.push(`ERR:${(e as { code?: string }).code ?? ''}`);
        }
        times.push(Math.round(performance.now() - t0));
      }
      // Slack for a loaded machine (the ending of the call and the scheduling around it: up to 1.8 s past the budget),
      // still well short of what the attack gets when the budget is per handler: 4 × 900 ms.
      const slack = 1800;
      const worst = Math.max(...times);
      return {
        escaped: worst > CALL_BUDGET_MS + slack,
        evidence: `two host calls took ${times.join(' and ')} ms against a ${CALL_BUDGET_MS} ms per-call budget (answers ${outs.map((o) => JSON.stringify(o)).join(', ')}; ${skipped.length} handler failure(s)${skipped.length ? `: ${[...new Set(skipped)].join(', ')}` : ''}); plugin ${registry.getAllPlugins().find((p) => p.name === name)?.status}`,
      };
    },
  },
  {
    id: 'quotas.stdout-line-flood',
    class: 'quotas',
    title: "a plugin's stdout cannot flood the host's log with lines while staying under the byte budget",
    tries:
      "writes 1,000,000 newlines (under the 1 MiB per minute byte budget) to its stdout: a million empty 'stdout:' lines at the host's log",
    async run(scene) {
      const registry = await scene.start();
      const name = scene.pluginName('newlines');
      const { load } = await scene.attack(
        await scene.jsPlugin({
          name,
          init: `await new Promise((r) => process.stdout.write('\\n'.repeat(1_000_000), r)); report('wrote', 1_000_000);`,
        }),
        20_000,
      );
      if (!load.loaded) return refusedAtLoad(load);
      // Let the host's reader drain the pipe.
      let count = -1;
      for (let i = 0; i < 30; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const now = scene.logs.filter(
          (l) => l.plugin.includes(name) && l.message.startsWith('stdout'),
        ).length;
        if (now === count) break;
        count = now;
      }
      const limit = 20_000;
      return {
        escaped: count > limit,
        evidence: `the host's log sink got ${count} stdout lines from the plugin (bound ${limit}); plugin ${registry.getAllPlugins().find((p) => p.name === name)?.status}`,
      };
    },
  },
  {
    id: 'cpu.shutdown-never-returns',
    class: 'cpu',
    title: 'a plugin whose shutdown never returns cannot hold its unload or outlive it',
    tries:
      'disarms process.exit, keeps its event loop busy, and answers Shutdown never (a shutdown() that awaits forever while spinning a timer)',
    async run(scene) {
      const registry = await scene.start();
      const name = scene.pluginName('noshut');
      const { load } = await scene.attack(
        await scene.jsPlugin({
          name,
          init: 'process.exit = () => {}; process.reallyExit = () => {}; setInterval(() => {}, 1000);',
          shutdown: 'await new Promise(() => {});',
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      const t0 = performance.now();
      let outcome = 'resolved';
      await registry.unloadPlugin(name).catch((e: Error & { code?: string }) => {
        outcome = `rejected (${e.code})`;
      });
      const ms = Math.round(performance.now() - t0);
      const alive = processesMatching(scene.nonce).length;
      // The default cleanup budget is 5 s, then 2 s for the exit and 5 s for the kill.
      return {
        escaped: ms > 15_000 || alive > 0,
        evidence: `unloadPlugin ${outcome} after ${ms} ms; ${alive} plugin process(es) alive then; status ${registry.getAllPlugins().find((p) => p.name === name)?.status}`,
      };
    },
  },
];
