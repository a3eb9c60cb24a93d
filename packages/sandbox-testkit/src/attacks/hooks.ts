import { DEFAULT_RESOURCE_LIMITS } from '@plugward/types';
import type { AttackDefinition, GoalVerdict } from '../attack.js';
import { PROBE_HOOKS, type Scene } from '../scene.js';
import { hookAnswer } from './hook-answer.js';
import { refusedAtLoad } from './verdict.js';

const enc = new TextEncoder();
const BUDGET_MS = 15_000;

/**
 * Starts the scene, loads an untrusted plugin `name` whose registerHooks calls `hooks.register(hook, registration)`,
 * and returns what the host's call of `hook` with `input` answered — or the verdict when the plugin was refused.
 */
async function answerWithAttacker(
  scene: Scene,
  name: string,
  hook: string,
  registration: string,
  input: string,
): Promise<{ refused: GoalVerdict } | { out: string }> {
  const registry = await scene.start();
  const { load } = await scene.attack(
    await scene.jsPlugin({ name, hooks: `hooks.register(${JSON.stringify(hook)}, ${registration});` }),
  );
  if (!load.loaded) return { refused: refusedAtLoad(load) };
  return { out: await hookAnswer(registry.hooks.execute(hook, enc.encode(input))) };
}

/** Attacks on hook chains the host did not open to the plugin, and on registrations outside the plugin's life. */
export const hookAttacks: readonly AttackDefinition[] = [
  {
    id: 'hooks.ungranted-rewrite',
    class: 'hooks',
    title: 'an untrusted plugin cannot rewrite the result of a hook the host did not open to it',
    tries: `registers on the host's "${PROBE_HOOKS.chain}" after the trusted handler and replaces its result`,
    async run(scene) {
      const r = await answerWithAttacker(
        scene,
        scene.pluginName('rewrite'),
        PROBE_HOOKS.chain,
        "1000, () => enc('rewritten-by-plugin')",
        'request',
      );
      if ('refused' in r) return r.refused;
      const { out } = r;
      return {
        escaped: out !== 'trusted(request)',
        evidence: `the host's chain returned "${out}" (expected "trusted(request)")`,
      };
    },
  },
  {
    id: 'hooks.priority-front',
    class: 'hooks',
    title: 'an untrusted plugin cannot run before trusted handlers to intercept or forge their input',
    tries: `registers on "${PROBE_HOOKS.chain}" at priority -1000000, reads the host's request and forges the trusted handler's input`,
    async run(scene) {
      const name = scene.pluginName('front');
      const r = await answerWithAttacker(
        scene,
        name,
        PROBE_HOOKS.chain,
        "-1000000, (d) => { report('saw', dec(d)); return enc('forged'); }",
        'secret-request',
      );
      if ('refused' in r) return r.refused;
      const { out } = r;
      await scene.waitForReport(name, 'saw', 500);
      const saw = scene.reports(name).saw;
      return {
        escaped: out !== 'trusted(secret-request)' || saw !== undefined,
        evidence: `the chain returned "${out}"; the plugin ${saw === undefined ? 'saw nothing' : `intercepted "${saw}"`}`,
      };
    },
  },
  {
    id: 'hooks.failure-fails-trusted',
    class: 'hooks',
    title: "an untrusted handler's failure does not fail the call for the trusted handlers",
    tries: `registers a throwing handler on "${PROBE_HOOKS.fail}" beside a trusted one`,
    async run(scene) {
      const r = await answerWithAttacker(
        scene,
        scene.pluginName('failer'),
        PROBE_HOOKS.fail,
        "50, () => { throw new Error('untrusted handler fails on purpose'); }",
        'x',
      );
      if ('refused' in r) return r.refused;
      const { out } = r;
      return {
        escaped: out !== 'trusted-ok',
        evidence: `the host's call returned "${out}" (expected "trusted-ok")`,
      };
    },
  },
  {
    id: 'hooks.register-after-unload',
    class: 'hooks',
    title: 'a plugin cannot register hooks once its unload started',
    tries: `registers on "${PROBE_HOOKS.late}" from inside shutdown() and from a hook call still running when the unload starts, then waits for traffic`,
    async run(scene) {
      const registry = await scene.start();
      const name = scene.pluginName('late');
      const slow = `kit.slow.${scene.nonce}`;
      const late = JSON.stringify(PROBE_HOOKS.late);
      const { load } = await scene.attack(
        await scene.jsPlugin({
          name,
          hooks: `hooks.register(${JSON.stringify(slow)}, 100, async (d) => { await sleep(300); try { await HOOKS.register(${late}, 0, () => enc('late-from-hook')); } catch {} return d; });`,
          shutdown: `try { await HOOKS.register(${late}, 0, () => enc('late-from-shutdown')); } catch {}
await sleep(400);`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      // A call is running inside the plugin when the unload starts; both registrations land during the unload.
      const inFlight = hookAnswer(registry.hooks.execute(slow, enc.encode('x')));
      await new Promise((r) => setTimeout(r, 50));
      let unloaded = false;
      const unloading = registry.unloadPlugin(name).then(
        () => {
          unloaded = true;
        },
        () => {
          unloaded = true;
        },
      );
      const seen: string[] = [];
      while (!unloaded) {
        if (registry.hooks.getHooks(PROBE_HOOKS.late).length > 0) {
          const out = await hookAnswer(registry.hooks.execute(PROBE_HOOKS.late, enc.encode('x')));
          if (!seen.includes(out)) seen.push(out);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      await unloading;
      await inFlight;
      await new Promise((r) => setTimeout(r, 200));
      const registered = registry.hooks.getHooks(PROBE_HOOKS.late).length;
      const out = await hookAnswer(registry.hooks.execute(PROBE_HOOKS.late, enc.encode('x')));
      const reached = seen.filter((s) => s !== 'x');
      return {
        escaped: registered > 0 || out !== 'x' || reached.length > 0,
        evidence: `during the unload "${PROBE_HOOKS.late}" answered ${reached.length ? reached.map((r) => `"${r}"`).join(', ') : 'nothing of the plugin'}; after it, ${registered} handler(s) and a call returned "${out}"`,
      };
    },
  },
  {
    id: 'flow-control.log-flood-in-hook',
    class: 'flow-control',
    title:
      'a plugin logging heavily from inside hooks while the host queues many calls does not deadlock the channel',
    tries:
      'a sandboxed plugin (trusted, so hook grants cannot mask the channel) logs 100 lines per call; the host queues 200 calls',
    async run(scene) {
      const name = scene.pluginName('chatty');
      const hook = `kit.chatty.${scene.nonce}`;
      const file = await scene.jsPlugin(
        {
          name,
          hooks: `hooks.register(${JSON.stringify(hook)}, 100, (d) => { for (let i = 0; i < 100; i++) RT.log('debug', 'chatty line ' + i + ' ' + 'x'.repeat(200)); return d; });`,
        },
        { trusted: true, limits: { maxCpuTimeMs: BUDGET_MS } },
      );
      // A long hook budget: the attack is about the channel stalling, not about how fast 20,000 log lines travel.
      const registry = await scene.start({
        registryOptions: {
          tierOverrides: { [name]: 'sandbox' },
          hostLimits: { ...DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: BUDGET_MS },
        },
      });
      try {
        await registry.loadPlugin(file, 'trusted');
      } catch (e) {
        return { escaped: false, evidence: `load refused: ${(e as Error).message.slice(0, 100)}` };
      }
      let firstError = '';
      const t0 = performance.now();
      let lastAnswer = t0;
      const calls = Array.from({ length: 200 }, (_, i) =>
        registry.hooks.execute(hook, enc.encode(String(i))).then(
          () => {
            lastAnswer = performance.now();
            return 'ok';
          },
          (e: Error & { code?: string }) => {
            firstError ||= `${e.code}: ${e.message.slice(0, 80)}`;
            return 'failed';
          },
        ),
      );
      const settled = await Promise.race([
        Promise.all(calls),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), BUDGET_MS + 5000).unref()),
      ]);
      const ms = Math.round(performance.now() - t0);
      if (settled === undefined) {
        return {
          escaped: true,
          evidence: `200 queued calls did not settle within ${(BUDGET_MS + 5000) / 1000} s: the channel deadlocked`,
        };
      }
      const ok = settled.filter((s) => s === 'ok').length;
      // Every call must be answered: a plugin that only logs is not misbehaving, and a channel that stalls until
      // the hook budget kills the plugin is the deadlock this attack is about.
      return {
        escaped: ok < 200,
        evidence: `200 queued calls settled in ${ms} ms: ${ok} answered${ok < 200 ? ` (the last at ${Math.round(lastAnswer - t0)} ms, then none), ${200 - ok} failed (first: ${firstError})` : ''}; plugin ${registry.getAllPlugins().find((p) => p.name === name)?.status}`,
      };
    },
  },
];
