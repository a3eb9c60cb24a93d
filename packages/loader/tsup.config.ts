import { defineConfig } from 'tsup';
import { packageBuild } from '../../tsup.base';

// shims: import.meta.url in the CJS build (plugwardIncludeDir locates native/plugward.h from it).
// es-module-lexer (MIT, ≈40 KB with its wasm) is inlined so the sandboxed runtime needs no extra package.
export default defineConfig(
  packageBuild({ shims: true, external: ['koffi'], noExternal: ['es-module-lexer'] }),
);
