// Builds build/libhello.so from src/hello.c with the system C compiler (turbo runs this on `pnpm build`).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileNativePlugin } from '@plugward/loader';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = await compileNativePlugin({
  sources: [path.join(root, 'src', 'hello.c')],
  output: path.join(root, 'build', 'libhello.so'),
  flags: ['-Werror'],
});
console.log(`built ${path.relative(root, out)}`);
