import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineProject } from 'vitest/config';

// Trust-list rollback floors written by tests go to a scratch directory, not the user's ~/.local/state.
// It is this run's (named by the pid of the process that read the config) and goes when that process exits.
const stateDir = join(tmpdir(), `plugward-test-state-${process.pid}`);
process.once('exit', () => rmSync(stateDir, { recursive: true, force: true }));
// Likewise the plugin runtime's code cache (registry): this run's, made once by the global setup before any test.
const cacheDir = join(tmpdir(), `plugward-test-cache-${process.pid}`);
process.env.XDG_CACHE_HOME = cacheDir;
process.once('exit', () => rmSync(cacheDir, { recursive: true, force: true }));
const codeCacheSetup = fileURLToPath(new URL('./scripts/code-cache-setup.mjs', import.meta.url));

/**
 * The vitest project of one package: unit tests beside the code, integration tests in test/. `typecheck: true` also
 * type-checks its `src/**\/*.test-d.ts` files (`expectTypeOf` tests of its public generic types; one tsc run).
 */
export function packageProject(name: string, extra: { testTimeout?: number; typecheck?: boolean } = {}) {
  return defineProject({
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      ...(extra.typecheck === true
        ? { typecheck: { enabled: true, include: ['src/**/*.test-d.ts'], tsconfig: './tsconfig.json' } }
        : {}),
      testTimeout: extra.testTimeout ?? 30_000,
      hookTimeout: 60_000,
      globalSetup: [codeCacheSetup],
      env: { PLUGWARD_STATE_DIR: stateDir, XDG_CACHE_HOME: cacheDir },
    },
  });
}
