import fs from 'node:fs';
import path from 'node:path';
import type { MovedPath } from './relocate.js';

/** Where the system lives: the same paths on every host, so they say nothing about this one and keep their place. */
export const SYSTEM_PREFIXES: readonly string[] = [
  '/usr/',
  '/lib/',
  '/lib32/',
  '/lib64/',
  '/bin/',
  '/sbin/',
  '/etc/',
];

/** Whether `p` (absolute, normalised) lies under {@link SYSTEM_PREFIXES}. */
export function isSystemPath(p: string): boolean {
  return SYSTEM_PREFIXES.some((s) => p.startsWith(s));
}

/**
 * Files a package holds that nothing needs at run time (source maps, docs, type declarations, TypeScript and C/C++
 * sources): left out where a backend copies a package into the sandbox's view.
 */
export const NOT_RUNTIME_FILE: RegExp = /\.(map|md|markdown|ts|mts|cts|c|cc|cpp|h|hh|hpp|inc|S|def)$/i;

/** `<…>/node_modules/<name>` or `<…>/node_modules/@scope/<name>`: the package's name, else undefined. */
function installedPackageName(p: string): string | undefined {
  const m = /\/node_modules\/((?:@[^/]+\/)?[^/@][^/]*)$/.exec(p);
  return m?.[1];
}

/**
 * The neutral places of the host paths a sandbox reads (the runtime, its packages, the plugin's copy, the lockdown
 * preload): each under `root`, named by what it is and never by where the host keeps it, so neither `process.argv`,
 * `/proc/self/cmdline`, `/proc/self/maps` nor a stack trace names the host's checkout, folders or pid. An installed
 * package (`…/node_modules/[@scope/]name`) goes to `root/node_modules/[@scope/]name`, where Node's resolution finds it
 * from anything else under `root`; any other path to `root/<n>` (a file keeps its base name: `root/<n>/<base>`).
 * System paths ({@link isSystemPath}) keep their place. The same host path (or its real path) gets one place.
 */
export class NeutralPaths {
  readonly #root: string;
  readonly #byReal = new Map<string, string>();
  readonly #moved: [string, string][] = [];
  #next = 0;

  /** `root`: an absolute folder that exists nowhere on the host side of the sandbox's view (e.g. `/plugward`). */
  constructor(root: string) {
    this.#root = path.normalize(root);
  }

  /** Where `hostPath` (absolute) is inside; the path itself when it is a system path. */
  place(hostPath: string): string {
    const given = path.normalize(hostPath);
    let real: string;
    try {
      real = fs.realpathSync(given);
    } catch {
      real = given;
    }
    if (isSystemPath(real) && isSystemPath(given)) return given;
    let inside = this.#byReal.get(real);
    if (inside === undefined) {
      const name = installedPackageName(given) ?? installedPackageName(real);
      const byName = name === undefined ? undefined : path.join(this.#root, 'node_modules', name);
      if (byName !== undefined && !this.#moved.some(([, i]) => i === byName)) inside = byName;
      else {
        const slot = path.join(this.#root, String(this.#next++));
        inside = isDirectory(real) ? slot : path.join(slot, path.basename(real));
      }
      this.#byReal.set(real, inside);
      this.#moved.push([real, inside]);
    }
    if (given !== real && !this.#moved.some(([h]) => h === given)) this.#moved.push([given, inside]);
    return inside;
  }

  /** Every `[host path, neutral path]` placed so far, longest host path first (for `relocate`). */
  moved(): MovedPath[] {
    return [...this.#moved].sort((a, b) => b[0].length - a[0].length);
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
