import path from 'node:path';
import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base';

const packagesDir = path.resolve(__dirname, '..');

export default defineConfig([
  packageBuild({ shims: true, clean: false }),
  // The plugin-side runtime: one self-contained file in a folder of its own (dist/runtime/), so a sandbox sees — and on
  // a root host copies — just this file and koffi, not the host's bundles. Start-up cost decides its shape (issue 17):
  // - CommonJS: Node loads it without the ESM loader's link phase;
  // - bundled from the workspace packages' sources, so unused modules drop out whole (their `sideEffects: false`);
  //   the prebuilt dist files are one module each and pulled in signatures, Argon2 and ciphers the runtime never calls;
  // - msgpackr's optional native string extractor off: probing for it (node-gyp-build, detect-libc) costs start-up
  //   time on every plugin process, and plugin frames are small.
  {
    entry: { runtime: 'src/runtime.ts' },
    outDir: 'dist/runtime',
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
    define: { 'process.env.MSGPACKR_NATIVE_ACCELERATION_DISABLED': '"true"' },
    esbuildPlugins: [
      {
        name: 'plugward-sources',
        setup(build) {
          build.onResolve({ filter: /^@plugward\/[a-z-]+$/ }, (args) => ({
            path: path.join(packagesDir, args.path.slice('@plugward/'.length), 'src', 'index.ts'),
          }));
        },
      },
    ],
  },
]);
