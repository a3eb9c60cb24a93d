import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base';

export default defineConfig([
  packageBuild({ shims: true, clean: false }),
  // The plugin-side runtime: one self-contained ESM file (only koffi stays external: it is a native addon), so a
  // sandbox needs to see just this file and koffi, not the host's node_modules.
  {
    entry: { runtime: 'src/runtime.ts' },
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    clean: false,
    dts: false,
    splitting: false,
    noExternal: [/^(?!koffi(?:\/|$))/],
    external: ['koffi'],
    banner: {
      js: "import { createRequire as __pwCreateRequire } from 'node:module'; const require = __pwCreateRequire(import.meta.url);",
    },
  },
]);
