import fs from 'node:fs';
import path from 'node:path';
import { PluginError } from '@plugward/types';

const VALID_NAME = /^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/i;

/** The `node_modules/<name>` entry Node would find walking up from `fromDir`, or undefined. */
function findInstalled(name: string, fromDir: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/**
 * The paths to bind read-only so that `import(name)` works inside a sandbox the way it does on the host: each package
 * as Node finds it from `fromDir` (pnpm's symlinks are mirrored by the sandbox, the real directories bound) and, in
 * turn, its `dependencies` and installed `optionalDependencies`, resolved from where the package really lives. Pass the
 * result as `SandboxSpawnSpec.readOnlyPaths` for a plugin runtime that lives in a package (e.g. `@plugward/ipc`).
 * Throws `SandboxUnavailable` when a required package is not installed.
 *
 * @example
 * ```ts
 * const readOnlyPaths = [...packageReadOnlyPaths(['@plugward/ipc'], process.cwd()), pluginDir];
 * ```
 */
export function packageReadOnlyPaths(names: readonly string[], fromDir: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, from: string, optional: boolean): void => {
    if (!VALID_NAME.test(name))
      throw new PluginError('InvalidArgument', `invalid package name ${JSON.stringify(name)}`);
    const installed = findInstalled(name, from);
    if (installed === undefined) {
      if (optional) return;
      throw new PluginError('SandboxUnavailable', `package ${name} is not installed (looked from ${from})`);
    }
    out.push(installed);
    const real = fs.realpathSync(installed);
    if (seen.has(real)) return;
    seen.add(real);
    let pkg: { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    try {
      pkg = JSON.parse(fs.readFileSync(path.join(real, 'package.json'), 'utf8')) as typeof pkg;
    } catch (cause) {
      throw new PluginError('SandboxUnavailable', `cannot read ${name}/package.json`, { cause });
    }
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, real, false);
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) visit(dep, real, true);
  };
  for (const name of names) visit(name, fromDir, false);
  return [...new Set(out)];
}
