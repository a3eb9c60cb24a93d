import fs from 'node:fs';
import { koffiModule } from './koffi-module.js';

type Fn = ((...args: unknown[]) => unknown) & {
  async: (...args: [...unknown[], (err: unknown, result: unknown) => void]) => void;
};

/** `mount(2)`/`umount2(2)` (root hosts: a sandbox's scratch tmpfs, a warm sandbox's folder); errno on failure. */
export interface MountCalls {
  mount(source: string, target: string, type: string, flags: number, data: string): number;
  umountDetach(target: string): number;
  /**
   * {@link MountCalls.umountDetach} on a thread of the pool, off the event loop (a detach waits for the kernel's RCU
   * grace period, milliseconds under load); resolves to its return value.
   */
  umountDetachAsync(target: string): Promise<number>;
  errno(): number;
}

let mountCalls: MountCalls | undefined;

/** Binds `mount`/`umount2` from libc through koffi once. */
export function loadMountCalls(): MountCalls {
  if (mountCalls !== undefined) return mountCalls;
  const koffi = koffiModule();
  const lib = koffi.load('libc.so.6');
  const mount = lib.func(
    'int mount(const char *source, const char *target, const char *type, unsigned long flags, const char *data)',
  ) as Fn;
  const umount2 = lib.func('int umount2(const char *target, int flags)') as Fn;
  const MNT_DETACH = 2;
  mountCalls = {
    mount: (source, target, type, flags, data) => Number(mount(source, target, type, flags, data)),
    umountDetach: (target) => Number(umount2(target, MNT_DETACH)),
    umountDetachAsync: (target) =>
      new Promise((resolve, reject) => {
        umount2.async(target, MNT_DETACH, (err, rc) => (err ? reject(err) : resolve(Number(rc))));
      }),
    errno: () => (koffi.errno as () => number)(),
  };
  return mountCalls;
}

/**
 * Detaches the mount at `target` if `/proc/self/mountinfo` lists one there (a tmpfs a killed host left on a sandbox's
 * scratch or warm folder: its files go with it), so the folder can then be removed. An unreadable mountinfo counts as
 * nothing mounted.
 */
export function unmountIfMounted(target: string): void {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  if (text.includes(` ${target} `)) loadMountCalls().umountDetach(target);
}
