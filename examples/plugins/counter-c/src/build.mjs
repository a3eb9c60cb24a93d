// Builds build/libcounter.so from src/counter.c with the system C compiler (turbo runs this on `pnpm build`).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileNativePlugin } from '@plugward/loader';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = await compileNativePlugin({
  sources: [path.join(root, 'src', 'counter.c')],
  output: path.join(root, 'build', 'libcounter.so'),
  flags: ['-Werror'],
});
console.log(`built ${path.relative(root, out)}`);
