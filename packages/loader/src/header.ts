import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory holding `plugward.h` (pass it as `-I` to the C compiler). Shipped in the package's `native/`.
 * @example `cc -shared -fPIC -I"$(node -p "require('@plugward/loader').plugwardIncludeDir()")" -o libx.so x.c`
 */
export function plugwardIncludeDir(): string {
  // dist/index.(c)js → ../native; src/header.ts (tests through sources) → ../native as well.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dir = path.resolve(here, '..', 'native');
  if (!existsSync(path.join(dir, 'plugward.h'))) {
    throw new Error(`plugward.h not found in ${dir}`);
  }
  return dir;
}

/** Absolute path of `plugward.h`. */
export function plugwardHeaderPath(): string {
  return path.join(plugwardIncludeDir(), 'plugward.h');
}
