import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base';

// launcher.ts is a separate entry: the backend runs it with node as the single-threaded step that confines the
// process and then execs the runtime. shims give CJS an import.meta.url.
export default defineConfig(
  packageBuild({
    entry: ['src/index.ts', 'src/launcher.ts'],
    shims: true,
    noExternal: ['@plugward/sandbox-common'],
  }),
);
