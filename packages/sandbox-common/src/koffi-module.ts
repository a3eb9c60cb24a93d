import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

type KoffiModule = typeof import('koffi');

let koffi: KoffiModule | undefined;

/**
 * koffi, loaded once: its prebuilt native module straight from the platform package installed beside koffi, else
 * (another layout, a local build, a version mismatch) `require('koffi')`. The first is the same binary koffi's own
 * loader would pick, without that loader: its ELF probe of the node binary, its search of every platform package and
 * its wrappers cost ≈ 6 ms of CPU at every start of a sandbox, whose lockdown needs koffi before anything else runs
 * (issue 17). What the wrappers add (aliases deprecated since koffi 2.x/3.0) is not used here.
 */
export function koffiModule(): KoffiModule {
  koffi ??= prebuiltKoffi() ?? (createRequire(import.meta.url)('koffi') as KoffiModule);
  return koffi;
}

/**
 * {@link koffiModule} for the other Plugward packages. Typed `unknown` on purpose: koffi's own types are ESM-only, and a
 * public declaration naming them breaks this package's CommonJS types (TS1479 for a `require` user); cast it to
 * `typeof import('koffi')` where it is used.
 */
export function requireKoffi(): unknown {
  return koffiModule();
}

/** The prebuilt native module of the koffi Node would resolve from here, when it is installed as a prebuilt. */
function prebuiltKoffi(): KoffiModule | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const installed = installedKoffi(path.dirname(fileURLToPath(import.meta.url)));
    if (installed === undefined) return undefined;
    const real = fs.realpathSync(installed);
    const { version } = JSON.parse(fs.readFileSync(path.join(real, 'package.json'), 'utf8')) as {
      version?: unknown;
    };
    // pnpm keeps the platform package beside koffi's real folder, npm beside the folder found.
    const pkg = `@koromix/koffi-linux-${process.arch}`;
    for (const base of new Set([path.dirname(real), path.dirname(installed)])) {
      for (const libc of ['linux', 'musl']) {
        const file = path.join(base, pkg, `${libc}_${process.arch}`, 'koffi.node');
        if (!fs.existsSync(file)) continue;
        try {
          const native = createRequire(import.meta.url)(file) as KoffiModule & { version?: unknown };
          if (native.version === version) return native;
        } catch {
          // Not loadable here (the other libc): the next candidate, else koffi's own loader.
        }
      }
    }
  } catch {
    // Fall back to koffi's own loader.
  }
  return undefined;
}

/** The `node_modules/koffi` folder Node's resolution would find walking up from `dir`. */
function installedKoffi(dir: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    const candidate = path.join(d, 'node_modules', 'koffi');
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(d) === d) return undefined;
  }
}
