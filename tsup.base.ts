import type { Options } from 'tsup';

/** Shared tsup options: ESM + CJS + .d.ts for every package. */
export function packageBuild(overrides: Partial<Options> = {}): Options {
  return {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    splitting: false,
    treeshake: true,
    ...overrides,
  };
}

/**
 * A file a Node process starts with on every plugin start-up (the plugin runtime, the sandbox launcher, the lockdown
 * preload), where start-up time counts (issue 17): one self-contained CommonJS file (Node runs an ES module main
 * through its slower ESM loader; a `--require` preload keeps a CommonJS main on the CommonJS path), bundled from the
 * workspace packages' sources — so unused modules drop out whole and nothing is looked up in packages at start —
 * with only koffi (native) left as a package. `shims` give it an `import.meta.url` (koffi is resolved from it).
 */
export function startupBundle(options: {
  entry: Record<string, string>;
  outDir: string;
  /** The workspace's `packages/` folder (where `@plugward/<name>` sources live). */
  packagesDir: string;
  define?: Record<string, string>;
}): Options {
  return {
    entry: options.entry,
    outDir: options.outDir,
    format: ['cjs'],
    outExtension: () => ({ js: '.cjs' }),
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    clean: false,
    dts: false,
    splitting: false,
    shims: true,
    treeshake: false,
    noExternal: [/^(?!koffi(?:\/|$))/],
    external: ['koffi'],
    ...(options.define === undefined ? {} : { define: options.define }),
    esbuildPlugins: [
      {
        name: 'plugward-sources',
        setup(build) {
          build.onResolve({ filter: /^@plugward\/[a-z-]+$/ }, (args) => ({
            path: `${options.packagesDir}/${args.path.slice('@plugward/'.length)}/src/index.ts`,
          }));
        },
      },
    ],
  };
}
