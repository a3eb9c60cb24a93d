import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineProject } from 'vitest/config';

// Trust-list rollback floors written by tests go to a scratch directory, not the user's ~/.local/state.
const stateDir = join(tmpdir(), `plugward-test-state-${process.pid}`);

/** The vitest project of one package: unit tests beside the code, integration tests in test/. */
export function packageProject(name: string, extra: { testTimeout?: number } = {}) {
  return defineProject({
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: extra.testTimeout ?? 30_000,
      hookTimeout: 60_000,
      env: { PLUGWARD_STATE_DIR: stateDir },
    },
  });
}
