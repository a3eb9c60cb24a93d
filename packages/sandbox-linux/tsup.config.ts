import path from 'node:path';
import { defineConfig } from 'tsup';
import { packageBuild, startupBundle } from '../../tsup.base';

export default defineConfig([
  // lockdown.ts is also an entry of its own: `@plugward/sandbox-linux/lockdown` for `node --require`/`--import`. shims
  // give CJS an import.meta.url.
  packageBuild({
    entry: ['src/index.ts', 'src/lockdown.ts'],
    shims: true,
    clean: false,
    noExternal: ['@plugward/sandbox-common'],
  }),
  // What the strict sandbox preloads (sandbox-preload: the host check, then the lockdown), and the lockdown alone for
  // `--require` by hand, as start-up bundles (see startupBundle) in a folder of its own
  // (dist/lockdown/), so a sandbox sees — and on a root host copies — just this file, koffi and libseccomp, not the
  // package's host-side bundles or @plugward/types.
  startupBundle({
    entry: { lockdown: 'src/lockdown.ts', 'sandbox-preload': 'src/sandbox-preload.ts' },
    outDir: 'dist/lockdown',
    packagesDir: path.resolve(__dirname, '..'),
  }),
]);
