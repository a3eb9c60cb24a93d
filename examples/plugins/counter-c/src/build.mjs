// Builds build/libcounter.so from src/counter.c with the system C compiler (turbo runs this on `pnpm build`). Without a C
// compiler it says so loudly and builds nothing, so the rest of the workspace (and the demo, which then skips its
// native plugin) still builds.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileNativePlugin } from '@plugward/loader';
import { isPluginError } from '@plugward/types';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
try {
  const out = await compileNativePlugin({
    sources: [path.join(root, 'src', 'counter.c')],
    output: path.join(root, 'build', 'libcounter.so'),
    flags: ['-Werror'],
  });
  console.log(`built ${path.relative(root, out)}`);
} catch (e) {
  if (!isPluginError(e, 'Unsupported')) throw e;
  console.warn(`\n!!! SKIPPED building libcounter.so: ${e.message}\n`);
}
