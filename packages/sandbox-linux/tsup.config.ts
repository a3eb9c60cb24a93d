import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base';

// lockdown.ts is a separate entry: the sandbox preloads it with `node --import`. shims give CJS an import.meta.url.
export default defineConfig(
  packageBuild({
    entry: ['src/index.ts', 'src/lockdown.ts'],
    shims: true,
    noExternal: ['@plugward/sandbox-common'],
  }),
);
