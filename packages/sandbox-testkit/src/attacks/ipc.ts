import fs from 'node:fs';
import path from 'node:path';
import type { AttackDefinition, GoalVerdict } from '../attack.js';
import { cgroupsMatching, processesMatching } from '../leftovers.js';
import type { Scene } from '../scene.js';
import { PROBE_HOOKS, withTimeout } from '../scene.js';
import { refusedAtLoad } from './verdict.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** How long each side of the comparison is measured (idle host, then the host under the flood), ms. */
const WINDOW_MS = 3000;
/**
 * Host CPU the flood may add over the idle window, ms per {@link WINDOW_MS}: ≈ 13 % of a core. Before the host paced
 * plugin requests and ended cancel floods, these floods cost it 600–1900 ms over an idle ≈ 100 ms.
 */
const ALLOWED_EXTRA_MS = 400;

/**
 * Host CPU (ms, this process) over {@link WINDOW_MS} of wall time while the trusted probe is called every 10 ms — the
 * host's own work in both windows, so the difference is what the plugin made it do. Throws if the probe stops
 * answering (the host is not serving).
 */
async function hostCpuMs(scene: Scene): Promise<number> {
  const registry = scene.registry;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < WINDOW_MS) {
    const out = dec.decode(
      await withTimeout(registry.hooks.execute(PROBE_HOOKS.health, enc.encode('f')), 5000, 'health hook'),
    );
    if (out !== 'ok:f') throw new Error(`the trusted probe answered ${JSON.stringify(out.slice(0, 40))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000;
}

/** The CPU time (ms) the cgroups naming `token` used so far (v1 `cpuacct.usage`, v2 `cpu.stat`), NaN if none. */
function cgroupCpuMs(token: string): number {
  for (const dir of cgroupsMatching(token)) {
    try {
      return Number(fs.readFileSync(path.join(dir, 'cpuacct.usage'), 'utf8')) / 1e6;
    } catch {
      // not the v1 cpuacct controller
    }
    try {
      const usec = /^usage_usec (\d+)$/m.exec(fs.readFileSync(path.join(dir, 'cpu.stat'), 'utf8'))?.[1];
      if (usec !== undefined) return Number(usec) / 1000;
    } catch {
      // not a v2 cgroup
    }
  }
  return Number.NaN;
}

/**
 * Measures the host idle (probe only), loads the flooder untrusted, lets it start, and measures the host again over
 * the same window. Contained when the registry ended the plugin (it is no longer Active) or the host's CPU over the
 * flood stays within {@link ALLOWED_EXTRA_MS} of its idle cost.
 */
async function flood(scene: Scene, tag: string, src: { prelude?: string; init: string; shutdown?: string }) {
  const registry = await scene.start();
  const idle = await hostCpuMs(scene);
  const name = scene.pluginName(tag);
  const { load } = await scene.attack(await scene.jsPlugin({ name, ...src }));
  if (!load.loaded) return refusedAtLoad(load);
  await new Promise((r) => setTimeout(r, 500));
  const plugin0 = cgroupCpuMs(scene.nonce);
  const busy = await hostCpuMs(scene);
  const pluginMs = cgroupCpuMs(scene.nonce) - plugin0;
  const info = registry.getPluginInfo(name);
  const ended = info?.status !== 'Active';
  const asked = scene.reports(name).asked;
  const measured = `${asked === undefined ? '' : `${asked} requests answered so far; `}host CPU idle ${Math.round(idle)} ms vs ${Math.round(busy)} ms under the flood (${WINDOW_MS} ms each; the plugin's cgroup used ${Number.isNaN(pluginMs) ? 'n/a' : `${Math.round(pluginMs)} ms`})`;
  return {
    escaped: !ended && busy > idle + ALLOWED_EXTRA_MS,
    evidence: ended
      ? `the plugin was ended (${info?.status}: ${(info?.error ?? '').slice(0, 70)}); ${measured}`
      : `still Active; ${measured}`,
  } satisfies GoalVerdict;
}

/**
 * A flooder writing 1 MiB of cancel frames (10 bytes each: length 6, type Cancel, kind 0, id) of the ids `idOf(i)` on
 * its IPC socket per turn, from shortly after init until shutdown; a partial write continues where it stopped, so
 * frames stay whole on the wire.
 */
function cancelFlooder(idOf: string, before: string) {
  return {
    prelude: `let stop = false;
const frames = Buffer.alloc(100000 * 10);
for (let i = 0; i < 100000; i++) { frames.writeUInt32LE(6, i * 10); frames[i * 10 + 4] = 3; frames[i * 10 + 5] = 0; frames.writeUInt32LE(${idOf}, i * 10 + 6); }
let off = 0;
const pump = () => {
  if (stop) return;
  try { off = (off + fs.writeSync(3, frames, off)) % frames.length; } catch {}
  setImmediate(pump);
};`,
    init: `${before} setTimeout(pump, 100);`,
    shutdown: 'stop = true;',
  };
}

/**
 * The descendant of {@link descendantAfterExit}: once its parent (the plugin) is gone it writes a garbage frame on the
 * inherited fd 3 every 50 ms, so a host still reading that socket ends with a protocol violation, and it lives on
 * (30 s at most) so that the leftover check sees it if nothing ended it.
 */
const DESCENDANT = `const fs = require('node:fs');
const ppid = process.ppid;
const gone = () => { try { process.kill(ppid, 0); return process.ppid !== ppid; } catch { return true; } };
const frame = Buffer.from([16, 0, 0, 0, 0xee, 0xee, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
setInterval(() => { if (gone()) { try { fs.writeSync(3, frame); } catch {} } }, 50);
setTimeout(() => process.exit(0), 30000);`;

/** C of the native variant: the same descendant, made by a raw fork (`SYS_clone` with only SIGCHLD). */
const FORKER_PRELUDE = `#include <pthread.h>
#include <time.h>
static void nap(long ms) { struct timespec t = { ms / 1000, (ms % 1000) * 1000000L }; nanosleep(&t, NULL); }
static void *killer(void *arg) { (void)arg; nap(1000); syscall(SYS_exit_group, 3); return NULL; }`;
const FORKER_ATTACK = `long parent = syscall(SYS_getpid);
  report("pid", "%ld", parent);
  long child = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
  if (child == 0) {
    static const unsigned char frame[] = {16, 0, 0, 0, 0xee, 0xee, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    for (int i = 0; i < 600; i++) {
      if (syscall(SYS_getppid) != parent) syscall(SYS_write, 3, frame, sizeof frame);
      nap(50);
    }
    syscall(SYS_exit_group, 0);
  }
  if (child < 0) report("spawned", "ERR:clone errno %d", errno); else report("spawned", "pid %ld", child);
  pthread_t t;
  pthread_create(&t, NULL, killer, NULL);`;

/**
 * A plugin starts a descendant holding its IPC socket, then is killed: nothing of it may outlive the process the host
 * watches, nor speak for it on the socket afterwards (the host reads that socket for a grace after the exit).
 */
async function descendantAfterExit(
  scene: Scene,
  native: boolean,
  trusted = false,
  tier?: 'process',
): Promise<GoalVerdict> {
  const name = scene.pluginName(`${native ? 'forker' : 'spawner'}${trusted ? 't' : ''}`);
  const opts = trusted ? { trusted: true } : {};
  const file = native
    ? await scene.nativePlugin({ name, prelude: FORKER_PRELUDE, attack: FORKER_ATTACK }, opts)
    : await scene.jsPlugin(
        {
          name,
          init: `const cp = await import('node:child_process');
let child;
try {
  child = cp.spawn(process.execPath, ['-e', ${JSON.stringify(DESCENDANT)}, ${JSON.stringify(scene.nonce)}], { stdio: ['ignore', 'ignore', 'ignore', 3], detached: true });
  child.on('error', (e) => report('spawned', 'ERR:' + errc(e)));
  child.on('spawn', () => report('spawned', 'pid ' + child.pid));
} catch (e) { report('spawned', 'ERR:' + errc(e)); }
report('pid', process.pid);
setTimeout(() => { try { process.kill(process.pid, 'SIGKILL'); } catch {} process.reallyExit(3); }, 1000);`,
        },
        opts,
      );
  const registry = await scene.start(
    tier === undefined ? {} : { registryOptions: { tierOverrides: { [name]: tier } } },
  );
  const { load } = await scene.attack(file, 8000, trusted ? 'trusted' : 'untrusted');
  if (!load.loaded) return refusedAtLoad(load);
  const deadline = Date.now() + 10_000;
  while (registry.getPluginInfo(name)?.status === 'Active' && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  // The descendant writes every 50 ms once its parent is gone: long enough for it to be seen, if it lives.
  await new Promise((r) => setTimeout(r, 1500));
  const info = registry.getPluginInfo(name);
  if (info?.status === 'Active')
    throw new Error(
      `the plugin did not end itself (${scene.reports(name).spawned ?? 'no report'}): nothing to judge`,
    );
  const alive = processesMatching(scene.nonce);
  const spoke = (info?.error ?? '').includes('ProtocolViolation');
  for (const p of alive) {
    try {
      process.kill(Number(p.split(':')[0]), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return {
    escaped: spoke || alive.length > 0,
    evidence: `spawn: ${scene.reports(name).spawned ?? 'no report'} (its pid ${scene.reports(name).pid}); the plugin ended ${info?.status} (${(info?.error ?? '').slice(0, 70)}); ${alive.length} process(es) of it alive 1.5 s later${alive.length ? ` (${alive[0]?.slice(0, 60)})` : ''}`,
  };
}

/**
 * Attacks on the host side of the IPC channel: an untrusted plugin with no grants makes the host work at the rate it
 * writes frames (each runs alone: it measures the host's CPU against an idle window of the same run); a descendant
 * holding the plugin's socket tries to outlive it and speak for it.
 */
export const ipcAttacks: readonly AttackDefinition[] = [
  {
    id: 'ipc.request-flood',
    class: 'ipc',
    title: "a plugin's requests in a loop cost the host a bounded share of a core",
    tries: "200 concurrent loops of `await ctx.has('x')` (refused: not granted) until shutdown",
    exclusive: true,
    run: (scene) =>
      flood(scene, 'reqflood', {
        prelude: 'let stop = false; let asked = 0;',
        init: `const loop = async () => { while (!stop) { try { await ctx.has('x'); } catch {} asked++; } };
for (let i = 0; i < 200; i++) loop();
const tick = setInterval(() => { if (stop) clearInterval(tick); else report('asked', asked); }, 1000);`,
        shutdown: 'stop = true;',
      }),
  },
  {
    id: 'ipc.refusals-past-queue',
    class: 'ipc',
    title: "requests past the host's queue are not refused at whatever rate the plugin sends them",
    tries:
      "keeps 20,000 `ctx.has('x')` in flight at once (past the host's serving slots and queue), again as each batch settles",
    exclusive: true,
    run: (scene) =>
      flood(scene, 'refusals', {
        prelude: 'let stop = false;',
        init: `const loop = async () => { while (!stop) { const all = []; for (let i = 0; i < 20000; i++) all.push(ctx.has('x').catch(() => {})); await Promise.all(all); } };
setTimeout(loop, 100);`,
        shutdown: 'stop = true;',
      }),
  },
  {
    id: 'ipc.cancel-unknown-ids',
    class: 'ipc',
    title: 'cancels of request ids the host never sent are not free work for the host',
    tries: 'writes 1 MiB of cancel frames of ids it never received per turn on its IPC socket',
    exclusive: true,
    run: (scene) => flood(scene, 'cancelx', cancelFlooder('0x7f000000 + i', '')),
  },
  {
    id: 'ipc.cancel-replay',
    class: 'ipc',
    title: 'the cancel of an answered request is accepted once, not replayed for free',
    tries:
      'sends one request (id 1, refused), then writes its cancel over and over (1 MiB of frames per turn) on its IPC socket',
    exclusive: true,
    run: (scene) => flood(scene, 'cancelr', cancelFlooder('1', "try { await ctx.has('x'); } catch {}")),
  },
  {
    id: 'ipc.descendant-after-exit',
    class: 'ipc',
    title: 'nothing a plugin started outlives its process or speaks for it on its socket afterwards',
    tries:
      'spawns a detached descendant holding its IPC socket (fd 3), then kills itself; the descendant writes a bad frame on fd 3 once its parent is gone',
    run: (scene) => descendantAfterExit(scene, false),
  },
  {
    id: 'ipc.descendant-after-exit-native',
    class: 'ipc',
    title: 'nothing a native plugin forks outlives its process or speaks for it on its socket afterwards',
    tries:
      'a .so forks with a raw SYS_clone(SIGCHLD) (the child keeps fd 3), then a thread of it calls SYS_exit_group; the child writes a bad frame on fd 3 once its parent is gone',
    native: true,
    run: (scene) => descendantAfterExit(scene, true),
  },
];
