import { defineProject } from 'vitest/config';

/** The vitest project of one package: unit tests beside the code, integration tests in test/. */
export function packageProject(name: string, extra: { testTimeout?: number } = {}) {
  return defineProject({
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: extra.testTimeout ?? 30_000,
      hookTimeout: 60_000,
    },
  });
}
