import { builtinModules } from 'node:module';
import { PluginError } from '@plugward/types';
import { init, parse } from 'es-module-lexer';

const BUILTINS = new Set(builtinModules);

/** How to make a single-file bundle, quoted in the error. */
export const BUNDLE_HINT =
  'bundle the plugin into one file first, e.g. `npx esbuild src/index.ts --bundle --platform=node --format=esm --outfile=plugin.mjs` or tsup with `noExternal: [/.*/]`';

/**
 * Refuses a JS plugin whose module imports anything but Node built-ins. The verified bytes are imported from a private
 * copy in a temp directory, so every other specifier would resolve *from there*: a bare `lodash` walks up to
 * `/tmp/node_modules` (which any local user can create), `../x.mjs` reaches the temp directory itself. A plugin must
 * be one self-contained bundle; a computed `import(expr)` can't be checked and is refused too.
 * @throws PluginError `UnbundledImport` (details.specifier), `LoadError` when the source does not lex as a module.
 */
export async function assertSelfContained(source: Uint8Array, plugin: string): Promise<void> {
  await init;
  let imports: ReturnType<typeof parse>[0];
  try {
    [imports] = parse(new TextDecoder('utf-8', { fatal: false }).decode(source), `${plugin}.mjs`);
  } catch (e) {
    // Not lexable means not importable either: fail as the import would, without running anything.
    throw new PluginError(
      'LoadError',
      `cannot import JS plugin ${plugin}: not a valid ES module (${(e as Error)?.message ?? String(e)})`,
      { plugin, cause: e },
    );
  }
  for (const imp of imports) {
    if (imp.d === -2) continue; // import.meta
    const specifier = imp.n;
    if (specifier !== undefined && isBuiltin(specifier)) continue;
    const shown = specifier === undefined ? 'a computed import()' : JSON.stringify(specifier.slice(0, 200));
    throw new PluginError(
      'UnbundledImport',
      `JS plugin ${plugin} imports ${shown}, which is not bundled: it would be resolved from the loader's temp directory (e.g. /tmp/node_modules). Only node: built-ins may be imported; ${BUNDLE_HINT}`,
      { plugin, details: { specifier: specifier ?? null } },
    );
  }
}

function isBuiltin(specifier: string): boolean {
  if (specifier.startsWith('node:')) return BUILTINS.has(specifier.slice(5)) || BUILTINS.has(specifier);
  return BUILTINS.has(specifier);
}
