import type { AttackDefinition } from '../attack.js';
import { refusedAtLoad } from './verdict.js';

const MiB = 1024 * 1024;
const enc = new TextEncoder();

/** Attacks that make the host hold memory for a plugin through its hook answers. */
export const amplifyAttacks: readonly AttackDefinition[] = [
  {
    id: 'quotas.hook-output-amplification',
    class: 'quotas',
    exclusive: true,
    title: "what a plugin answers from a hook does not make the host hold memory past the plugin's own limit",
    tries:
      'granted one hook, answers every call with the same 15 MiB buffer (cheap for the plugin: one allocation); the host makes 32 calls at once, as a busy host does',
    async run(scene) {
      const name = scene.pluginName('amplify');
      const hook = `kit.amplify.${scene.nonce}`;
      const registry = await scene.start({
        registryOptions: { grants: { plugins: { [name]: { hooks: [{ name: hook }] } } } },
      });
      const { load } = await scene.attack(
        await scene.jsPlugin({
          name,
          prelude: 'const BIG = new Uint8Array(15 * 1024 * 1024).fill(65);',
          hooks: `hooks.register(${JSON.stringify(hook)}, 300, () => BIG);`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      global.gc?.();
      const before = process.memoryUsage().rss;
      let peak = before;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 5);
      const outs = await Promise.all(
        Array.from({ length: 32 }, () =>
          registry.hooks.execute(hook, enc.encode('x')).then(
            (o) => o,
            () => new Uint8Array(),
          ),
        ),
      );
      peak = Math.max(peak, process.memoryUsage().rss);
      clearInterval(timer);
      const held = outs.reduce((n, o) => n + o.length, 0);
      const grew = (peak - before) / MiB;
      // 256 MiB: more than the plugin's own memory limit (its maxHeapBytes + 96 MiB by default) held by the host.
      return {
        escaped: held > 64 * MiB || grew > 256,
        evidence: `32 calls: the host got ${(held / MiB).toFixed(0)} MiB of answers from the plugin, its RSS grew ${grew.toFixed(0)} MiB at peak`,
      };
    },
  },
];
