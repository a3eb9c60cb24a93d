import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base';

// Two entries: the kit itself, and the vitest helper (the only file that imports vitest, an optional peer).
export default defineConfig(
  packageBuild({ entry: ['src/index.ts', 'src/vitest.ts'], external: ['vitest'], shims: true }),
);
