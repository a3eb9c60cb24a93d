import path from 'node:path';
import { defineConfig } from 'tsup';
import { packageBuild, startupBundle } from '../../tsup.base';

export default defineConfig([
  packageBuild({ shims: true, clean: false, noExternal: ['@plugward/sandbox-common'] }),
  // The launcher: the backend runs it with node (`dist/launcher.cjs`) as the single-threaded step that confines the
  // process and then execs the runtime — on every sandboxed start, so it is a start-up bundle (see startupBundle).
  startupBundle({
    entry: { launcher: 'src/launcher.ts' },
    outDir: 'dist',
    packagesDir: path.resolve(__dirname, '..'),
  }),
]);
