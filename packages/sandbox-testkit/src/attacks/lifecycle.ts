import os from 'node:os';
import type { AttackDefinition, GoalVerdict } from '../attack.js';
import { privateCopiesMatching, processesMatching } from '../leftovers.js';
import type { Scene } from '../scene.js';
import { hookAnswer } from './hook-answer.js';
import { refusedAtLoad } from './verdict.js';

const enc = new TextEncoder();

function victimSource(name: string, who: string, hook: string): string {
  return `export default {
  name: ${JSON.stringify(name)}, version: '1.0.0', author: ${JSON.stringify(who)},
  init() {},
  registerHooks(hooks) { hooks.register(${JSON.stringify(hook)}, 100, () => new TextEncoder().encode(${JSON.stringify(who)})); },
};
`;
}

async function shadowing(scene: Scene, untrustedFirst: boolean): Promise<GoalVerdict> {
  const name = scene.pluginName('victim');
  const hook = `kit.victim.${scene.nonce}`;
  const [trustedFile, impostorFile] = untrustedFirst
    ? ['z-trusted.mjs', 'a-impostor.mjs']
    : ['a-trusted.mjs', 'z-impostor.mjs'];
  await scene.jsFile(victimSource(name, 'trusted', hook), name, {
    trusted: true,
    subdir: 'scan',
    file: trustedFile,
  });
  await scene.jsFile(victimSource(name, 'impostor', hook), name, { subdir: 'scan', file: impostorFile });
  const registry = await scene.start({ scan: 'scan' });
  const discovered = registry.getAllPlugins().find((p) => p.name === name);
  let loadError = '';
  try {
    await registry.loadPluginByName(name);
  } catch (e) {
    loadError = `${(e as { code?: string }).code}: ${(e as Error).message.slice(0, 80)}`;
  }
  const answer = await hookAnswer(registry.hooks.execute(hook, enc.encode('request')));
  const info = registry.getAllPlugins().find((p) => p.name === name);
  const escaped =
    answer === 'impostor' || discovered?.trustLevel !== 'trusted' || info?.trustLevel !== 'trusted';
  return {
    escaped,
    evidence: `scan recorded ${name} as ${discovered?.trustLevel}/${discovered?.status} (${discovered?.path.split('/').pop()}); loadPluginByName ${loadError || 'ok'}; the hook answered "${answer}"`,
  };
}

