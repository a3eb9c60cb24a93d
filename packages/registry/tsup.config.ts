import path from 'node:path';
import { defineConfig } from 'tsup';
import { packageBuild, startupBundle } from '../../tsup.base';

export default defineConfig([
  packageBuild({ shims: true, clean: false }),
  // The plugin-side runtime: one self-contained file in a folder of its own (dist/runtime/), so a sandbox sees — and on
  // a root host copies — just this file and koffi, not the host's bundles. Start-up cost decides its shape (issue 17,
  // see startupBundle): the prebuilt dist files of the packages are one module each and pulled in signatures, Argon2
  // and ciphers the runtime never calls; msgpackr's optional native string extractor is off: probing for it
  // (node-gyp-build, detect-libc) costs start-up time on every plugin process, and plugin frames are small.
  startupBundle({
    // start.cjs: the process/sandbox entry that runs runtime.cjs from the host's V8 code cache (runtime-start.ts).
    entry: { runtime: 'src/runtime.ts', start: 'src/runtime-start.ts' },
    outDir: 'dist/runtime',
    packagesDir: path.resolve(__dirname, '..'),
    define: { 'process.env.MSGPACKR_NATIVE_ACCELERATION_DISABLED': '"true"' },
  }),
]);