function protocolAttack(
  id: string,
  title: string,
  tries: string,
  bytes: string,
  waitMs: number,
): AttackDefinition {
  return {
    id,
    class: 'protocol',
    title,
    tries,
    async run(scene) {
      const registry = await scene.start();
      const name = scene.pluginName(id.split('.')[1]!.slice(0, 10));
      // After init: a broken frame during Initialize only fails the load, which proves nothing about a running plugin.
      const { load } = await scene.attack(
        await scene.jsPlugin({
          name,
          // A hostile plugin does not go quietly when the host hangs up: it disarms the runtime's exit and keeps
          // its event loop busy, so only the host ending the process ends it.
          init: `process.exit = () => {}; process.reallyExit = () => {}; process.abort = () => {}; setInterval(() => {}, 1000);
setTimeout(() => { try { fs.writeSync(3, Buffer.from(${bytes})); } catch (e) { report('write', errc(e)); } }, 300);`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      const deadline = Date.now() + waitMs;
      let status = registry.getAllPlugins().find((p) => p.name === name)?.status;
      let procs = processesMatching(scene.nonce);
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        status = registry.getAllPlugins().find((p) => p.name === name)?.status;
        procs = processesMatching(scene.nonce);
        if (status === 'Failed' && procs.length === 0) break;
      }
      const error = registry.getAllPlugins().find((p) => p.name === name)?.error ?? '';
      return {
        escaped: status !== 'Failed' || procs.length > 0,
        evidence: `${(waitMs / 1000).toFixed(0)} s after the bad frame: status ${status}${error ? ` (${error.slice(0, 60)})` : ''}, ${procs.length} plugin process(es) alive`,
      };
    },
  };
}

/** Attacks on identity (names), the IPC protocol, and what a plugin leaves when the host closes. */
export const lifecycleAttacks: readonly AttackDefinition[] = [
  {
    id: 'name-shadowing.untrusted-scanned-last',
    class: 'name-shadowing',
    title: "an untrusted file cannot take a trusted plugin's name (untrusted file scanned last)",
    tries: "puts a stranger-signed file claiming a trusted plugin's name after it in the scanned directory",
    run: (scene) => shadowing(scene, false),
  },
  {
    id: 'name-shadowing.untrusted-scanned-first',
    class: 'name-shadowing',
    title: "an untrusted file cannot take a trusted plugin's name (untrusted file scanned first)",
    tries: "puts a stranger-signed file claiming a trusted plugin's name before it in the scanned directory",
    run: (scene) => shadowing(scene, true),
  },
  {
    id: 'name-shadowing.untrusted-loaded-directly',
    class: 'name-shadowing',
    title: "an untrusted plugin loaded by path cannot take a discovered trusted plugin's name",
    tries:
      "the host scanned a directory holding a trusted plugin; a stranger's file with the same name is loaded untrusted by path before it",
    async run(scene) {
      const name = scene.pluginName('victim');
      const hook = `kit.victim.${scene.nonce}`;
      await scene.jsFile(victimSource(name, 'trusted', hook), name, {
        trusted: true,
        subdir: 'scan',
        file: 'trusted.mjs',
      });
      const impostor = await scene.jsFile(victimSource(name, 'impostor', hook), name, {
        file: 'impostor.mjs',
      });
      const registry = await scene.start({ scan: 'scan' });
      const direct = await scene.loadUntrusted(impostor);
      let byName = 'ok';
      try {
        await registry.loadPluginByName(name);
      } catch (e) {
        byName = `${(e as { code?: string }).code}`;
      }
      const answer = await hookAnswer(registry.hooks.execute(hook, enc.encode('request')));
      const info = registry.getAllPlugins().find((p) => p.name === name);
      return {
        escaped: direct.loaded || answer === 'impostor' || info?.trustLevel !== 'trusted',
        evidence: `the impostor's load ${direct.loaded ? 'succeeded' : `was refused (${direct.error.code})`}; then loadPluginByName ${byName}; ${name} is ${info?.trustLevel}/${info?.status}; the hook answered "${answer}"`,
      };
    },
  },
  protocolAttack(
    'protocol.oversize-frame',
    'an oversize length prefix ends the plugin process and marks it Failed',
    'writes a 2 GiB length prefix on its IPC socket after init',
    '[0xf0, 0xff, 0xff, 0x7f, 1, 2, 3, 4]',
    6000,
  ),
  protocolAttack(
    'protocol.garbage-frame',
    'a garbage frame ends the plugin process and marks it Failed',
    'writes a frame of unknown type and kind with a random payload on its IPC socket',
    '[16, 0, 0, 0, 0xee, 0xee, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]',
    6000,
  ),
  protocolAttack(
    'protocol.stalled-frame',
    'a stalled half frame ends the plugin process and marks it Failed',
    'writes a length prefix of 100 bytes and 10 bytes of it, then nothing',
    '[100, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 2, 3, 4]',
    12_000,
  ),
  {
    id: 'cleanup.private-copies',
    class: 'cleanup',
    title:
      'unloadPlugin() and registry.close() resolve only after the private copies under /tmp/plugward-* are gone',
    tries:
      'two plugins are loaded untrusted; the host unloads one, then closes the registry, and looks for their private copies at once each time',
    async run(scene) {
      const registry = await scene.start();
      const first = scene.pluginName('copya');
      const second = scene.pluginName('copyb');
      const a = await scene.attack(await scene.jsPlugin({ name: first }));
      if (!a.load.loaded) return refusedAtLoad(a.load);
      const b = await scene.attack(await scene.jsPlugin({ name: second }));
      if (!b.load.loaded) return refusedAtLoad(b.load);
      await registry.unloadPlugin(first);
      const afterUnload = privateCopiesMatching(first, os.tmpdir());
      // This attack closes the registry itself: the host's health is judged just before.
      scene.healthBeforeClose = await scene.checkHealth();
      await registry.close();
      const afterClose = privateCopiesMatching(second, os.tmpdir());
      const problems = [
        afterUnload.length ? `still there when unloadPlugin() resolved: ${afterUnload.join(', ')}` : '',
        afterClose.length ? `still there when close() resolved: ${afterClose.join(', ')}` : '',
      ].filter(Boolean);
      return {
        escaped: problems.length > 0,
        evidence: problems.length
          ? problems.join('; ')
          : 'no private copy left when unloadPlugin() or close() resolved',
      };
    },
  },
];
